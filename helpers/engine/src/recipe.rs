//! The engine's recipes (which network, with which training configuration) and one run end to
//! end: split, seeded network, training with progress, weights and history saved.

use crate::network::{ModelKind, Network};
use crate::trainer::{fit, print_progress};
use crate::weights::save_network;
use anyhow::Result;
use mnist_helpers::artifacts::{history_path, save_history, weights_path};
use mnist_helpers::config::{Schedule, TrainConfig};
use mnist_helpers::data::Mnist;
use mnist_helpers::history::History;
use mnist_helpers::train::training_split;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A network and how to train it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Which network.
    pub model: ModelKind,
    /// Epochs, batch size, learning rate and the rest, as the notebooks' `fit` takes them.
    #[serde(flatten)]
    pub train: TrainConfig,
}

impl Recipe {
    /// The default recipe of `model`: the notebooks' for the MLP and the CNN; for the deep CNN,
    /// 12 epochs of augmented images, batch 128, a one-cycle learning rate peaking at 6e-3.
    pub fn for_model(model: ModelKind) -> Self {
        let train = match model {
            ModelKind::Mlp => TrainConfig::mlp_recipe(),
            ModelKind::Cnn => TrainConfig::cnn_recipe(),
            ModelKind::DeepCnn => TrainConfig {
                epochs: 12,
                batch_size: 128,
                learning_rate: 6e-3,
                schedule: Schedule::OneCycle,
                ..TrainConfig::default()
            },
        };
        Recipe { model, train }
    }

    /// [`Recipe::for_model`] with the `MNIST_*` environment overrides applied.
    pub fn from_env(model: ModelKind) -> Result<Self> {
        let train = Self::for_model(model).train.with_env()?;
        Ok(Recipe { model, train })
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

/// Trains `cfg.model` on MNIST's training set (validation held out as `cfg` says), printing
/// progress, and saves weights and history in `out`. Nothing is saved if training fails.
pub fn train_and_save(cfg: &Recipe, data: &Mnist, out: &Path) -> Result<TrainedRun> {
    let t = &cfg.train;
    let (train, val) = training_split(cfg.model.name(), data, t)?;
    let mut net = Network::seeded(cfg.model, mnist_helpers::device(), t.seed);
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
