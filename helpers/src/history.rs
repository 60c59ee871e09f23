//! The record of a training run: its settings and what each epoch measured.

use crate::config::TrainConfig;
use anyhow::Result;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// What one epoch measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training batches (dropout on).
    pub train_loss: f64,
    /// Training accuracy in percent, measured on the fly (dropout on).
    pub train_accuracy: f64,
    /// Cross-entropy on the validation set after the epoch.
    pub val_loss: f64,
    /// Validation accuracy in percent after the epoch.
    pub val_accuracy: f64,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
}

/// The record of a training run: the model's name, its configuration, one row per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The model's name ("mlp", "cnn", ...).
    #[serde(default)]
    pub name: String,
    /// The configuration that produced it.
    pub config: TrainConfig,
    /// One entry per completed epoch.
    pub epochs: Vec<EpochStats>,
}

impl History {
    /// True when the run completed every epoch it was set for (the stop button did not end it).
    pub fn finished(&self) -> bool {
        self.epochs.len() == self.config.epochs
    }

    /// Total training time in seconds.
    pub fn train_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.seconds).sum()
    }

    /// The history as a table: epoch, losses, accuracies (%), seconds.
    pub(crate) fn to_dataframe(&self) -> Result<DataFrame> {
        let col = |f: fn(&EpochStats) -> f64| self.epochs.iter().map(f).collect::<Vec<f64>>();
        let epochs: Vec<u32> = self.epochs.iter().map(|e| e.epoch as u32).collect();
        Ok(df!(
            "epoch" => epochs,
            "train loss" => col(|e| e.train_loss),
            "train accuracy (%)" => col(|e| e.train_accuracy),
            "validation loss" => col(|e| e.val_loss),
            "validation accuracy (%)" => col(|e| e.val_accuracy),
            "seconds" => col(|e| e.seconds),
        )?)
    }
}
