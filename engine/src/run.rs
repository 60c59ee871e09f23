//! One run of the `mnist` command end to end: the deep CNN's precision chosen (measured once per
//! machine), the seeded network, training with progress, weights and history saved.

use crate::network::{ModelKind, Network};
use crate::precision::{self, Cache, Choice, StepTimes};
use crate::recipe::Recipe;
use crate::trainer::{fit, run};
use crate::weights::save_network;
use anyhow::Result;
use mnist_helpers::artifacts::{history_path, save_history, weights_path};
use mnist_helpers::config::{project_path, TrainConfig};
use mnist_helpers::data::{Mnist, Split};
use mnist_helpers::history::History;
use mnist_helpers::progress::ProgressPrinter;
use mnist_helpers::train::training_split;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind};

/// What a run produced and where it was saved.
#[derive(Debug)]
pub struct TrainedRun {
    /// The trained network.
    pub net: Network,
    /// Its per-epoch history.
    pub history: History,
    /// The saved weights.
    pub weights: PathBuf,
    /// The saved history.
    pub history_file: PathBuf,
}

/// Where the measured step times of each machine are kept: the build folder.
pub const STEP_TIMES_FILE: &str = "target/precision.json";
/// An environment variable that moves [`STEP_TIMES_FILE`] elsewhere (the tests' own folder).
pub const STEP_TIMES_VAR: &str = "MNIST_PRECISION_CACHE";

/// The file of measured step times: [`STEP_TIMES_VAR`] when set, else [`STEP_TIMES_FILE`].
fn step_times_file() -> PathBuf {
    std::env::var_os(STEP_TIMES_VAR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| project_path(STEP_TIMES_FILE), PathBuf::from)
}

/// The network of `cfg` on `device`, seeded by `cfg`'s seed; the deep CNN's training precision
/// is chosen first (see [`precision`]; measuring uses the first images of `train`), and the
/// choice is returned with it. Choosing comes before seeding, so it does not move the run.
pub fn seeded_network(
    cfg: &Recipe,
    train: &Split,
    device: Device,
) -> Result<(Network, Option<Choice>)> {
    let choice = match cfg.model {
        ModelKind::DeepCnn => {
            let cache = Cache {
                file: &step_times_file(),
                key: precision::machine_key(cfg.train.batch_size),
            };
            let measure = || measure_step_times(cfg, train, device);
            let native = precision::cpu_has_bf16();
            Some(precision::choose(
                precision::requested()?,
                device,
                native,
                &cache,
                measure,
            )?)
        }
        _ => None,
    };
    let kind = choice.as_ref().map_or(Kind::Float, |c| c.kind);
    let net = Network::seeded_in(cfg.model, device, cfg.train.seed, kind);
    Ok((net, choice))
}

/// Rounds of [`measure_step_times`]; the first [`WARM_ROUNDS`] are not counted.
const ROUNDS: usize = 6;
/// Rounds that only warm up (oneDNN builds its kernels on the first steps).
const WARM_ROUNDS: usize = 2;
/// Training steps per round.
const STEPS_PER_ROUND: usize = 2;

/// Seconds per training step of `cfg`'s network in float32 and with the bfloat16 pass: the
/// trainer's own epoch (augmentation, forward, backward, Adam) on the first images of `train`,
/// [`STEPS_PER_ROUND`] steps per round, the two precisions alternating; the median round of
/// each. About 25 steps: one to three seconds.
pub fn measure_step_times(cfg: &Recipe, train: &Split, device: Device) -> Result<StepTimes> {
    let cfg = Recipe {
        train: TrainConfig {
            epochs: ROUNDS,
            train_limit: None,
            ..cfg.train.clone()
        },
        ..cfg.clone()
    };
    let images = train.head(STEPS_PER_ROUND * cfg.train.batch_size);
    let steps = images.len().div_ceil(cfg.train.batch_size).max(1) as f64;
    let mut f32_net = Network::with_training_kind(cfg.model, device, Kind::Float);
    let mut bf16_net = Network::with_training_kind(cfg.model, device, Kind::BFloat16);
    let mut runs = [
        run(&mut f32_net, &images, &cfg)?,
        run(&mut bf16_net, &images, &cfg)?,
    ];
    let mut seconds = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for (run, times) in runs.iter_mut().zip(&mut seconds) {
            let start = Instant::now();
            run.next_epoch(&mut ())?;
            if round >= WARM_ROUNDS {
                times.push(start.elapsed().as_secs_f64() / steps);
            }
        }
    }
    let [float32, bfloat16] = seconds.map(|s| median(&s));
    Ok(StepTimes { float32, bfloat16 })
}

/// Median of `values` (the upper middle one for an even count, as the Python references take it:
/// `bench/common.py`); NaN when empty. The workspace's one median.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Trains `cfg.model` on MNIST's training set (validation held out as `cfg` says), printing
/// progress, and saves weights and history in `out`. Nothing is saved if training fails.
pub fn train_and_save(cfg: &Recipe, data: &Mnist, out: &Path) -> Result<TrainedRun> {
    let t = &cfg.train;
    let (train, val) = training_split(cfg.model.name(), data, t)?;
    println!("{}", mnist_helpers::subnormals::status()); // what the load hook switched on
    let (mut net, choice) = seeded_network(cfg, &train, mnist_helpers::device())?;
    if let Some(choice) = choice {
        println!("{}: {}", cfg.model, choice.describe());
    }
    let mut progress = ProgressPrinter::new(t.epochs, train.len().div_ceil(t.batch_size));
    let history = fit(&mut net, &train, &val, cfg, &mut progress)?;
    let name = cfg.model.name();
    let (weights, history_file) = (weights_path(out, name), history_path(out, name));
    save_network(&net, &weights)?;
    save_history(&history, &history_file)?;
    Ok(TrainedRun {
        net,
        history,
        weights,
        history_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(&[]).is_nan());
    }
}
