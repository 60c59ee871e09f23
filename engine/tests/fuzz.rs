//! Property tests with many generated cases (a nightly-free stand-in for cargo fuzz): the IDX
//! reader and the PNG path of `predict` never panic, whatever bytes they get, and what they accept
//! is consistent. `MNIST_FUZZ_SECONDS=N` runs each for N seconds instead of a fixed case count
//! (`./scripts/fuzz.sh`).

use flate2::{write::GzEncoder, Compression};
use mnist_engine::digit::{decode_png_gray, to_mnist_layout};
use mnist_helpers::idx::{encode_idx, gunzip_if_gzip, parse_idx};
use mnist_helpers::png::encode_rgb_png;
use mnist_helpers::rng::SplitMix64;
use std::io::Write;
use std::time::{Duration, Instant};

/// Cases per property in the test command.
const DEFAULT_CASES: u64 = 20_000;

/// Runs `case` with fresh seeds until the case count or the time budget is reached.
fn run_cases(name: &str, mut case: impl FnMut(&mut SplitMix64)) {
    let seconds: Option<u64> = std::env::var("MNIST_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let start = Instant::now();
    let mut n = 0u64;
    while seconds.map_or(n < DEFAULT_CASES, |s| {
        start.elapsed() < Duration::from_secs(s)
    }) {
        case(&mut SplitMix64::new(n));
        n += 1;
    }
    println!(
        "{name}: {n} cases in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// One random damage: truncation, byte flips, header rewrites, garbage appended.
fn mutate(bytes: &mut Vec<u8>, rng: &mut SplitMix64) {
    match rng.below(5) {
        0 => bytes.truncate(rng.below(bytes.len() + 1)),
        1 => {
            for _ in 0..=rng.below(8) {
                let i = rng.below(bytes.len().max(1));
                if let Some(b) = bytes.get_mut(i) {
                    *b = rng.next_u64() as u8;
                }
            }
        }
        2 => {
            let i = rng.below(bytes.len().clamp(1, 16));
            if let Some(b) = bytes.get_mut(i) {
                *b = rng.next_u64() as u8;
            }
        }
        3 => bytes.extend((0..rng.below(64)).map(|_| rng.next_u64() as u8)),
        _ => *bytes = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
    }
}

#[test]
fn idx_reader_survives_damaged_input() {
    let images = encode_idx(&[3, 28, 28], &vec![7; 3 * 784]);
    let labels = encode_idx(&[3], &[1, 2, 3]);
    run_cases("idx", |rng| {
        let mut bytes = if rng.below(2) == 0 {
            images.clone()
        } else {
            labels.clone()
        };
        mutate(&mut bytes, rng);
        if rng.below(3) == 0 {
            bytes = gzip(&bytes);
            if rng.below(2) == 0 {
                mutate(&mut bytes, rng);
            }
        }
        if let Ok(arr) = gunzip_if_gzip(bytes).and_then(|b| parse_idx(&b)) {
            assert_eq!(arr.dims.iter().product::<usize>(), arr.data().len());
        }
    });
}

#[test]
fn png_path_survives_damaged_input() {
    let rgb: Vec<u8> = (0..40 * 30 * 3)
        .map(|i| if (i / 3) % 40 > 20 { 0 } else { 255 })
        .collect();
    let png = encode_rgb_png(40, 30, &rgb).unwrap();
    run_cases("png", |rng| {
        let mut bytes = png.clone();
        mutate(&mut bytes, rng);
        if let Ok(image) = decode_png_gray(&bytes) {
            assert_eq!(image.pixels.len(), image.width * image.height);
            if !image.pixels.is_empty() {
                let digit = to_mnist_layout(&image);
                assert_eq!(digit.len(), 784);
                assert!(digit.iter().all(|v| v.is_finite()));
            }
        }
    });
}

/// Regression: a gzip stream that expands without limit is refused, not allocated.
#[test]
fn gzip_bomb_is_refused() {
    let bomb = gzip(&vec![0u8; (mnist_helpers::idx::MAX_GUNZIPPED + 1) as usize]);
    let err = gunzip_if_gzip(bomb).unwrap_err().to_string();
    assert!(err.contains("expands beyond"), "{err}");
}
