//! The notebooks' code cells as the tests that read them see them.

use std::path::PathBuf;

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
