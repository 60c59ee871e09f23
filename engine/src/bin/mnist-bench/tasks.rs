//! The measurements of `mnist-bench`: the same tasks as the Python references in `bench/`,
//! on the same data split, each returning a JSON object. Everything runs on
//! `mnist_helpers::device()`: the GPU when libtorch sees one (`bench/run.py` hides it with
//! `CUDA_VISIBLE_DEVICES=` for the CPU benchmark).

use anyhow::Result;
use mnist_engine::load::load_mnist;
use mnist_engine::network::{ModelKind, Network};
use mnist_engine::precision::precision_name;
use mnist_engine::recipe::Recipe;
use mnist_engine::run::seeded_network;
use mnist_engine::trainer::{evaluate_loss, fit, run};
use mnist_helpers::data::{Mnist, Split};
use mnist_helpers::history::EpochStats;
use mnist_helpers::metrics::predict;
use mnist_helpers::model::mlp_model;
use mnist_helpers::progress::{ProgressPrinter, Report};
use mnist_helpers::train::{tch_step, train_epochs};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;
use tch::nn;

/// Training images in every benchmark: the first 54,000; the last 6,000 validate (as Keras'
/// `validation_split=0.1` and the references do).
pub const TRAIN_COUNT: usize = 54_000;
/// Test accuracy (percent) that the CNN race runs to.
pub const TARGET_ACCURACY: f64 = 99.0;

/// The training file cut as the references cut it: (first 54,000, last 6,000).
pub fn reference_split(data: &Mnist) -> (Split, Split) {
    let n = data.train.len() as i64;
    let val = Split {
        images: data
            .train
            .images
            .narrow(0, TRAIN_COUNT as i64, n - TRAIN_COUNT as i64),
        labels: data
            .train
            .labels
            .narrow(0, TRAIN_COUNT as i64, n - TRAIN_COUNT as i64),
    };
    (data.train.head(TRAIN_COUNT), val)
}

use mnist_engine::run::median;

/// Peak resident memory of this process in MiB (getrusage, as the Python references measure).
pub fn peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    // Linux counts kibibytes, macOS bytes.
    let per_mib = if cfg!(target_os = "macos") {
        1 << 20
    } else {
        1 << 10
    };
    usage.ru_maxrss as f64 / per_mib as f64
}

/// Median seconds to call `f`, over `repeats` calls.
pub fn time_median<T>(repeats: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(median(&times))
}

/// Loading and normalising the four raw IDX files (70,000 images): median seconds.
pub fn load(dir: &Path, repeats: usize) -> Result<Value> {
    let seconds = time_median(repeats, || load_mnist(dir))?;
    Ok(json!({ "task": "load", "load_seconds": seconds, "images": 70_000 }))
}

/// The seed recipe (MLP, batch 32, Adam 1e-3, dropout 0.2): seconds of each epoch (validation
/// included) and the final test accuracy.
pub fn seed_recipe(data: &Mnist, epochs: usize) -> Result<Value> {
    let (train, val) = reference_split(data);
    let mut cfg = Recipe::for_model(ModelKind::Mlp);
    cfg.train.epochs = epochs;
    let mut net = Network::seeded(ModelKind::Mlp, mnist_helpers::device(), cfg.train.seed);
    let history = fit(&mut net, &train, &val, &cfg, &mut EpochLog("ours seed"))?;
    let (_, test_accuracy) = evaluate_loss(&net, &data.test);
    let epoch_seconds: Vec<f64> = history.epochs.iter().map(|e| e.seconds).collect();
    Ok(json!({ "task": "seed", "epoch_seconds": epoch_seconds, "test_accuracy": test_accuracy }))
}

