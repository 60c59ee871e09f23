//! The engine's recipes (which network, with which training configuration) and one run end to
//! end: split, seeded network, training with progress, weights and history saved.

use crate::deep_cnn::{precision_name, training_kind, PRECISION_VAR};
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
        training_kind(mnist_helpers::device())?; // a bad MNIST_PRECISION stops here, named
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

/// Trains `cfg.model` on MNIST's training set (validation held out as `cfg` says), printing
/// progress, and saves weights and history in `out`. Nothing is saved if training fails.
pub fn train_and_save(cfg: &Recipe, data: &Mnist, out: &Path) -> Result<TrainedRun> {
    let t = &cfg.train;
    let (train, val) = training_split(cfg.model.name(), data, t)?;
    let device = mnist_helpers::device();
    let mut net = Network::seeded(cfg.model, device, t.seed);
    if cfg.model == ModelKind::DeepCnn {
        let kind = training_kind(device)?;
        let name = precision_name(kind);
        println!(
            "{}: training pass in {name} ({PRECISION_VAR}=bf16|f32|auto chooses)",
            cfg.model
        );
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
    fn a_saved_recipe_without_the_new_fields_reads_as_plain_adam() {
        let mut json = serde_json::to_value(Recipe::for_model(ModelKind::Cnn)).unwrap();
        let fields = json.as_object_mut().unwrap();
        fields.remove("weight_decay");
        fields.remove("label_smoothing");
        let back: Recipe = serde_json::from_value(json).unwrap();
        assert_eq!(back, Recipe::for_model(ModelKind::Cnn));
    }
}
