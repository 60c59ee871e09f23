//! Training configuration: one home for the defaults, overridable from the environment.

use crate::model::ModelKind;
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The project's root: `$MNIST_ROOT` when set (the kernel and scripts set it), else the nearest
/// directory at or above the current one that holds `helpers/Cargo.toml`, else the current one.
pub fn project_root() -> PathBuf {
    if let Some(root) = std::env::var_os("MNIST_ROOT").filter(|r| !r.is_empty()) {
        return PathBuf::from(root);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|d| d.join("helpers/Cargo.toml").is_file())
        .map_or(cwd.clone(), Path::to_path_buf)
}

/// A path inside the project, e.g. `project_path("data/mnist")`.
pub fn project_path(relative: &str) -> PathBuf {
    project_root().join(relative)
}

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Which architecture to train.
    pub model: ModelKind,
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per optimiser step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Factor applied to the learning rate after each epoch (1.0 keeps it constant).
    pub lr_decay: f64,
    /// Dropout rate of the model.
    pub dropout: f64,
    /// Seed of weights, shuffling, dropout and the validation split.
    pub seed: u64,
    /// Part of the training set held out for validation.
    pub validation_fraction: f64,
    /// Train on only the first N training examples (quick runs); None for all.
    pub train_limit: Option<usize>,
    /// How the learning rate changes during training.
    #[serde(default)]
    pub schedule: Schedule,
    /// Random rotation, scale and shift of every training image (see [`crate::augment`]).
    #[serde(default)]
    pub augment: bool,
}

/// A learning-rate schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `learning_rate` times `lr_decay` to the power of the finished epochs.
    #[default]
    EpochDecay,
    /// One cycle (Smith 2018, as PyTorch's OneCycleLR): up from lr/25 to lr over the first quarter
    /// of the steps, then down to lr/250,000, both along a cosine.
    OneCycle,
}

impl TrainConfig {
    /// The learning rate for optimiser step `step` (0-based) of `total`, in epoch `epoch` (1-based).
    pub fn lr_at(&self, epoch: usize, step: usize, total: usize) -> f64 {
        match self.schedule {
            Schedule::EpochDecay => self.learning_rate * self.lr_decay.powi(epoch as i32 - 1),
            Schedule::OneCycle => one_cycle(self.learning_rate, step, total),
        }
    }
}

/// PyTorch's OneCycleLR with its defaults (25% warm-up, div 25, final div 1e4, cosine).
fn one_cycle(max_lr: f64, step: usize, total: usize) -> f64 {
    let (start, end) = (max_lr / 25.0, max_lr / 25.0 / 1e4);
    let warm = ((0.25 * total as f64) - 1.0).max(1.0);
    let cos_between = |from: f64, to: f64, frac: f64| {
        to + (from - to) / 2.0 * (1.0 + (std::f64::consts::PI * frac).cos())
    };
    let step = step as f64;
    if step <= warm {
        cos_between(start, max_lr, step / warm)
    } else {
        let rest = (total as f64 - 1.0 - warm).max(1.0);
        cos_between(max_lr, end, ((step - warm) / rest).min(1.0))
    }
}

impl TrainConfig {
    /// The recipe for `model`: the seed notebook's for the MLP (5 epochs, batch 32, Adam 1e-3,
    /// dropout 0.2); for the CNN, batch 128, 4 epochs, a one-cycle learning rate peaking at 6e-3.
    pub fn for_model(model: ModelKind) -> Self {
        let seed_recipe = TrainConfig {
            model,
            epochs: 5,
            batch_size: 32,
            learning_rate: 1e-3,
            lr_decay: 1.0,
            dropout: 0.2,
            seed: 42,
            validation_fraction: 0.1,
            train_limit: None,
            schedule: Schedule::EpochDecay,
            augment: false,
        };
        match model {
            ModelKind::Mlp => seed_recipe,
            ModelKind::DeepCnn => TrainConfig {
                epochs: 12,
                batch_size: 128,
                learning_rate: 6e-3,
                schedule: Schedule::OneCycle,
                dropout: 0.2,
                augment: true,
                ..seed_recipe
            },
            ModelKind::Cnn => TrainConfig {
                epochs: 4,
                batch_size: 128,
                learning_rate: 6e-3,
                schedule: Schedule::OneCycle,
                dropout: 0.0,
                ..seed_recipe
            },
        }
    }

