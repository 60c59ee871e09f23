//! Training any tch network the way tch's own examples do: shuffled mini-batches, cross-entropy
//! on logits, `nn::Adam`'s `backward_step`; validation after every epoch, progress with the time
//! left, a guard against a diverging loss, and the weights and history saved atomically. The
//! epoch loop here is the workspace's only one: the `mnist` command runs it with its own [`Step`].

use crate::config::TrainConfig;
use crate::data::{Mnist, Split};
use crate::display::shown;
use crate::history::{EpochStats, History};
use crate::progress::{ProgressPrinter, Report};
use crate::shapes::{check_fits, to_device};
use crate::stop::{self, Stopped};
use anyhow::{bail, Result};
use std::time::Instant;
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// Optimiser steps between two checks that the loss is still finite (and progress reports).
const CHECK_EVERY: usize = 100;
/// Images per batch when measuring loss and accuracy (no gradients, so larger is fine).
pub const EVAL_BATCH: i64 = 1000;

/// Trains `net` (whose variables are in `vs`) on MNIST as `cfg` says, as Keras' `fit` does:
/// holds out the validation part, runs the epochs with progress, and returns the history of the
/// run `name` (the network keeps its weights; [`crate::artifacts::save_model`] saves both). Stops
/// with an error if the loss stops being a finite number. The stop button ([`crate::stop`]) ends
/// the run after the current batch: `fit` then returns the completed epochs' history.
pub fn fit(
    name: &str,
    net: &(impl ModuleT + ?Sized),
    vs: &nn::VarStore,
    data: &Mnist,
    cfg: &TrainConfig,
) -> Result<History> {
    let run = || -> Result<History> {
        let (train, val) = training_split(name, data, cfg)?;
        let step = tch_step(net, vs, &train, cfg)?;
        let _stoppable = stop::listen();
        let mut printer = ProgressPrinter::new(cfg.epochs, train.len().div_ceil(cfg.batch_size));
        // With gradients on, whatever an earlier cell's panic inside `tch::no_grad` left behind.
        tch::with_grad(|| Ok(train_epochs(name, step, &train, &val, cfg, &mut printer)?.0))
    };
    shown(run())
}

/// The notebooks' step for `net` (variables in `vs`), after checking that it fits MNIST.
pub fn tch_step<'a, N: ModuleT + ?Sized>(
    net: &'a N,
    vs: &nn::VarStore,
    train: &Split,
    cfg: &TrainConfig,
) -> Result<TchStep<'a, N>> {
    let device = vs.device(); // data goes where the network's variables are
    let first = train.images.narrow(0, 0, train.len().min(2) as i64); // [2, 1, 28, 28]
    check_fits(net, Some(vs), &to_device(&first, device)?)?;
    let opt = nn::Adam::default().build(vs, cfg.learning_rate)?;
    Ok(TchStep {
        net,
        opt,
        device,
        totals: zero_totals(device),
    })
}

/// A loss sum and a count of right answers, both zero, on `device`: the sum in double precision
/// (as the loop summed it when it read every batch back) where the device has it, else float.
fn zero_totals(device: Device) -> (Tensor, Tensor) {
    let kind = match device {
        Device::Mps => Kind::Float, // Apple's GPU has no float64
        _ => Kind::Double,
    };
    (
        Tensor::zeros([], (kind, device)),
        Tensor::zeros([], (Kind::Int64, device)),
    )
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

/// What the epoch loop asks of a network: one optimiser step on a batch, and its loss and
/// accuracy on a split. The notebooks' step is [`TchStep`] (plain tch); the `mnist` command's
/// engine brings its own (a hand-written MLP step, its own Adam) to the same loop.
pub trait Step {
    /// Where the network's variables are: the loop moves each batch there.
    fn device(&self) -> Device;
    /// One optimiser step at learning rate `lr` on `images` ([batch, 1, 28, 28]) and `labels`
    /// ([batch]); the batch's summed loss and right answers join the epoch's running totals.
    fn step(&mut self, images: &Tensor, labels: &Tensor, lr: f64) -> Result<()>;
    /// The epoch's summed loss and right answers so far, read back (from the device, for a
    /// network off the CPU): the loop asks once per progress update, not after every batch, so
    /// that a GPU is not made to wait.
    fn totals(&self) -> Result<(f64, i64)>;
    /// Sets the running totals to zero (at the start of an epoch).
    fn new_epoch(&mut self);
    /// Mean loss and accuracy (percent) on `split`, without dropout or gradients.
    fn evaluate(&mut self, split: &Split) -> Result<(f64, f64)>;
}

/// A training run, one epoch at a time: the step, the training images and the settings. Starting
/// one seeds libtorch's generator from `cfg.seed`, so shuffling and dropout repeat per seed; a run
/// listens to the stop button for as long as it lives.
pub struct Run<'a, S: Step> {
    /// The step that trains the network.
    pub step: S,
    train: &'a Split,
    cfg: &'a TrainConfig,
    /// Epochs completed so far.
    pub epoch: usize,
    stop: stop::Listening,
}

