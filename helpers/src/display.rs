//! Rich output for evcxr: PNG images and HTML tables shown inline in JupyterLab.

use crate::atomic::write_atomic;
use anyhow::Result;
use base64::Engine;
use std::io::Write;
use std::path::Path;

/// A PNG image; as a cell's value in evcxr it is shown inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Png(pub Vec<u8>);

/// An HTML fragment; as a cell's value in evcxr it is rendered inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Html(pub String);

/// Prints one evcxr rich-output block in a single write, so that it is never interleaved.
fn emit(mime: &str, content: &str) {
    let block = format!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT\n");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(block.as_bytes());
    let _ = out.flush();
}

impl Png {
    /// Shows the image inline (evcxr calls this for a cell's value).
    pub fn evcxr_display(&self) {
        emit(
            "image/png",
            &base64::engine::general_purpose::STANDARD.encode(&self.0),
        );
    }

    /// Writes the image to `path`, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.0)
    }
}

impl Html {
    /// Renders the HTML inline (evcxr calls this for a cell's value).
    pub fn evcxr_display(&self) {
        emit("text/html", &self.0);
    }
}

/// `result`, with its error also printed on stdout. evcxr forwards the error of a cell's `?` from
/// stderr on a separate thread, which can arrive after the cell has finished and be dropped;
/// stdout reaches the cell in order. Used by the steps that read or write files.
pub fn shown<T>(result: Result<T>) -> Result<T> {
    if let Err(e) = &result {
        println!("Error: {e:#}");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_saves_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        Png(vec![1, 2, 3]).save(&path).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), vec![1, 2, 3]);
    }
}
