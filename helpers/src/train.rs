//! Training any tch network the way tch's own examples do: shuffled mini-batches, cross-entropy
//! on logits, `nn::Adam`'s `backward_step`; validation after every epoch, progress with the time
//! left, a guard against a diverging loss, and the weights and history saved atomically.

use crate::artifacts::{artifacts_dir, save_trained};
use crate::config::TrainConfig;
use crate::data::{Mnist, Split};
use crate::display::shown;
use crate::history::{EpochStats, History};
use crate::progress::ProgressPrinter;
use crate::shapes::check_fits;
use crate::stop::{self, Stopped};
use anyhow::{bail, Result};
use std::time::Instant;
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// Optimiser steps between two checks that the loss is still finite (and progress reports).
const CHECK_EVERY: usize = 100;
/// Images per batch when measuring loss and accuracy (no gradients, so larger is fine).
pub const EVAL_BATCH: i64 = 1000;

/// Trains `net` (whose variables are in `vs`) on MNIST as `cfg` says: holds out the validation
/// part, runs the epochs with progress, then saves the weights and history under `artifacts/`
/// as `name`. Stops with an error, saving nothing, if the loss stops being a finite number.
/// The stop button ([`crate::stop`]) ends the run after the current batch: `fit` then returns
/// the completed epochs' history (the network keeps its weights) and saves nothing, so that a
/// run stopped by mistake never replaces a finished one (`save_model` saves it on request).
pub fn fit(
    name: &str,
    net: &(impl ModuleT + ?Sized),
    vs: &nn::VarStore,
    data: &Mnist,
    cfg: &TrainConfig,
) -> Result<History> {
    let run = || -> Result<History> {
        let (train, val) = training_split(name, data, cfg)?;
        let _stoppable = stop::listen();
        let (history, stopped) = train_epochs(name, net, vs, &train, &val, cfg)?;
        if stopped.is_none() {
            save_trained(&artifacts_dir(), vs, &history)?;
        }
        Ok(history)
    };
    shown(run())
}

/// The images `cfg` trains on and those it validates on, after checking `cfg`; prints what the
/// run of `name` will be.
pub fn training_split(name: &str, data: &Mnist, cfg: &TrainConfig) -> Result<(Split, Split)> {
    cfg.validate()?;
    let (train, val) = data
        .train
        .train_validation(cfg.validation_fraction, cfg.seed)?;
    let train = train.head(cfg.train_limit.unwrap_or(usize::MAX));
    println!(
        "training {name}: {} epochs, batch {}, Adam lr {}, {} images ({} for validation)",
        cfg.epochs,
        cfg.batch_size,
        cfg.learning_rate,
        train.len(),
        val.len()
    );
    Ok((train, val))
}

/// The epochs of a run: train, validate, report; returns the history, and where the stop button
/// ended the run if it did (after printing one line that says so).
pub fn train_epochs(
    name: &str,
    net: &(impl ModuleT + ?Sized),
    vs: &nn::VarStore,
    train: &Split,
    val: &Split,
    cfg: &TrainConfig,
) -> Result<(History, Option<Stopped>)> {
    let device = vs.device(); // data goes where the network's variables are
    let first = train.images.narrow(0, 0, train.len().min(2) as i64); // [2, 1, 28, 28]
    check_fits(net, Some(vs), &first.to_device(device))?;
    tch::manual_seed((cfg.seed as i64).wrapping_add(1)); // shuffling and dropout repeat per seed
    let mut opt = nn::Adam::default().build(vs, cfg.learning_rate)?;
    let steps = train.len().div_ceil(cfg.batch_size);
    let mut progress = ProgressPrinter::new(cfg.epochs, steps);
    let mut history = History {
        name: name.to_string(),
        config: cfg.clone(),
        epochs: Vec::new(),
    };
    for epoch in 1..=cfg.epochs {
        let start = Instant::now();
        let measured = train_epoch(net, &mut opt, device, train, cfg, epoch, &mut progress)
            .and_then(|trained| Ok((trained, evaluate_loss(net, val, device)?)));
        let ((train_loss, train_accuracy), (val_loss, val_accuracy)) = match measured {
            Ok(figures) => figures,
            Err(err) => match stop::as_stopped(&err) {
                Some(stopped) => {
                    println!("{}", stop_line(&history, epoch, stopped));
                    return Ok((history, Some(stopped.clone())));
                }
                None => return Err(err),
            },
        };
        let stats = EpochStats {
            epoch,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
            seconds: start.elapsed().as_secs_f64(),
        };
        progress.epoch_done(&stats);
        history.epochs.push(stats);
    }
    Ok((history, None))
}

/// The line `fit` prints when the stop button ended a run in `epoch`.
fn stop_line(history: &History, epoch: usize, stopped: &Stopped) -> String {
    format!(
        "stopped in epoch {epoch} of {} ({}, batch {} of {}): the history holds the {} \
         completed epoch(s) and the network its current weights; not saved \
         (save_model(&vs, &history)? saves it)",
        history.config.epochs,
        stopped.what,
        stopped.done,
        stopped.total,
        history.epochs.len()
    )
}

