//! The IDX reader on generated files, through the crate API and through `mnist`.

mod common;

use common::{assert_one_line_error, mnist};
use flate2::{write::GzEncoder, Compression};
use mnist_helpers::data::{load_mnist, load_split, FILE_NAMES};
use mnist_helpers::idx::{encode_idx, read_idx};
use std::io::Write;
use std::path::{Path, PathBuf};

fn images(n: usize) -> Vec<u8> {
    encode_idx(
        &[n, 28, 28],
        &(0..n * 784).map(|i| (i % 256) as u8).collect::<Vec<_>>(),
    )
}

fn labels(values: &[u8]) -> Vec<u8> {
    encode_idx(&[values.len()], values)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A data directory with the four standard files: train (n_train images), test (2 images).
fn write_dir(dir: &Path, train_images: Vec<u8>, train_labels: Vec<u8>, gz: bool) -> PathBuf {
    let contents = [train_images, train_labels, images(2), labels(&[3, 4])];
    for (name, bytes) in FILE_NAMES.iter().zip(contents) {
        let (name, bytes) = if gz {
            (format!("{name}.gz"), gzip(&bytes))
        } else {
            (name.to_string(), bytes)
        };
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir.to_path_buf()
}

/// Expects `load_mnist` and `mnist verify`-style loading (`mnist train`) to fail naming `needle`.
fn expect_failure(dir: &Path, needle: &str) {
    let err = format!("{:#}", load_mnist(dir).unwrap_err());
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    let out = mnist(&[
        "train",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, needle);
}

#[test]
fn good_raw_and_gzip_files_load_alike() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let raw = load_mnist(&write_dir(
        a.path(),
        images(5),
        labels(&[0, 1, 2, 3, 9]),
        false,
    ))
    .unwrap();
    let gz = load_mnist(&write_dir(
        b.path(),
        images(5),
        labels(&[0, 1, 2, 3, 9]),
        true,
    ))
    .unwrap();
    assert_eq!(raw.train.images.size(), vec![5, 1, 28, 28]);
    assert!(raw.train.images.equal(&gz.train.images));
    assert!(raw.train.labels.equal(&gz.train.labels));
    assert_eq!(gz.test.label(1).unwrap(), 4);
}

#[test]
fn truncated_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut short = images(5);
    short.truncate(short.len() - 100);
    expect_failure(
        &write_dir(dir.path(), short, labels(&[0; 5]), false),
        "train-images-idx3-ubyte",
    );
    let err = format!(
        "{:#}",
        read_idx(&dir.path().join(FILE_NAMES[0])).unwrap_err()
    );
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn wrong_magic_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = labels(&[0; 5]);
    bad[2] = 0x0d;
    expect_failure(
        &write_dir(dir.path(), images(5), bad, false),
        "wrong magic number",
    );
}

#[test]
fn count_mismatch_is_named() {
    let dir = tempfile::tempdir().unwrap();
    expect_failure(
        &write_dir(dir.path(), images(5), labels(&[0; 4]), false),
        "holds 5 images but",
    );
}

#[test]
fn label_out_of_range_is_named() {
    let dir = tempfile::tempdir().unwrap();
    expect_failure(
        &write_dir(dir.path(), images(3), labels(&[0, 12, 1]), false),
        "label 12 at index 1",
    );
}

#[test]
fn wrong_image_dimensions_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let odd = encode_idx(&[2, 32, 32], &vec![0; 2 * 32 * 32]);
    expect_failure(
        &write_dir(dir.path(), odd, labels(&[0, 1]), false),
        "[n, 28, 28]",
    );
}

#[test]
fn corrupt_gzip_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), images(5), labels(&[0; 5]), true);
    let path = dir.path().join(format!("{}.gz", FILE_NAMES[1]));
    let gz = std::fs::read(&path).unwrap();
    std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
    expect_failure(dir.path(), "corrupt or truncated gzip");
}

#[test]
fn missing_directory_and_file_are_named() {
    let dir = tempfile::tempdir().unwrap();
    expect_failure(&dir.path().join("nope"), "no such data directory");
    write_dir(dir.path(), images(2), labels(&[0, 1]), false);
    std::fs::remove_file(dir.path().join(FILE_NAMES[3])).unwrap();
    expect_failure(dir.path(), "t10k-labels-idx1-ubyte: missing");
}

#[test]
fn directory_in_place_of_a_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("labels");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(dir.path().join("x"), images(2)).unwrap();
    let err = format!("{:#}", load_split(&dir.path().join("x"), &d).unwrap_err());
    assert!(err.contains("labels: is a directory"), "{err}");
}
