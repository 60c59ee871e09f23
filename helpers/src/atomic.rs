//! Files written so that a crash leaves the old file or the new one, never half of one.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A temporary sibling of `path` that keeps its extension (tch picks the format by extension).
fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".tmp-{}-{name}", std::process::id()))
}

/// Makes a finished temporary file durable and moves it over `path` in one step.
fn commit(tmp: &Path, path: &Path) -> Result<()> {
    fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: cannot sync", tmp.display()))?;
    fs::rename(tmp, path).with_context(|| format!("{}: cannot move into place", path.display()))?;
    remove_stale_temps(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(())
}

/// True when no process `pid` runs any more (Linux: no /proc entry). Elsewhere the answer is
/// "not known", and temporary files are left alone.
#[cfg(target_os = "linux")]
fn process_gone(pid: &str) -> bool {
    !Path::new("/proc").join(pid).exists()
}

/// True when no process `pid` runs any more; unknown off Linux, so never.
#[cfg(not(target_os = "linux"))]
fn process_gone(_pid: &str) -> bool {
    false
}

/// Removes temporary siblings of `path` left by writers that were killed (their process is gone).
fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let suffix = format!("-{name}");
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file
            .strip_prefix(".tmp-")
            .and_then(|rest| rest.strip_suffix(&suffix));
        if pid.is_some_and(process_gone) {
            fs::remove_file(entry.path()).ok();
        }
    }
}

/// Creates the parent directory of `path` if needed.
fn ensure_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))
        }
        None => Ok(()),
    }
}

/// Writes `path` through `write`, which fills a temporary sibling; the sibling then replaces
/// `path` in one step. On failure the temporary file is removed and `path` is unchanged.
pub fn write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    ensure_parent(path)?;
    let tmp = temp_sibling(path);
    if let Err(e) = write(&tmp) {
        fs::remove_file(&tmp).ok();
        return Err(e).with_context(|| format!("{}: cannot write", path.display()));
    }
    commit(&tmp, path)
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |tmp| {
        fs::File::create(tmp)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(Into::into)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.txt");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(
            fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"old").unwrap();
        let err = write_with(&path, |_| anyhow::bail!("disk full")).unwrap_err();
        assert!(format!("{err:#}").contains("disk full"));
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }
}
