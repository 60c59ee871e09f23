//! One training run end to end: split, seeded model, fit with progress, save weights and history.

use crate::artifacts::{history_path, save_history, save_network, weights_path};
use crate::config::TrainConfig;
use crate::data::Mnist;
use crate::model::Network;
use crate::train::{fit, print_progress, History};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
pub fn train_and_save(cfg: &TrainConfig, data: &Mnist, out: &Path) -> Result<TrainedRun> {
    let (train, val) = data
        .train
        .train_validation(cfg.validation_fraction, cfg.seed)?;
    let images = cfg.train_limit.unwrap_or(train.len()).min(train.len());
    println!(
        "training {}: {} epochs, batch {}, Adam lr {}, {images} images ({} for validation)",
        cfg.model,
        cfg.epochs,
        cfg.batch_size,
        cfg.learning_rate,
        val.len()
    );
    let mut net = Network::seeded(
        cfg.model,
        cfg.dropout,
        tch::Device::cuda_if_available(),
        cfg.seed,
    );
    let mut progress = print_progress(Duration::from_secs(5));
    let history = fit(&mut net, &train, &val, cfg, &mut progress)?;
    let (weights, history_file) = (weights_path(out, cfg.model), history_path(out, cfg.model));
    save_network(&net, &weights)?;
    save_history(&history, &history_file)?;
    Ok(TrainedRun {
        net,
        history,
        weights,
        history_file,
    })
}
