//! The repository tracks no data: MNIST's files (raw or gzipped) are fetched by setup into the
//! git-ignored `data/mnist/`, and nothing else large is committed. Read from `git ls-files`: a
//! copy of the project that is not a git checkout cannot decide, and says "skipped" (scripts/test.sh
//! counts it so; see `common::skip`).

use std::path::Path;

mod common;

/// Files larger than this are data, not source (the largest picture in docs/ is about 100 KB).
const MAX_TRACKED_BYTES: u64 = 2_000_000;

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

mod git_tracked {
    use super::*;

    #[test]
    fn no_data_file_is_tracked() {
        let root = common::project_root();
        let files = match common::tracked_files(&root) {
            Ok(files) => files,
            Err(why) => return common::skip(&why),
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
}
