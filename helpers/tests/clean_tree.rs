//! The repository tracks no data: MNIST's files (raw or gzipped) are fetched by setup into the
//! git-ignored `data/mnist/`, and nothing else large is committed. Read from `git ls-files`; a
//! copy of the project that is not a git checkout has nothing to check.

use std::path::Path;
use std::process::Command;

/// Files larger than this are data, not source (the largest picture in docs/ is about 100 KB).
const MAX_TRACKED_BYTES: u64 = 2_000_000;

/// The tracked files, or None outside a git checkout.
fn tracked_files(root: &Path) -> Option<Vec<String>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| {
        text.split('\0')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// Why a tracked file is data (None when it is not).
fn is_data(root: &Path, file: &str) -> Option<String> {
    let name = file.rsplit('/').next().unwrap_or(file);
    let stem = name.trim_end_matches(".gz");
    if mnist_helpers::data::FILE_NAMES.contains(&stem) {
        return Some(format!("{file}: an MNIST file"));
    }
    if file.starts_with("data/") && file != "data/README.md" {
        return Some(format!("{file}: under data/"));
    }
    let bytes = std::fs::metadata(root.join(file)).map_or(0, |m| m.len());
    (bytes > MAX_TRACKED_BYTES).then(|| format!("{file}: {bytes} bytes"))
}

#[test]
fn no_data_file_is_tracked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let Some(files) = tracked_files(&root) else {
        println!("not a git checkout: nothing to check");
        return;
    };
    assert!(
        files.iter().any(|f| f == "Cargo.toml"),
        "git listed {files:?}"
    );
    let data: Vec<String> = files.iter().filter_map(|f| is_data(&root, f)).collect();
    assert!(
        data.is_empty(),
        "tracked data files (git rm --cached them): {data:?}"
    );
}
