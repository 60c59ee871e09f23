//! Tables for people: polars DataFrames rendered as HTML, and the tables the notebooks show.

use crate::display::Html;
use crate::model::Network;
use anyhow::Result;
use polars::prelude::*;

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One cell's text: floats with 4 decimals, strings without quotes.
fn cell_text(value: &AnyValue) -> String {
    match value {
        AnyValue::Float64(v) => format!("{v:.4}"),
        AnyValue::Float32(v) => format!("{v:.4}"),
        AnyValue::String(s) => s.to_string(),
        AnyValue::Null => String::new(),
        other => other.to_string(),
    }
}

/// A DataFrame as an HTML table with an optional caption.
pub fn html_table(df: &DataFrame, caption: &str) -> Html {
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
            let text = col.get(row).map(|v| cell_text(&v)).unwrap_or_default();
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
pub fn key_value_table(rows: &[(String, String)]) -> Result<DataFrame> {
    Ok(df!(
        "name" => rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "value" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
    )?)
}

/// A Keras-style summary: layer, output shape, parameters, and a total row.
pub fn model_summary(net: &Network) -> Result<DataFrame> {
    let layers = net.model.layers();
    let shape = |s: &[i64]| {
        let dims: Vec<String> = s
            .iter()
            .map(|&d| if d < 0 { "None".into() } else { d.to_string() })
            .collect();
        format!("({})", dims.join(", "))
    };
    let mut names: Vec<String> = layers.iter().map(|l| l.name.clone()).collect();
    let mut shapes: Vec<String> = layers.iter().map(|l| shape(&l.output_shape)).collect();
    let mut params: Vec<i64> = layers.iter().map(|l| l.params).collect();
    names.push("Total".into());
    shapes.push(String::new());
    params.push(net.param_count());
    Ok(df!("layer" => names, "output shape" => shapes, "parameters" => params)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelKind;

    #[test]
    fn html_escapes_and_formats() {
        let df = df!("a<b" => [1.0f64, 2.5], "n" => [1i64, 2]).unwrap();
        let html = html_table(&df, "cap").0;
        assert!(html.contains("a&lt;b") && html.contains("2.5000") && html.contains("<caption"));
        assert_eq!(html.matches("<tr>").count(), 3);
    }

    #[test]
    fn summary_totals_the_seed_mlp() {
        let net = Network::new(ModelKind::Mlp, 0.2, tch::Device::Cpu);
        let df = model_summary(&net).unwrap();
        let total = df
            .column("parameters")
            .unwrap()
            .get(df.height() - 1)
            .unwrap();
        assert_eq!(total, AnyValue::Int64(101_770));
    }
}
