//! The well-known MD5s of MNIST's four files, and checking a data folder against them.

use crate::data::{find_file, FILE_NAMES};
use crate::idx::read_maybe_gz;
use anyhow::{bail, Result};
use md5::{Digest, Md5};
use std::path::{Path, PathBuf};

/// The MD5s of the uncompressed files, in [`FILE_NAMES`] order.
pub const EXPECTED_MD5: [&str; 4] = [
    "6bbc9ace898e44ae57da46a324031adb",
    "a25bea736e30d166cdddb491f175f624",
    "2646ac647ad5339dbf082846283269ea",
    "27ae3e4e09519cfbb04c329615203637",
];

/// The hex MD5 of some bytes.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The expected MD5 of a standard file name.
pub fn expected_md5(name: &str) -> Option<&'static str> {
    FILE_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|i| EXPECTED_MD5[i])
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
