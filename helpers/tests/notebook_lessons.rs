//! The lesson is computed in the notebooks' cells: each of 02-06 computes with tch in sight, and
//! notebook 03 defines the networks in its cells, the same code, line for line, as the crate's
//! copies in `helpers/src/model.rs` that notebooks 04-07 call.

mod notebook_cells;
use notebook_cells::{code_cells, notebooks};

/// A cell that only defines items (functions, structs, impls): its first line opens one.
fn defines_items(cell: &str) -> bool {
    let first = cell.trim_start().lines().next().unwrap_or("");
    ["///", "pub ", "fn ", "struct ", "impl ", "#["]
        .iter()
        .any(|p| first.starts_with(p))
}

/// The lines of code, right-trimmed, without blank lines.
fn normalised(code: &str) -> Vec<String> {
    code.lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The crate's lesson blocks `names` of model.rs, in order.
fn lessons(names: &[&str]) -> String {
    let source = include_str!("../src/model.rs");
    names
        .iter()
        .map(|name| {
            let start = format!("// lesson: {name}\n");
            let body = &source[source.find(&start).unwrap() + start.len()..];
            body[..body.find("// end lesson").unwrap()].to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first line where two listings differ, for the failure message.
fn first_difference(cells: &[String], crates: &[String]) -> String {
    let at = cells.iter().zip(crates).position(|(a, b)| a != b);
    let at = at.unwrap_or(cells.len().min(crates.len()));
    format!(
        "line {}: notebook 03 has {:?}, helpers/src/model.rs has {:?}",
        at + 1,
        cells.get(at),
        crates.get(at)
    )
}

#[test]
fn notebook_03s_networks_are_the_crates() {
    let cells: Vec<String> = code_cells("03_model_architecture.ipynb")
        .into_iter()
        .filter(|c| defines_items(c) && !c.contains("your_answer()")) // not the exercises
        .collect();
    assert!(cells.len() >= 4, "03 should define the networks in cells");
    let in_cells = normalised(&cells.join("\n"));
    let in_crate = normalised(&lessons(&["mlp", "cnn"]));
    assert!(
        in_cells == in_crate,
        "03's cells and the crate's networks differ: {}",
        first_difference(&in_cells, &in_crate)
    );
}

/// What a cell that computes with tch calls: tensor operations, layers, a loss, a step.
const TCH_CALLS: [&str; 25] = [
    "Tensor::",
    ".forward_t(",
    "nn::linear(",
    "nn::conv2d(",
    "nn::seq_t(",
    "nn::Adam",
    ".to_kind(",
    ".view(",
    ".bincount",
    ".argmax(",
    "backward_step",
    "cross_entropy",
    ".softmax(",
    ".index_select(",
    ".index(",
    ".svd(",
    ".mean_dim(",
    "no_grad",
    ".eq_tensor(",
    ".ne_tensor(",
    ".diag(",
    ".max_dim(",
    "run_backward",
    ".argsort(",
    ".narrow(",
];
/// The most lines a code cell may have.
const MAX_CELL_LINES: usize = 16;

/// Whether a cell computes with tch in sight.
fn computes_with_tch(cell: &str) -> bool {
    TCH_CALLS.iter().any(|call| cell.contains(call))
}

#[test]
fn the_sections_compute_with_tch_in_their_cells() {
    let mut total = 0;
    for notebook in notebooks() {
        let cells = code_cells(&notebook);
        let computing = cells
            .iter()
            .skip(1)
            .filter(|c| computes_with_tch(c))
            .count();
        println!(
            "{notebook}: {computing} of {} code cells compute with tch",
            cells.len()
        );
        let section = !notebook.starts_with("01") && !notebook.starts_with("07");
        assert!(
            !section || computing >= 1,
            "{notebook} computes nothing with tch in a cell"
        );
        total += computing;
        for cell in &cells {
            let lines = cell.trim_end().lines().count();
            assert!(
                lines <= MAX_CELL_LINES,
                "{notebook}: a cell of {lines} lines: {cell}"
            );
        }
    }
    assert!(total >= 20, "only {total} cells compute with tch");
}

#[test]
fn item_cells_are_told_from_statement_cells() {
    assert!(computes_with_tch("let y = x.softmax(-1, Kind::Float);"));
    assert!(!computes_with_tch("history_table(&mlp_history)?"));
    assert!(defines_items("/// doc\npub fn a() {}"));
    assert!(defines_items("impl Cnn {}"));
    assert!(!defines_items("let vs = nn::VarStore::new(device());"));
    assert!(!defines_items(":dep x = 1"));
}