// lesson: training loop
/// One shuffled pass over `train`, its batches moved to `device` (where the network's variables
/// are): returns (mean loss, accuracy in percent).
fn train_epoch(
    net: &(impl ModuleT + ?Sized),
    opt: &mut nn::Optimizer,
    device: Device,
    train: &Split,
    cfg: &TrainConfig,
    epoch: usize,
    progress: &mut ProgressPrinter,
) -> Result<(f64, f64)> {
    let steps = train.len().div_ceil(cfg.batch_size);
    let (mut loss_sum, mut correct) = (0.0, 0i64);
    let mut batches = tch::data::Iter2::new(&train.images, &train.labels, cfg.batch_size as i64);
    let batches = batches.shuffle().return_smaller_last_batch();
    for (step, (images, labels)) in batches.to_device(device).enumerate() {
        opt.set_lr(cfg.lr_at((epoch - 1) * steps + step, cfg.epochs * steps));
        let logits = net.forward_t(&images, true); // [batch, 10]
        let loss = logits.cross_entropy_for_logits(&labels); // []
        opt.backward_step(&loss);
        loss_sum += f64::try_from(&loss)? * labels.size()[0] as f64;
        correct += count_correct(&logits, &labels)?;
        if (step + 1) % CHECK_EVERY == 0 || step + 1 == steps {
            check_finite(loss_sum, epoch, step + 1, cfg.learning_rate)?;
            progress.step_done(epoch, step + 1);
        }
        stop::check("training", step + 1, steps)?; // the stop button ends the run here
    }
    let n = train.len() as f64;
    Ok((loss_sum / n, 100.0 * correct as f64 / n))
}
// end lesson

/// How many rows of `logits` ([batch, 10]) have their largest score at the label ([batch]).
fn count_correct(logits: &Tensor, labels: &Tensor) -> Result<i64> {
    let right = logits.argmax(-1, false).eq_tensor(labels).sum(Kind::Int64); // []
    Ok(i64::try_from(&right)?)
}

/// Fails when the running loss is no longer a finite number (the run's guard against divergence).
pub fn check_finite(value: f64, epoch: usize, step: usize, lr: f64) -> Result<()> {
    if !value.is_finite() {
        bail!(
            "training diverged: the loss became {value} in epoch {epoch} by step {step} \
             (learning rate {lr} is probably too high); nothing was saved"
        );
    }
    Ok(())
}

/// Mean cross-entropy and accuracy (percent) of `net` (whose variables are on `device`) on
/// `split`, without dropout or gradients.
pub fn evaluate_loss(
    net: &(impl ModuleT + ?Sized),
    split: &Split,
    device: Device,
) -> Result<(f64, f64)> {
    if split.is_empty() {
        return Ok((f64::NAN, f64::NAN));
    }
    let (mut loss_sum, mut correct) = (0.0, 0i64);
    let n = split.len() as i64;
    let batches = split.len().div_ceil(EVAL_BATCH as usize);
    for (done, start) in (0..n).step_by(EVAL_BATCH as usize).enumerate() {
        stop::check("validation", done, batches)?;
        let len = EVAL_BATCH.min(n - start);
        let images = split.images.narrow(0, start, len).to_device(device); // [len, 1, 28, 28]
        let labels = split.labels.narrow(0, start, len).to_device(device); // [len]
        let logits = tch::no_grad(|| net.forward_t(&images, false)); // [len, 10]
        loss_sum += f64::try_from(&logits.cross_entropy_for_logits(&labels))? * len as f64;
        correct += count_correct(&logits, &labels)?;
    }
    Ok((loss_sum / n as f64, 100.0 * correct as f64 / n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 600 random "images" whose label is decided by which quarter holds the most ink: learnable.
    fn toy_split(n: i64) -> Split {
        let images = Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu)); // [n, 1, 28, 28]
        let quarters = images
            .view([n, 4, 196])
            .sum_dim_intlist(-1, false, Kind::Float); // [n, 4]
        Split {
            labels: quarters.argmax(-1, false),
            images,
        }
    }

    #[test]
    fn a_diverging_run_stops_with_a_message() {
        let (train, val) = (toy_split(400), toy_split(50));
        let cfg = TrainConfig {
            epochs: 2,
            learning_rate: 1e30,
            ..TrainConfig::default()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let net = crate::model::mlp_model(&vs.root());
        let err = train_epochs("mlp", &net, &vs, &train, &val, &cfg).unwrap_err();
        assert!(err.to_string().contains("training diverged"), "{err}");
    }

    #[test]
    fn evaluation_matches_libtorch_on_the_whole_split() {
        let split = toy_split(EVAL_BATCH + 37); // a partial last batch
        let vs = nn::VarStore::new(Device::Cpu);
        let net = crate::model::mlp_model(&vs.root());
        let logits = tch::no_grad(|| net.forward_t(&split.images, false)); // [n, 10]
        let want = f64::try_from(&logits.cross_entropy_for_logits(&split.labels)).unwrap();
        let (loss, accuracy) = evaluate_loss(&net, &split, Device::Cpu).unwrap();
        assert!((loss - want).abs() < 1e-4, "{loss} vs {want}");
        let right = count_correct(&logits, &split.labels).unwrap();
        assert!((accuracy - 100.0 * right as f64 / split.len() as f64).abs() < 1e-9);
    }
}
