//! The well-known MD5s of MNIST's four files, and checking a data folder against them.

use crate::data::{find_file, FILE_NAMES};
use crate::idx::read_maybe_gz;
use anyhow::{bail, Result};
use md5::{Digest, Md5};
use std::path::{Path, PathBuf};

/// The MD5s of the uncompressed files in md5sum's format (`MD5  NAME` lines): the project's one
/// list, which scripts/fetch_data.py reads too, and `md5sum -c` can check a folder against.
pub const MD5_SUMS: &str = include_str!("mnist.md5");

/// The (file name, MD5) pairs of [`MD5_SUMS`], in its order.
pub fn expected_md5s() -> impl Iterator<Item = (&'static str, &'static str)> {
    MD5_SUMS.lines().filter_map(|line| {
        let (md5, name) = line.split_once(char::is_whitespace)?;
        Some((name.trim().trim_start_matches('*'), md5))
    })
}

/// The hex MD5 of some bytes.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The expected MD5 of a standard file name.
pub fn expected_md5(name: &str) -> Option<&'static str> {
    expected_md5s()
        .find(|(n, _)| *n == name)
        .map(|(_, md5)| md5)
}

/// Checks the four files in `dir` (raw or `.gz`) against their MD5s; returns their paths.
pub fn verify(dir: &Path) -> Result<Vec<PathBuf>> {
    FILE_NAMES
        .iter()
        .map(|name| verify_file(dir, name))
        .collect()
}

/// Checks one standard file of `dir`.
fn verify_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = find_file(dir, name)?;
    let actual = md5_hex(&read_maybe_gz(&path)?);
    let expected = expected_md5(name).unwrap_or_default();
    if actual != expected {
        bail!(
            "{}: MD5 {actual} does not match the expected {expected}: the file is damaged; \
             delete it and run `./mnist fetch`",
            path.display()
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_one_md5() {
        let listed: Vec<&str> = expected_md5s().map(|(name, _)| name).collect();
        assert_eq!(listed, FILE_NAMES, "mnist.md5 lists other files");
        for name in FILE_NAMES {
            let md5 = expected_md5(name).unwrap();
            assert!(
                md5.len() == 32 && md5.chars().all(|c| c.is_ascii_hexdigit()),
                "{name}: {md5}"
            );
        }
    }

    #[test]
    fn known_digest_and_damaged_file() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        let dir = tempfile::tempdir().unwrap();
        for name in FILE_NAMES {
            std::fs::write(dir.path().join(name), b"not mnist").unwrap();
        }
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("does not match") && err.contains("train-images"),
            "{err}"
        );
    }
}
