//! What the integration tests that run the project's Python scripts share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The project's root folder.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python interpreter itself (python3 on PATH may be a shell script, such as pyenv's shim).
#[allow(dead_code)] // the tests of the tracked files run no Python
pub fn python() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 on PATH");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The repository's tracked files (`git ls-files`), or why they cannot be listed (not a git
/// checkout, no git): the tests that read them then skip, see [`skip`].
#[allow(dead_code)] // only the tests of the tracked files use it
pub fn tracked_files(root: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .map_err(|e| format!("git cannot run: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "not a git checkout: git ls-files said {:?}",
            said.trim()
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| format!("git ls-files: {e}"))?;
    Ok(text
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect())
}

/// Says that a test cannot decide here. Cargo has no skipped state, so such tests live in a
/// module `git_tracked`, which scripts/test.sh runs as a step of its own that it counts as
/// skipped (exit 77) where `git ls-files` fails, and leaves out of its other cargo steps.
#[allow(dead_code)]
pub fn skip(reason: &str) {
    println!("skipped: {reason}");
}
