//! Training: Adam on cross-entropy, shuffled mini-batches, validation after every epoch.

use crate::config::TrainConfig;
use crate::data::Split;
use crate::model::{ModelKind, Network};
use anyhow::{bail, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::time::{Duration, Instant};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// Optimiser steps between two checks that the loss is still finite (and progress reports).
const CHECK_EVERY: usize = 100;
/// Batch size for validation and evaluation passes (no gradients, so larger is fine).
pub const EVAL_BATCH: i64 = 1000;

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The record of a training run: its configuration and one row per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The configuration that produced it.
    pub config: TrainConfig,
    /// One entry per completed epoch.
    pub epochs: Vec<EpochStats>,
}

/// A progress report from [`fit`].
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Part of an epoch is done.
    Step {
        epoch: usize,
        epochs: usize,
        done: usize,
        total: usize,
    },
    /// An epoch has finished.
    Epoch {
        stats: &'a EpochStats,
        epochs: usize,
    },
}

impl History {
    /// Which model was trained.
    pub fn model(&self) -> ModelKind {
        self.config.model
    }

    /// Total training time in seconds.
    pub fn train_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.seconds).sum()
    }

    /// The history as a table: epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds.
    pub fn to_dataframe(&self) -> Result<DataFrame> {
        let col = |f: fn(&EpochStats) -> f64| self.epochs.iter().map(f).collect::<Vec<f64>>();
        let epochs: Vec<u32> = self.epochs.iter().map(|e| e.epoch as u32).collect();
        Ok(df!(
            "epoch" => epochs,
            "train_loss" => col(|e| e.train_loss),
            "train_accuracy" => col(|e| e.train_accuracy),
            "val_loss" => col(|e| e.val_loss),
            "val_accuracy" => col(|e| e.val_accuracy),
            "seconds" => col(|e| e.seconds),
        )?)
    }
}

/// Trains `net` on `train` as `cfg` says, validating on `val` after each epoch. Shuffling and
/// dropout are seeded from `cfg.seed`; create `net` with [`Network::seeded`] for repeatable runs.
/// Stops with an error (and changes nothing on disk) if the loss turns NaN or infinite.
pub fn fit(
    net: &mut Network,
    train: &Split,
    val: &Split,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<History> {
    cfg.validate()?;
    tch::manual_seed(cfg.seed.wrapping_add(1) as i64);
    let train = cfg
        .train_limit
        .map_or_else(|| train.head(train.len()), |n| train.head(n));
    let mut opt = nn::Adam::default().build(&net.vs, cfg.learning_rate)?;
    let mut history = History {
        config: cfg.clone(),
        epochs: Vec::new(),
    };
    for epoch in 1..=cfg.epochs {
        opt.set_lr(cfg.learning_rate * cfg.lr_decay.powi(epoch as i32 - 1));
        let start = Instant::now();
        let (train_loss, train_accuracy) =
            train_epoch(net, &mut opt, &train, cfg, epoch, progress)?;
        let (val_loss, val_accuracy) = evaluate_loss(net, val);
        let seconds = start.elapsed().as_secs_f64();
        let stats = EpochStats {
            epoch,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
            seconds,
        };
        progress(Progress::Epoch {
            stats: &stats,
            epochs: cfg.epochs,
        });
        history.epochs.push(stats);
    }
    Ok(history)
}

/// One shuffled pass over `train`: returns (mean loss, accuracy in percent).
fn train_epoch(
    net: &mut Network,
    opt: &mut nn::Optimizer,
    train: &Split,
    cfg: &TrainConfig,
    epoch: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<(f64, f64)> {
    let device = net.vs.device();
    let n = train.len() as i64;
    let order = Tensor::randperm(n, (Kind::Int64, Device::Cpu)); // [n]
    let images = train.images.index_select(0, &order).to_device(device); // [n, 1, 28, 28]
    let labels = train.labels.index_select(0, &order).to_device(device); // [n]
    let bs = cfg.batch_size as i64;
    let total = n.div_euclid(bs) as usize + usize::from(n % bs != 0);
    let mut loss_sum = Tensor::zeros([], (Kind::Float, device));
    let mut correct = Tensor::zeros([], (Kind::Int64, device));
    for step in 0..total {
        let start = step as i64 * bs;
        let len = bs.min(n - start);
        let x = images.narrow(0, start, len); // [len, 1, 28, 28]
        let y = labels.narrow(0, start, len); // [len]
        let logits = net.model.logits(&x, true); // [len, 10]
        let loss = logits.cross_entropy_for_logits(&y); // []
        opt.backward_step(&loss);
        loss_sum += loss.detach() * len as f64;
        correct += logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64);
        if (step + 1) % CHECK_EVERY == 0 || step + 1 == total {
            check_finite(&loss_sum, epoch, step + 1, cfg.learning_rate)?;
            progress(Progress::Step {
                epoch,
                epochs: cfg.epochs,
                done: step + 1,
                total,
            });
        }
    }
    let mean_loss = loss_sum.double_value(&[]) / n as f64;
    Ok((
        mean_loss,
        100.0 * correct.int64_value(&[]) as f64 / n as f64,
    ))
}

/// Fails when the running loss is no longer a finite number.
fn check_finite(loss_sum: &Tensor, epoch: usize, step: usize, lr: f64) -> Result<()> {
    let value = loss_sum.double_value(&[]);
    if !value.is_finite() {
        bail!(
            "training diverged: the loss became {value} in epoch {epoch} by step {step} \
             (learning rate {lr} is probably too high); nothing was saved"
        );
    }
    Ok(())
}

/// Mean cross-entropy and accuracy (percent) of `net` on `split`, without dropout.
pub fn evaluate_loss(net: &Network, split: &Split) -> (f64, f64) {
    if split.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let (images, labels) = (&split.images, &split.labels.to_device(net.vs.device()));
    let n = split.len() as i64;
    let mut loss_sum = 0.0;
    let mut correct = 0;
    for start in (0..n).step_by(EVAL_BATCH as usize) {
        let len = EVAL_BATCH.min(n - start);
        let logits = net.logits(&images.narrow(0, start, len)); // [len, 10]
        let y = labels.narrow(0, start, len); // [len]
        loss_sum += logits.cross_entropy_for_logits(&y).double_value(&[]) * len as f64;
        correct += logits
            .argmax(-1, false)
            .eq_tensor(&y)
            .sum(Kind::Int64)
            .int64_value(&[]);
    }
    (loss_sum / n as f64, 100.0 * correct as f64 / n as f64)
}

/// A progress printer for terminals and notebooks: one line per epoch, and a line within an epoch
/// at most every `every` (so long epochs show they are moving).
pub fn print_progress(every: Duration) -> impl FnMut(Progress) {
    let mut last = Instant::now();
    move |p| {
        match p {
            Progress::Step { epoch, epochs, done, total } if last.elapsed() >= every && done < total => {
                println!("  epoch {epoch}/{epochs}: {:>3.0}% of batches", 100.0 * done as f64 / total as f64);
            }
            Progress::Step { .. } => return,
            Progress::Epoch { stats: s, epochs } => println!(
                "epoch {}/{epochs}: loss {:.4}, accuracy {:.2}% | validation loss {:.4}, accuracy {:.2}% | {:.1} s",
                s.epoch, s.train_loss, s.train_accuracy, s.val_loss, s.val_accuracy, s.seconds
            ),
        }
        last = Instant::now();
        let _ = std::io::stdout().flush();
    }
}
