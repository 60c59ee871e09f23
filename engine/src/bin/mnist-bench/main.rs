//! `mnist-bench`: our side of the benchmark in `bench/`. Each task prints its progress lines
//! (stdout for the notebooks' path, as 04 prints them; stderr for the others) and one JSON object
//! on the last line of stdout, like the Python references.
//!
//! ```text
//! mnist-bench load    [--repeats N]
//! mnist-bench seed    [--epochs N]
//! mnist-bench seed-tch [--epochs N]     the seed recipe on the notebooks' plain-tch path
//! mnist-bench eval    [--repeats N]
//! mnist-bench convnet [--epochs N]      the fast CNN until test accuracy reaches 99.0%
//! mnist-bench best    [--epochs N]      the best CNN recipe, all epochs
//! mnist-bench chart   RATIOS.json OUT.png
//! ```

use anyhow::{bail, Context, Result};
mod tasks;

use mnist_engine::load::load_mnist;
use mnist_engine::{ModelKind, Recipe};
use mnist_helpers::config::project_path;
use mnist_helpers::data::DEFAULT_DATA_DIR;
use mnist_helpers::plot::bar_chart;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// Threads for libtorch: `BENCH_THREADS` (the orchestrator sets it for every framework).
fn threads() -> Result<i32> {
    match std::env::var("BENCH_THREADS") {
        Ok(v) => v
            .parse()
            .with_context(|| format!("BENCH_THREADS={v:?} is not a whole number")),
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get() as i32)),
    }
}

/// The value after `--flag` in `args`, or `default`.
fn flag(args: &[String], name: &str, default: usize) -> Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} takes a whole number")),
        None => Ok(default),
    }
}

/// Runs one measurement task and returns its JSON.
fn measure(task: &str, args: &[String]) -> Result<Value> {
    let dir = project_path(DEFAULT_DATA_DIR);
    if task == "load" {
        return tasks::load(&dir, flag(args, "--repeats", 7)?);
    }
    let data = load_mnist(&dir)?;
    match task {
        "seed" => tasks::seed_recipe(&data, flag(args, "--epochs", 5)?),
        "seed-tch" => tasks::seed_recipe_notebooks(&data, flag(args, "--epochs", 5)?),
        "eval" => tasks::evaluation(&data, flag(args, "--repeats", 7)?),
        "convnet" | "best" => {
            let kind = [ModelKind::Cnn, ModelKind::DeepCnn][usize::from(task == "best")];
            let mut cfg = Recipe::for_model(kind);
            cfg.train.epochs = flag(args, "--epochs", cfg.train.epochs)?;
            tasks::race_to_target(&data, &cfg, task == "convnet")
        }
        other => bail!(
            "unknown task {other:?}: expected load, seed, seed-tch, eval, convnet, best or chart"
        ),
    }
}

/// Draws the ratios file written by `bench/run.py` ([{"label", "ratio"}...]) as a bar chart.
fn chart(args: &[String]) -> Result<()> {
    let [input, output] = [0, 1].map(|i| args.get(i).map(PathBuf::from));
    let (input, output) = input
        .zip(output)
        .context("usage: mnist-bench chart RATIOS.json OUT.png")?;
    let text = std::fs::read_to_string(&input)
        .with_context(|| format!("{}: cannot read", input.display()))?;
    let rows: Vec<Value> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON list", input.display()))?;
    let labels: Vec<String> = rows
        .iter()
        .map(|r| r["label"].as_str().unwrap_or("?").to_string())
        .collect();
    let ratios: Vec<f64> = rows
        .iter()
        .map(|r| r["ratio"].as_f64().unwrap_or(0.0))
        .collect();
    let png = bar_chart(
        "Time ratio, ours / reference (lower is faster)",
        "measurement",
        "ours / reference",
        &labels,
        &[("ratio".to_string(), ratios)],
    )?;
    std::fs::write(&output, &png.0).with_context(|| format!("{}: cannot write", output.display()))
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args
        .first()
        .context("usage: mnist-bench load|seed|eval|convnet|best|chart ...")?;
    if task == "chart" {
        return chart(&args[1..]);
    }
    let threads = threads()?;
    tch::set_num_threads(threads);
    let mut result = measure(task, &args[1..])?;
    result["framework"] = "ours".into();
    result["threads"] = threads.into();
    result["device"] = format!("{:?}", mnist_helpers::device())
        .to_lowercase()
        .into();
    result["peak_rss_mib"] = ((tasks::peak_rss_mib() * 10.0).round() / 10.0).into();
    println!("{result}");
    Ok(())
}

fn main() -> ExitCode {
    mnist_engine::raw::keep_freed_memory();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mnist-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
