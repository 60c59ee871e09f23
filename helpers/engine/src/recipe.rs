//! The engine's recipes (which network, with which training configuration) and one run end to
//! end: split, seeded network, training with progress, weights and history saved.

use crate::network::{ModelKind, Network};
use crate::precision::{self, Cache, Choice, StepTimes};
use crate::trainer::{fit, print_progress, Trainer};
use crate::weights::save_network;
use anyhow::Result;
use mnist_helpers::artifacts::{history_path, save_history, weights_path};
use mnist_helpers::config::project_path;
use mnist_helpers::config::{Schedule, TrainConfig};
use mnist_helpers::data::{Mnist, Split};
use mnist_helpers::history::History;
use mnist_helpers::train::training_split;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind};

/// Epochs of the deep CNN's recipe.
const EPOCHS_DEEP: usize = 15;

/// A network and how to train it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Which network.
    pub model: ModelKind,
    /// Epochs, batch size, learning rate and the rest, as the notebooks' `fit` takes them.
    #[serde(flatten)]
    pub train: TrainConfig,
    /// Decoupled weight decay of the weight matrices and kernels (AdamW); 0 for none.
    #[serde(default)]
    pub weight_decay: f64,
    /// Label smoothing of the training loss (0.1: the right class gets 0.91, the others 0.01).
    #[serde(default)]
    pub label_smoothing: f64,
}

impl Recipe {
    /// The default recipe of `model`: the notebooks' for the MLP and the CNN; for the deep CNN,
    /// [`EPOCHS_DEEP`] epochs of augmented images, batch 128, a one-cycle learning rate peaking at
    /// 6e-3, weight decay 0.05 and label smoothing 0.1.
    pub fn for_model(model: ModelKind) -> Self {
        let (train, weight_decay, label_smoothing) = match model {
            ModelKind::Mlp => (TrainConfig::mlp_recipe(), 0.0, 0.0),
            ModelKind::Cnn => (TrainConfig::cnn_recipe(), 0.0, 0.0),
            ModelKind::DeepCnn => (
                TrainConfig {
                    epochs: EPOCHS_DEEP,
                    batch_size: 128,
                    learning_rate: 6e-3,
                    schedule: Schedule::OneCycle,
                    ..TrainConfig::default()
                },
                0.05,
                0.1,
            ),
        };
        Recipe {
            model,
            train,
            weight_decay,
            label_smoothing,
        }
    }

    /// [`Recipe::for_model`] with the `MNIST_*` environment overrides applied.
    pub fn from_env(model: ModelKind) -> Result<Self> {
        let recipe = Self::for_model(model);
        let train = recipe.train.with_env()?;
        precision::requested()?; // a bad MNIST_PRECISION stops here, named
        Ok(Recipe { train, ..recipe })
    }

    /// Whether training images are randomly rotated, scaled and shifted (the deep CNN's recipe).
    pub fn augment(&self) -> bool {
        self.model == ModelKind::DeepCnn
    }
}

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
    let mut trainers = [
        Trainer::new(&mut f32_net, &images, &cfg)?,
        Trainer::new(&mut bf16_net, &images, &cfg)?,
    ];
    let mut seconds = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for (trainer, times) in trainers.iter_mut().zip(&mut seconds) {
            let start = Instant::now();
            trainer.run_epoch(&mut |_| {})?;
            if round >= WARM_ROUNDS {
                times.push(start.elapsed().as_secs_f64() / steps);
            }
        }
    }
    let [float32, bfloat16] = seconds.map(median);
    Ok(StepTimes { float32, bfloat16 })
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() % 2 {
        0 => (values[mid - 1] + values[mid]) / 2.0,
        _ => values[mid],
    }
}

/// Trains `cfg.model` on MNIST's training set (validation held out as `cfg` says), printing
/// progress, and saves weights and history in `out`. Nothing is saved if training fails.
pub fn train_and_save(cfg: &Recipe, data: &Mnist, out: &Path) -> Result<TrainedRun> {
    let t = &cfg.train;
    let (train, val) = training_split(cfg.model.name(), data, t)?;
    let (mut net, choice) = seeded_network(cfg, &train, mnist_helpers::device())?;
    if let Some(choice) = choice {
        println!("{}: {}", cfg.model, choice.describe());
    }
    let mut progress = print_progress(t.epochs, train.len().div_ceil(t.batch_size));
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
    fn only_the_deep_cnn_decays_weights_and_smooths_labels() {
        let deep = Recipe::for_model(ModelKind::DeepCnn);
        assert_eq!((deep.weight_decay, deep.label_smoothing), (0.05, 0.1));
        assert_eq!(deep.train.epochs, EPOCHS_DEEP);
        for model in [ModelKind::Mlp, ModelKind::Cnn] {
            let plain = Recipe::for_model(model);
            assert_eq!((plain.weight_decay, plain.label_smoothing), (0.0, 0.0));
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn a_saved_recipe_without_the_new_fields_reads_as_plain_adam() {
        let mut json = serde_json::to_value(Recipe::for_model(ModelKind::Cnn)).unwrap();
        let fields = json.as_object_mut().unwrap();
        fields.remove("weight_decay");
        fields.remove("label_smoothing");
        let back: Recipe = serde_json::from_value(json).unwrap();
        assert_eq!(back, Recipe::for_model(ModelKind::Cnn));
    }
}