impl<'a, S: Step> Run<'a, S> {
    /// Checks `cfg` and seeds libtorch's generator; trains on all of `train`.
    pub fn new(step: S, train: &'a Split, cfg: &'a TrainConfig) -> Result<Self> {
        cfg.validate()?;
        tch::manual_seed((cfg.seed as i64).wrapping_add(1));
        Ok(Run {
            step,
            train,
            cfg,
            epoch: 0,
            stop: stop::listen(),
        })
    }

    /// The next epoch: (mean loss, accuracy in percent) on the training images.
    pub fn next_epoch(&mut self, report: &mut dyn Report) -> Result<(f64, f64)> {
        self.epoch += 1;
        let epoch = (self.epoch, &self.stop);
        train_epoch(&mut self.step, self.train, self.cfg, epoch, report)
    }
}

/// The epochs of a run: train, validate, report; returns the history, and where the stop button
/// ended the run if it did (after printing one line that says so).
pub fn train_epochs(
    name: &str,
    step: impl Step,
    train: &Split,
    val: &Split,
    cfg: &TrainConfig,
    report: &mut dyn Report,
) -> Result<(History, Option<Stopped>)> {
    let mut run = Run::new(step, train, cfg)?;
    let mut history = History {
        name: name.to_string(),
        config: cfg.clone(),
        epochs: Vec::new(),
    };
    for epoch in 1..=cfg.epochs {
        let start = Instant::now();
        let measured = run
            .next_epoch(report)
            .and_then(|trained| Ok((trained, run.step.evaluate(val)?)));
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
        report.epoch_done(&stats);
        history.epochs.push(stats);
    }
    Ok((history, None))
}

/// The line `fit` prints when the stop button ended a run in `epoch`.
fn stop_line(history: &History, epoch: usize, stopped: &Stopped) -> String {
    format!(
        "stopped in epoch {epoch} of {} ({}, batch {} of {}): the history holds the {} \
         completed epoch(s) and the network its current weights",
        history.config.epochs,
        stopped.what,
        stopped.done,
        stopped.total,
        history.epochs.len()
    )
}

/// The notebooks' training step: a tch network and `nn::Adam` over its variables.
pub struct TchStep<'a, N: ModuleT + ?Sized> {
    /// The network.
    pub net: &'a N,
    /// Adam over the network's variables.
    pub opt: nn::Optimizer,
    /// Where the network's variables are.
    pub device: Device,
    /// The epoch's summed loss and right answers so far ([`Step::totals`]), on the device.
    totals: (Tensor, Tensor),
}

impl<N: ModuleT + ?Sized> Step for TchStep<'_, N> {
    fn step(&mut self, images: &Tensor, labels: &Tensor, lr: f64) -> Result<()> {
        self.opt.set_lr(lr);
        let logits = self.net.forward_t(images, true); // [batch, 10]
        let loss = logits.cross_entropy_for_logits(labels); // []
        self.opt.backward_step(&loss);
        let batch = labels.size()[0] as f64;
        let (loss_sum, correct) = &mut self.totals;
        *loss_sum += loss.detach().to_kind(loss_sum.kind()) * batch; // [], on the device
        *correct += correct_tensor(&logits, labels); // [], on the device
        Ok(())
    }

    fn totals(&self) -> Result<(f64, i64)> {
        let (loss_sum, correct) = &self.totals;
        Ok((f64::try_from(loss_sum)?, i64::try_from(correct)?))
    }

    fn new_epoch(&mut self) {
        self.totals = zero_totals(self.device);
    }

    fn evaluate(&mut self, split: &Split) -> Result<(f64, f64)> {
        evaluate(self.net, split, self.device)
    }

    fn device(&self) -> Device {
        self.device
    }
}

