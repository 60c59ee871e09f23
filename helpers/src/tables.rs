//! Tables for people: polars DataFrames rendered as HTML, and the tables the notebooks show.

use crate::display::Html;
use anyhow::Result;
use polars::prelude::*;
use tch::nn;

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One cell's text: floats with `decimals` decimals, strings without quotes.
fn cell_text(value: &AnyValue, decimals: usize) -> String {
    match value {
        AnyValue::Float64(v) => format!("{v:.decimals$}"),
        AnyValue::Float32(v) => format!("{v:.decimals$}"),
        AnyValue::String(s) => s.to_string(),
        AnyValue::Null => String::new(),
        other => other.to_string(),
    }
}

/// A DataFrame as an HTML table with an optional caption.
pub(crate) fn html_table(df: &DataFrame, caption: &str) -> Html {
    let mut html = String::from("<table class=\"mnist-table\" style=\"border-collapse:collapse\">");
    if !caption.is_empty() {
        html += &format!(
            "<caption style=\"font-weight:bold\">{}</caption>",
            escape(caption)
        );
    }
    html += "<thead><tr>";
    for name in df.get_column_names() {
        html += &format!(
            "<th style=\"padding:2px 8px;border-bottom:1px solid #888\">{}</th>",
            escape(name)
        );
    }
    html += "</tr></thead><tbody>";
    for row in 0..df.height() {
        html += "<tr>";
        for col in df.columns() {
            // Percentages with two decimals (97.65), other numbers with four (0.0812).
            let decimals = if col.name().contains('%') { 2 } else { 4 };
            let text = col
                .get(row)
                .map(|v| cell_text(&v, decimals))
                .unwrap_or_default();
            html += &format!(
                "<td style=\"padding:2px 8px;text-align:right\">{}</td>",
                escape(&text)
            );
        }
        html += "</tr>";
    }
    Html(html + "</tbody></table>")
}

/// A two-column (name, value) table from pairs.
pub(crate) fn key_value_table(rows: &[(String, String)]) -> Result<DataFrame> {
    Ok(df!(
        "name" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "value" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
    )?)
}

/// Trainable parameters of the variables in `vs`.
pub fn param_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

/// A Keras-style summary read from the variables: one row per layer (the variables' path prefix,
/// in the order they were created), its tensors' shapes, its trainable parameters, and a total.
pub(crate) fn model_summary(vs: &nn::VarStore) -> Result<DataFrame> {
    let named = vs.variables();
    let order: Vec<usize> = vs
        .trainable_variables()
        .iter()
        .map(|t| t.data_ptr() as usize)
        .collect();
    let position = |t: &tch::Tensor| order.iter().position(|&p| p == t.data_ptr() as usize);
    let mut names: Vec<&String> = named.keys().collect();
    names.sort_by_key(|n| (position(&named[*n]).unwrap_or(usize::MAX), n.to_string()));
    // (layer, its tensors' shapes, its trainable parameters), in creation order
    let mut layers: Vec<(String, Vec<String>, i64)> = Vec::new();
    for name in names {
        let (layer, tensor) = name.rsplit_once('.').unwrap_or(("", name));
        let t = &named[name];
        if layers.last().is_none_or(|l| l.0 != layer) {
            layers.push((layer.to_string(), Vec::new(), 0));
        }
        if let Some(last) = layers.last_mut() {
            last.1.push(format!("{tensor} {:?}", t.size()));
            last.2 += position(t).map_or(0, |_| t.numel() as i64);
        }
    }
    let mut layer: Vec<String> = layers.iter().map(|l| l.0.clone()).collect();
    let mut tensors: Vec<String> = layers.iter().map(|l| l.1.join(", ")).collect();
    let mut params: Vec<i64> = layers.iter().map(|l| l.2).collect();
    layer.push("Total".into());
    tensors.push(String::new());
    params.push(param_count(vs));
    Ok(df!("layer" => layer, "tensors" => tensors, "trainable parameters" => params)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_and_formats() {
        let df = df!("a<b" => [1.0f64, 2.5], "n" => [1i64, 2]).unwrap();
        let html = html_table(&df, "cap").0;
        assert!(html.contains("a&lt;b") && html.contains("2.5000") && html.contains("<caption"));
        assert_eq!(html.matches("<tr>").count(), 3);
    }

    #[test]
    fn summary_totals_the_seed_mlp() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _net = crate::model::mlp_model(&vs.root());
        let df = model_summary(&vs).unwrap();
        let layers = df.column("layer").unwrap();
        assert_eq!(layers.get(0).unwrap(), AnyValue::String("fc1"));
        assert_eq!(df.height(), 3);
        let total = df
            .column("trainable parameters")
            .unwrap()
            .get(df.height() - 1)
            .unwrap();
        assert_eq!(total, AnyValue::Int64(101_770));
    }
}
