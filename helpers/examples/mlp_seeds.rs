//! The MLP's test accuracy by seed: notebook 04's recipe (`TrainConfig::mlp_recipe`, the crate's
//! `mlp_model` and `fit`) trained once per seed on real MNIST, then evaluated on the test set.
//! Notebook 05 points to the result, which `docs/notebooks.md` keeps between its markers.
//!
//! cargo run --release -p mnist_helpers --example mlp_seeds [-- --update-docs] [SEEDS...]

use anyhow::{Context, Result};
use mnist_helpers::config::{project_path, TrainConfig};
use mnist_helpers::data::{load_mnist, DEFAULT_DATA_DIR};
use mnist_helpers::metrics::predict;
use mnist_helpers::model::mlp_model;
use mnist_helpers::train::fit;
use tch::nn;

/// The markers around the generated part of docs/notebooks.md.
const BEGIN: &str = "<!-- begin: examples/mlp_seeds.rs -->";
const END: &str = "<!-- end: examples/mlp_seeds.rs -->";

/// Trains the recipe with `seed` and returns its test accuracy (percent).
fn accuracy_with(seed: u64, data: &mnist_helpers::Mnist) -> Result<f64> {
    let cfg = TrainConfig {
        seed,
        ..TrainConfig::mlp_recipe()
    };
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(mnist_helpers::device());
    let net = mlp_model(&vs.root());
    fit("mlp-seed", &net, &vs, data, &cfg)?;
    Ok(predict(&net, &data.test)?.accuracy())
}

/// The CPU's model name from /proc/cpuinfo.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let line = info.lines().find(|l| l.starts_with("model name"));
    line.and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".into(), |m| m.trim().to_string())
}

/// The generated text: one line per seed and the range, with the date and the machine.
fn report(results: &[(u64, f64)], date: &str) -> String {
    let rows: Vec<String> = results
        .iter()
        .map(|(s, a)| format!("| {s} | {a:.2} |"))
        .collect();
    let accs: Vec<f64> = results.iter().map(|r| r.1).collect();
    let (lo, hi) = (
        accs.iter().cloned().fold(f64::MAX, f64::min),
        accs.iter().cloned().fold(f64::MIN, f64::max),
    );
    format!(
        "{BEGIN}\nMeasured on {date}, {} ({} seeds, {lo:.2}% to {hi:.2}%):\n\n| seed | test accuracy (%) |\n| --- | --- |\n{}\n{END}",
        cpu_model(),
        results.len(),
        rows.join("\n")
    )
}

/// Replaces the text between the markers in `doc`.
fn replace_block(doc: &str, block: &str) -> Result<String> {
    let start = doc
        .find(BEGIN)
        .context("docs/notebooks.md has no begin marker")?;
    let end = doc
        .find(END)
        .context("docs/notebooks.md has no end marker")?
        + END.len();
    Ok(format!("{}{block}{}", &doc[..start], &doc[end..]))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let update = args.iter().any(|a| a == "--update-docs");
    let seeds: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let seeds = if seeds.is_empty() {
        vec![42, 1, 2, 3, 4]
    } else {
        seeds
    };
    let scratch = tempfile_dir()?;
    std::env::set_var("MNIST_ARTIFACTS", &scratch); // fit's saves go there, not to artifacts/
    let data = load_mnist(&project_path(DEFAULT_DATA_DIR))?;
    let mut results = Vec::new();
    for seed in seeds {
        let accuracy = accuracy_with(seed, &data)?;
        println!("seed {seed}: {accuracy:.2}% test accuracy");
        results.push((seed, accuracy));
    }
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()?;
    let block = report(&results, String::from_utf8_lossy(&date.stdout).trim());
    println!("{block}");
    if update {
        let path = project_path("docs/notebooks.md");
        let doc = std::fs::read_to_string(&path)?;
        std::fs::write(&path, replace_block(&doc, &block)?)?;
        println!("wrote {}", path.display());
    }
    std::fs::remove_dir_all(&scratch).ok();
    Ok(())
}

/// A scratch folder under target/ for the runs' saved weights.
fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = project_path("target/mlp-seeds");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