/// One shuffled pass over `train` with `step`, its batches moved to the network's device, for
/// epoch number `epoch.0` of a run that listens with `epoch.1`: returns (mean loss, accuracy in
/// percent).
fn train_epoch(
    step: &mut dyn Step,
    train: &Split,
    cfg: &TrainConfig,
    (epoch, stop): (usize, &stop::Listening),
    report: &mut dyn Report,
) -> Result<(f64, f64)> {
    let steps = train.len().div_ceil(cfg.batch_size);
    let (mut loss_sum, mut correct) = (0.0, 0i64); // read from the step once per progress update
    step.new_epoch();
    let mut batches = tch::data::Iter2::new(&train.images, &train.labels, cfg.batch_size as i64);
    let batches = batches.shuffle().return_smaller_last_batch();
    for (i, (images, labels)) in batches.to_device(step.device()).enumerate() {
        let lr = cfg.lr_at((epoch - 1) * steps + i, cfg.epochs * steps);
        step.step(&images, &labels, lr)?;
        if (i + 1) % CHECK_EVERY == 0 || i + 1 == steps {
            (loss_sum, correct) = step.totals()?; // one read from the device
            check_finite(loss_sum, epoch, i + 1, cfg.learning_rate)?;
            report.step_done(epoch, i + 1);
        }
        stop.check("training", i + 1, steps)?; // the stop button ends the run here
    }
    let n = train.len() as f64;
    Ok((loss_sum / n, 100.0 * correct as f64 / n))
}

/// How many rows of `logits` ([batch, 10]) have their largest score at the label ([batch]).
pub fn count_correct(logits: &Tensor, labels: &Tensor) -> Result<i64> {
    Ok(i64::try_from(&correct_tensor(logits, labels))?)
}

/// [`count_correct`] as a tensor on the logits' device, not read back: [].
fn correct_tensor(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.argmax(-1, false).eq_tensor(labels).sum(Kind::Int64) // []
}

/// Fails when the running loss is no longer a finite number (the run's guard against divergence).
pub(crate) fn check_finite(value: f64, epoch: usize, step: usize, lr: f64) -> Result<()> {
    if !value.is_finite() {
        bail!(
            "training diverged: the loss became {value} in epoch {epoch} by step {step} \
             (learning rate {lr} is probably too high)"
        );
    }
    Ok(())
}

/// Mean cross-entropy and accuracy (percent) of `net` (whose variables are on `device`) on
/// `split`, without dropout or gradients: Keras' `evaluate` (its `predict` is
/// [`crate::metrics::predict`]).
pub fn evaluate(
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
    let stop = stop::listen();
    for (done, start) in (0..n).step_by(EVAL_BATCH as usize).enumerate() {
        stop.check("validation", done, batches)?;
        let len = EVAL_BATCH.min(n - start);
        let images = to_device(&split.images.narrow(0, start, len), device)?; // [len, 1, 28, 28]
        let labels = to_device(&split.labels.narrow(0, start, len), device)?; // [len]
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
        let step = tch_step(&net, &vs, &train, &cfg).unwrap();
        let err = train_epochs("mlp", step, &train, &val, &cfg, &mut ()).unwrap_err();
        assert!(err.to_string().contains("training diverged"), "{err}");
    }

    #[test]
    fn evaluation_matches_libtorch_on_the_whole_split() {
        let split = toy_split(EVAL_BATCH + 37); // a partial last batch
        let vs = nn::VarStore::new(Device::Cpu);
        let net = crate::model::mlp_model(&vs.root());
        let logits = tch::no_grad(|| net.forward_t(&split.images, false)); // [n, 10]
        let want = f64::try_from(&logits.cross_entropy_for_logits(&split.labels)).unwrap();
        let (loss, accuracy) = evaluate(&net, &split, Device::Cpu).unwrap();
        assert!((loss - want).abs() < 1e-4, "{loss} vs {want}");
        let right = count_correct(&logits, &split.labels).unwrap();
        assert!((accuracy - 100.0 * right as f64 / split.len() as f64).abs() < 1e-9);
    }
}
