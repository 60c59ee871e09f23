//! The lesson's own source shown in a notebook: the parts of [`crate::model`] and
//! [`crate::train`] between a `// lesson: NAME` line and `// end lesson`, as a highlighted Rust
//! block. The text is compiled into the crate, so what 03 and 04 show is the code that runs.

use crate::display::Markdown;
use anyhow::{bail, Result};

/// The files that hold lessons, with their source.
const SOURCES: [(&str, &str); 2] = [
    ("helpers/src/model.rs", include_str!("model.rs")),
    ("helpers/src/train.rs", include_str!("train.rs")),
];

/// The lines of `source` between `// lesson: name` and the next `// end lesson`.
fn lesson(source: &str, name: &str) -> Option<String> {
    let start = format!("// lesson: {name}");
    let mut lines = source.lines().skip_while(|l| l.trim() != start).skip(1);
    let body: Vec<&str> = lines
        .by_ref()
        .take_while(|l| l.trim() != "// end lesson")
        .collect();
    (!body.is_empty()).then(|| body.join("\n"))
}

/// The lesson `name` ("mlp", "cnn", "training loop") as it is in the crate, highlighted.
pub fn show_source(name: &str) -> Result<Markdown> {
    for (file, source) in SOURCES {
        if let Some(code) = lesson(source, name) {
            let text = format!("From `{file}`:\n\n```rust\n{code}\n```");
            return Ok(Markdown(text));
        }
    }
    bail!("no lesson named {name:?}: try \"mlp\", \"cnn\" or \"training loop\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_each_model_and_only_it() {
        let mlp = show_source("mlp").unwrap().0;
        assert!(mlp.contains("pub fn mlp_model") && mlp.contains("```rust"));
        assert!(!mlp.contains("cnn_model") && !mlp.contains("lesson"));
        let cnn = show_source("cnn").unwrap().0;
        assert!(cnn.contains("impl ModuleT for Cnn") && cnn.contains("fn strided_conv"));
        let train = show_source("training loop").unwrap().0;
        assert!(train.contains("backward_step") && train.contains("train.rs"));
        let err = show_source("resnet").unwrap_err().to_string();
        assert!(err.contains("try \"mlp\""), "{err}");
    }
}
