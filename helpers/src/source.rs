//! The lesson's own source shown in a notebook: the parts of [`crate::model`] between a
//! `// lesson: NAME` line and `// end lesson`, as a highlighted Rust block. The text is compiled
//! into the crate, so what 03 shows is exactly the code that 04-06 run.

use crate::display::Markdown;
use anyhow::{bail, Result};

/// The source of the model definitions.
const MODEL_SOURCE: &str = include_str!("model.rs");

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

/// The definition of model `name` ("mlp" or "cnn") as it is in the crate, highlighted.
pub fn show_source(name: &str) -> Result<Markdown> {
    match lesson(MODEL_SOURCE, name) {
        Some(code) => Ok(Markdown(format!(
            "From `helpers/src/model.rs`:\n\n```rust\n{code}\n```"
        ))),
        None => bail!("no model named {name:?} in helpers/src/model.rs: try \"mlp\" or \"cnn\""),
    }
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
        let err = show_source("resnet").unwrap_err().to_string();
        assert!(err.contains("try \"mlp\""), "{err}");
    }
}
