//! What the integration tests that run the project's Python scripts share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The project's root folder.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python interpreter itself (python3 on PATH may be a shell script, such as pyenv's shim).
pub fn python() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 on PATH");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