    /// The best CNN recipe: the deeper CNN, 12 epochs of randomly rotated, scaled and shifted
    /// images, dropout 0.2, a one-cycle learning rate peaking at 6e-3.
    pub fn best_cnn() -> Self {
        Self::for_model(ModelKind::DeepCnn)
    }

    /// The defaults for `model` with `MNIST_EPOCHS`, `MNIST_BATCH_SIZE`, `MNIST_LR`, `MNIST_SEED`
    /// and `MNIST_TRAIN_LIMIT` applied where they are set.
    pub fn from_env(model: ModelKind) -> Result<Self> {
        let mut cfg = Self::for_model(model);
        override_from_env("MNIST_EPOCHS", &mut cfg.epochs)?;
        override_from_env("MNIST_BATCH_SIZE", &mut cfg.batch_size)?;
        override_from_env("MNIST_LR", &mut cfg.learning_rate)?;
        override_from_env("MNIST_SEED", &mut cfg.seed)?;
        let mut limit = 0usize;
        override_from_env("MNIST_TRAIN_LIMIT", &mut limit)?;
        cfg.train_limit = (limit > 0).then_some(limit).or(cfg.train_limit);
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks that every value makes sense, naming the first that does not.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            (1..=10_000).contains(&self.epochs),
            "epochs must be 1 to 10000, got {}",
            self.epochs
        );
        ensure!(
            (1..=60_000).contains(&self.batch_size),
            "batch size must be 1 to 60000, got {}",
            self.batch_size
        );
        ensure!(
            self.learning_rate.is_finite() && self.learning_rate > 0.0,
            "learning rate must be a positive number, got {}",
            self.learning_rate
        );
        ensure!(
            self.lr_decay.is_finite() && self.lr_decay > 0.0 && self.lr_decay <= 1.0,
            "learning rate decay must be in (0, 1], got {}",
            self.lr_decay
        );
        ensure!(
            (0.0..1.0).contains(&self.dropout),
            "dropout must be in [0, 1), got {}",
            self.dropout
        );
        ensure!(
            (0.0..0.5).contains(&self.validation_fraction),
            "validation fraction must be in [0, 0.5), got {}",
            self.validation_fraction
        );
        ensure!(
            self.train_limit != Some(0),
            "train limit must be at least 1"
        );
        Ok(())
    }
}

/// Replaces `value` with the parsed environment variable `name` when it is set and not empty.
fn override_from_env<T: std::str::FromStr>(name: &str, value: &mut T) -> Result<()>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => {
            *value = text
                .trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("environment variable {name}={text:?} is not valid"))?;
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed_recipe() {
        let c = TrainConfig::for_model(ModelKind::Mlp);
        assert_eq!(
            (c.epochs, c.batch_size, c.learning_rate, c.dropout),
            (5, 32, 1e-3, 0.2)
        );
        c.validate().unwrap();
        TrainConfig::for_model(ModelKind::Cnn).validate().unwrap();
    }

    #[test]
    fn one_cycle_rises_then_falls() {
        let cfg = TrainConfig {
            schedule: Schedule::OneCycle,
            ..TrainConfig::for_model(ModelKind::Cnn)
        };
        let lrs: Vec<f64> = (0..100).map(|s| cfg.lr_at(1, s, 100)).collect();
        let peak = lrs.iter().cloned().fold(0.0, f64::max);
        assert!((peak - cfg.learning_rate).abs() < 1e-12);
        assert!((lrs[0] - cfg.learning_rate / 25.0).abs() < 1e-12);
        assert!(lrs[99] < cfg.learning_rate / 1e5);
        let top = lrs.iter().position(|&l| l == peak).unwrap();
        assert!((20..30).contains(&top));
        assert!(lrs[..=top].windows(2).all(|w| w[0] <= w[1]));
        assert!(lrs[top..].windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn rejects_bad_values() {
        let base = TrainConfig::for_model(ModelKind::Mlp);
        let bad = [
            TrainConfig {
                epochs: 0,
                ..base.clone()
            },
            TrainConfig {
                batch_size: 0,
                ..base.clone()
            },
            TrainConfig {
                learning_rate: f64::NAN,
                ..base.clone()
            },
            TrainConfig {
                learning_rate: -1.0,
                ..base.clone()
            },
            TrainConfig {
                dropout: 1.0,
                ..base.clone()
            },
        ];
        for cfg in bad {
            assert!(cfg.validate().is_err(), "{cfg:?} should be rejected");
        }
    }
}
