//! The engine's recipes: which network, with which training configuration.

use crate::network::ModelKind;
use crate::precision;
use anyhow::Result;
use mnist_helpers::config::{Schedule, TrainConfig};
use serde::{Deserialize, Serialize};

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
