//! The MLP's test accuracy by seed: notebook 04's recipe (`TrainConfig::mlp_recipe`, the crate's
//! `mlp_model` and `fit`) trained once per seed on real MNIST and evaluated on the test set;
//! beside it the same network started as Keras starts a `Dense` layer (Glorot uniform weights,
//! zero biases). Notebook 05 points to the result, which `docs/notebooks.md` keeps between its
//! markers.
//!
//! cargo run --release -p mnist_helpers --example mlp_seeds [-- --update-docs] [SEEDS...]

use anyhow::{Context, Result};
use mnist_helpers::config::{project_path, TrainConfig};
use mnist_helpers::data::{load_mnist, DEFAULT_DATA_DIR};
use mnist_helpers::metrics::predict;
use mnist_helpers::model::mlp_model;
use mnist_helpers::train::fit;
use mnist_helpers::Mnist;
use tch::nn::{self, Init, LinearConfig, ModuleT};

/// The markers around the generated part of docs/notebooks.md.
const BEGIN: &str = "<!-- begin: examples/mlp_seeds.rs -->";
const END: &str = "<!-- end: examples/mlp_seeds.rs -->";

/// Keras' start for a dense layer of `inputs` -> `outputs`: Glorot uniform weights, zero biases.
fn keras_init(inputs: i64, outputs: i64) -> LinearConfig {
    let limit = (6.0 / (inputs + outputs) as f64).sqrt();
    LinearConfig {
        ws_init: Init::Uniform {
            lo: -limit,
            up: limit,
        },
        bs_init: Some(Init::Const(0.0)),
        bias: true,
    }
}

/// The course's MLP (as `mlp_model`) with Keras' initialisation.
fn keras_mlp(p: &nn::Path) -> nn::SequentialT {
    nn::seq_t()
        .add_fn(|xs| xs.flatten(1, -1)) // [batch, 784]
        .add(nn::linear(p / "fc1", 784, 128, keras_init(784, 128))) // [batch, 128]
        .add_fn(|xs| xs.relu())
        .add_fn_t(|xs, train| xs.dropout(0.2, train))
        .add(nn::linear(p / "fc2", 128, 10, keras_init(128, 10))) // [batch, 10]
}

/// Trains the recipe with `seed` on the network `build` makes; returns its test accuracy (%).
fn accuracy_with<N: ModuleT>(seed: u64, data: &Mnist, build: fn(&nn::Path) -> N) -> Result<f64> {
    let cfg = TrainConfig {
        seed,
        ..TrainConfig::mlp_recipe()
    };
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(mnist_helpers::device());
    let net = build(&vs.root());
    fit("mlp-seed", &net, &vs, data, &cfg)?;
    Ok(predict(&net, &data.test, vs.device())?.accuracy())
}

/// The CPU's model name from /proc/cpuinfo.
fn cpu_model() -> String {
    mnist_helpers::env_info::cpu_model().unwrap_or_else(|| "unknown CPU".into())
}

/// The lowest and highest of some accuracies.
fn range(accs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = accs.clone().fold(f64::MAX, f64::min);
    (lo, accs.fold(f64::MIN, f64::max))
}

/// The generated text: one row per seed and the ranges, with the date and the machine.
fn report(results: &[(u64, f64, f64)], date: &str) -> String {
    let rows: Vec<String> = results
        .iter()
        .map(|(s, a, k)| format!("| {s} | {a:.2} | {k:.2} |"))
        .collect();
    let (lo, hi) = range(results.iter().map(|r| r.1));
    let (klo, khi) = range(results.iter().map(|r| r.2));
    let head = format!(
        "Measured on {date}, {}, {} seeds: tch's initialisation {lo:.2}% to {hi:.2}%, \
         Keras' {klo:.2}% to {khi:.2}%.",
        cpu_model(),
        results.len()
    );
    let columns =
        "| seed | tch's initialisation (notebook 04) | Keras' (Glorot uniform, zero biases) |";
    let table = format!("{columns}\n| --- | --- | --- |\n{}", rows.join("\n"));
    format!("{BEGIN}\n{head}\n\n{table}\n{END}")
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

/// Writes the range of tch's start to docs/figures.json (`mlp_seeds`), where notebook 05's stated
/// expectation is checked against it (scripts/notebook_figures.py).
fn write_figures(results: &[(u64, f64, f64)], date: &str) -> Result<()> {
    let path = project_path("docs/figures.json");
    let mut figures: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let (lo, hi) = range(results.iter().map(|r| r.1));
    figures["mlp_seeds"] = serde_json::json!({
        "date": date, "cpu": cpu_model(), "seeds": results.len(),
        "test_accuracy_low": format!("{lo:.2}"), "test_accuracy_high": format!("{hi:.2}"),
    });
    std::fs::write(&path, serde_json::to_string_pretty(&figures)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Today's date as `date` prints it (2026-12-05).
fn today() -> Result<String> {
    let out = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
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
    let data = load_mnist(&project_path(DEFAULT_DATA_DIR))?;
    let mut results = Vec::new();
    for seed in seeds {
        let tch_init = accuracy_with(seed, &data, mlp_model)?;
        let keras = accuracy_with(seed, &data, keras_mlp)?;
        println!("seed {seed}: {tch_init:.2}% test accuracy, {keras:.2}% with Keras' start");
        results.push((seed, tch_init, keras));
    }
    let block = report(&results, &today()?);
    println!("{block}");
    if update {
        let path = project_path("docs/notebooks.md");
        let doc = std::fs::read_to_string(&path)?;
        std::fs::write(&path, replace_block(&doc, &block)?)?;
        println!("wrote {}", path.display());
        write_figures(&results, &today()?)?;
    }
    Ok(())
}
