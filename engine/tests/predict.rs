//! `mnist predict` on PNGs made from real test digits: scaled, inverted, in colour; bad files fail.

mod common;

use common::{assert_one_line_error, mnist, real_mnist};
use mnist_engine::trainer::fit;
use mnist_engine::weights::save_network;
use mnist_engine::{ModelKind, Network, Recipe};
use mnist_helpers::png::encode_rgb_png;
use std::path::Path;

/// A digit as a `scale`x larger RGB PNG, black ink on white paper (how people draw digits).
fn digit_png(pixels: &[f32], scale: usize, path: &Path) {
    let side = 28 * scale;
    let mut rgb = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        for x in 0..side {
            let ink = pixels[(y / scale) * 28 + x / scale];
            let v = (255.0 * (1.0 - ink)) as u8;
            rgb.extend_from_slice(&[v, v, (v as f32 * 0.9) as u8]);
        }
    }
    std::fs::write(
        path,
        encode_rgb_png(side as u32, side as u32, &rgb).unwrap(),
    )
    .unwrap();
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn predicts_drawn_digits_and_rejects_bad_files() {
    let data = real_mnist();
    let mut cfg = Recipe::for_model(ModelKind::Mlp);
    cfg.train.epochs = 2;
    let mut net = Network::seeded(cfg.model, tch::Device::Cpu, cfg.train.seed);
    fit(
        &mut net,
        &data.train.head(10_000),
        &data.test.head(500),
        &cfg,
        &mut (),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("mlp.safetensors");
    save_network(&net, &weights).unwrap();

    let mut args = vec![
        "predict".to_string(),
        "--weights".into(),
        weights.display().to_string(),
    ];
    let indices: Vec<usize> = (0..20).collect();
    for &i in &indices {
        let path = dir.path().join(format!("digit{i}.png"));
        digit_png(&data.test.pixels(i).unwrap(), 4, &path);
        args.push(path.display().to_string());
    }
    let out = mnist(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let right = stdout
        .lines()
        .zip(&indices)
        .filter(|(line, &i)| {
            line.split(": ").nth(1).and_then(|s| s.split(' ').next())
                == Some(&data.test.label(i).unwrap().to_string())
        })
        .count();
    assert!(
        right >= 16,
        "only {right} of 20 drawn digits recognised:\n{stdout}"
    );

    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"GIF89a not a png").unwrap();
    let w = weights.display().to_string();
    let out = mnist(&["predict", "--weights", &w, bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one line for the image, one summary: {stderr}"
    );
    assert!(
        lines[0].contains("bad.png") && lines[0].contains("not a valid PNG"),
        "{stderr}"
    );
    assert!(
        lines[1].contains("1 of 1 images could not be read"),
        "{stderr}"
    );
    assert_one_line_error(
        &mnist(&["predict", "--weights", &w]),
        "at least one IMAGE.png",
    );
}

/// A PNG file of `bytes`, or of a real encoding with patched header fields.
mod pngs {
    use flate2::Crc;

    /// An 8x8 16-bit grayscale PNG: a bright square on black.
    pub fn sixteen_bit() -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 8, 8);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Sixteen);
        let mut w = enc.write_header().unwrap();
        let data: Vec<u8> = (0..64)
            .flat_map(|i| {
                if (2..6).contains(&(i % 8)) && (2..6).contains(&(i / 8)) {
                    [0xff, 0xff]
                } else {
                    [0, 0]
                }
            })
            .collect();
        w.write_image_data(&data).unwrap();
        w.finish().unwrap();
        out
    }

    /// A valid PNG whose header claims `side` x `side` pixels (CRC fixed, data left small).
    pub fn claiming_size(side: u32) -> Vec<u8> {
        let mut bytes = sixteen_bit();
        // IHDR data starts after the 8-byte signature, 4-byte length and 4-byte type.
        bytes[16..20].copy_from_slice(&side.to_be_bytes());
        bytes[20..24].copy_from_slice(&side.to_be_bytes());
        let mut crc = Crc::new();
        crc.update(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.sum().to_be_bytes());
        bytes
    }
}

#[test]
fn png_inputs_sixteen_bit_works_huge_corrupt_and_foreign_fail_clearly() {
    use mnist_engine::digit::load_digit_png;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let digit = load_digit_png(&write("16bit.png", &pngs::sixteen_bit())).unwrap();
    assert_eq!(digit.size(), vec![1, 1, 28, 28]);
    let cases = [
        (
            write("huge.png", &pngs::claiming_size(60_000)),
            "image too large",
        ),
        (
            write("cut.png", &pngs::sixteen_bit()[..40]),
            "not a valid PNG",
        ),
        (write("text.png", b"just some text"), "not a valid PNG"),
        (write("empty.png", b""), "not a valid PNG"),
        (dir.path().join("missing.png"), "cannot read"),
        (dir.path().to_path_buf(), "cannot read"),
    ];
    for (path, needle) in cases {
        let err = format!("{:#}", load_digit_png(&path).unwrap_err());
        assert!(
            err.contains(needle) && err.contains(&path.display().to_string()),
            "{err:?} should name the file and say {needle:?}"
        );
    }
}
