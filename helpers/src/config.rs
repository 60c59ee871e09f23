//! Training configuration: one home for the defaults, overridable from the environment.

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

/// Everything that defines a training run, as Keras' `fit` arguments do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per optimiser step.
    pub batch_size: usize,
    /// Adam's learning rate (the peak of a one-cycle schedule).
    pub learning_rate: f64,
    /// How the learning rate changes during training.
    #[serde(default)]
    pub schedule: Schedule,
    /// Part of the training set held out for validation.
    pub validation_fraction: f64,
    /// Seed of shuffling, dropout and the validation split.
    pub seed: u64,
    /// Train on only the first N training examples (quick runs); None for all.
    pub train_limit: Option<usize>,
}

/// A learning-rate schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The same learning rate for every step.
    #[default]
    #[serde(alias = "epoch_decay")]
    Constant,
    /// One cycle (Smith 2018, as PyTorch's OneCycleLR): up from lr/25 to lr over the first quarter
    /// of the steps, then down to lr/250,000, both along a cosine.
    OneCycle,
}

impl Default for TrainConfig {
    /// The seed notebook's recipe: 5 epochs, batch 32, Adam 1e-3, 10% validation, seed 42.
    fn default() -> Self {
        TrainConfig {
            epochs: 5,
            batch_size: 32,
            learning_rate: 1e-3,
            schedule: Schedule::Constant,
            validation_fraction: 0.1,
            seed: 42,
            train_limit: None,
        }
    }
}

impl TrainConfig {
    /// The MLP's recipe (the seed notebook's, [`TrainConfig::default`]).
    pub fn mlp_recipe() -> Self {
        Self::default()
    }

    /// The CNN's recipe: batch 128, 4 epochs, a one-cycle learning rate peaking at 6e-3.
    pub fn cnn_recipe() -> Self {
        TrainConfig {
            epochs: 4,
            batch_size: 128,
            learning_rate: 6e-3,
            schedule: Schedule::OneCycle,
            ..Self::default()
        }
    }

    /// The learning rate for optimiser step `step` (0-based) of `total`.
    pub(crate) fn lr_at(&self, step: usize, total: usize) -> f64 {
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::OneCycle => one_cycle(self.learning_rate, step, total),
        }
    }

    /// These values with `MNIST_EPOCHS`, `MNIST_BATCH_SIZE`, `MNIST_LR`, `MNIST_SEED` and
    /// `MNIST_TRAIN_LIMIT` applied where they are set (quick headless runs), then checked.
    pub fn with_env(mut self) -> Result<Self> {
        override_from_env("MNIST_EPOCHS", &mut self.epochs)?;
        override_from_env("MNIST_BATCH_SIZE", &mut self.batch_size)?;
        override_from_env("MNIST_LR", &mut self.learning_rate)?;
        override_from_env("MNIST_SEED", &mut self.seed)?;
        let mut limit = 0usize;
        override_from_env("MNIST_TRAIN_LIMIT", &mut limit)?;
        self.train_limit = (limit > 0).then_some(limit).or(self.train_limit);
        self.validate()?;
        Ok(self)
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

/// A one-cycle schedule shaped like PyTorch's OneCycleLR (div 25, final div 1e4, cosine), with a
/// 25% warm-up where PyTorch's default is 30%, and without its momentum cycling (Adam's betas
/// stay fixed).
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
        let c = TrainConfig::mlp_recipe();
        assert_eq!((c.epochs, c.batch_size, c.learning_rate), (5, 32, 1e-3));
        c.validate().unwrap();
        TrainConfig::cnn_recipe().validate().unwrap();
    }

    #[test]
    fn one_cycle_rises_then_falls() {
        let cfg = TrainConfig::cnn_recipe();
        let lrs: Vec<f64> = (0..100).map(|s| cfg.lr_at(s, 100)).collect();
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
        let base = TrainConfig::default();
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
                validation_fraction: 0.7,
                ..base.clone()
            },
        ];
        for cfg in bad {
            assert!(cfg.validate().is_err(), "{cfg:?} should be rejected");
        }
    }
}
