//! The notebooks' code cells as the tests that read them see them.

use std::path::PathBuf;

/// The notebooks' file names in order: the `notebooks/` folder's own list, written nowhere else.
#[allow(dead_code)] // not every test that reads cells walks all the notebooks
pub fn notebooks() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../notebooks");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ipynb"))
        .collect();
    names.sort();
    names
}

/// The source of each code cell of `notebook` (a file name in `notebooks/`), in order.
pub fn code_cells(notebook: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../notebooks")
        .join(notebook);
    let text = std::fs::read_to_string(&path).unwrap();
    let book: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cells = book["cells"].as_array().unwrap();
    cells
        .iter()
        .filter(|c| c["cell_type"] == "code")
        .map(|c| match &c["source"] {
            serde_json::Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
            other => other.as_str().unwrap_or_default().to_string(),
        })
        .collect()
}