/// The seed recipe on the notebooks' own path: `mlp_model` (plain tch `nn::seq_t`) trained by the
/// notebooks' `train_epochs` (tch autograd, `nn::Adam`, shuffled `Iter2` batches), as 04 trains
/// it, on the benchmark's split. Seconds of each epoch (validation included) and test accuracy.
pub fn seed_recipe_notebooks(data: &Mnist, epochs: usize) -> Result<Value> {
    let (train, val) = reference_split(data);
    let mut cfg = Recipe::for_model(ModelKind::Mlp).train;
    cfg.epochs = epochs;
    tch::manual_seed(cfg.seed as i64);
    let vs = nn::VarStore::new(mnist_helpers::device());
    let net = mlp_model(&vs.root());
    // Its progress lines go to stdout, before the JSON line that the bench reads.
    let step = tch_step(&net, &vs, &train, &cfg)?;
    let mut printer = ProgressPrinter::new(cfg.epochs, train.len().div_ceil(cfg.batch_size));
    let (history, _) = train_epochs("notebooks seed", step, &train, &val, &cfg, &mut printer)?;
    let test_accuracy = predict(&net, &data.test, vs.device())?.accuracy();
    let epoch_seconds: Vec<f64> = history.epochs.iter().map(|e| e.seconds).collect();
    Ok(
        json!({ "task": "seed-tch", "epoch_seconds": epoch_seconds, "test_accuracy": test_accuracy }),
    )
}

/// Evaluating the 10,000 test images (loss and accuracy) with the seed MLP: median seconds.
pub fn evaluation(data: &Mnist, repeats: usize) -> Result<Value> {
    let net = Network::seeded(ModelKind::Mlp, mnist_helpers::device(), 0);
    let seconds = time_median(repeats, || Ok(evaluate_loss(&net, &data.test)))?;
    Ok(json!({ "task": "eval", "model": "mlp", "eval_seconds": seconds }))
}

/// Trains `cfg` and measures test accuracy after every epoch; stops once it reaches
/// [`TARGET_ACCURACY`] when `stop_at_target`. Seconds count training only, not the test passes.
pub fn race_to_target(data: &Mnist, cfg: &Recipe, stop_at_target: bool) -> Result<Value> {
    let (train, _) = reference_split(data);
    let (mut net, choice) = seeded_network(cfg, &train, mnist_helpers::device())?;
    if let Some(choice) = &choice {
        eprintln!("ours {}: {}", cfg.model, choice.describe());
    }
    let precision = precision_name(choice.map_or(tch::Kind::Float, |c| c.kind));
    let mut run = run(&mut net, &train, cfg)?;
    let (mut elapsed, mut reached, mut accuracies) = (0.0, None, Vec::new());
    for _ in 0..cfg.train.epochs {
        let start = Instant::now();
        run.next_epoch(&mut ())?;
        elapsed += start.elapsed().as_secs_f64();
        let (_, accuracy) = evaluate_loss(run.step.net, &data.test);
        eprintln!(
            "ours {}: epoch {}: {elapsed:.1} s of training, test {accuracy:.2}%",
            cfg.model, run.epoch
        );
        accuracies.push(accuracy);
        if accuracy >= TARGET_ACCURACY && reached.is_none() {
            reached = Some(elapsed);
            if stop_at_target {
                break;
            }
        }
    }
    Ok(json!({
        "seconds_to_99": reached, "epochs": accuracies.len(), "train_seconds": elapsed,
        "test_accuracies": accuracies, "final_accuracy": accuracies.last(),
        "precision": precision,
    }))
}

/// Progress that prints one line per epoch to stderr, with this label.
struct EpochLog(&'static str);

impl Report for EpochLog {
    fn epoch_done(&mut self, stats: &EpochStats) {
        eprintln!(
            "{} epoch {}: {:.2} s, val {:.2}%",
            self.0, stats.epoch, stats.seconds, stats.val_accuracy
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's own high-water mark of this process, in MiB.
    #[cfg(target_os = "linux")]
    fn vm_hwm_mib() -> f64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024.0
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn peak_memory_is_the_processes_high_water_mark() {
        let mut big = vec![0u8; 64 << 20];
        big.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8); // touch every page
        std::hint::black_box(&big);
        let (ours, kernels) = (peak_rss_mib(), vm_hwm_mib());
        assert!(ours >= 64.0, "64 MiB were just touched, peak says {ours}");
        // getrusage's figure also counts a few MiB that /proc leaves out, never less.
        assert!(
            ours + 1.0 >= kernels,
            "getrusage {ours} MiB vs VmHWM {kernels} MiB"
        );
    }
}
