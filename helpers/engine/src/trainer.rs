//! The engine's training loop: the MLP's hand-written step and Adam in Rust on the CPU (autograd
//! and the same Adam for the CNNs), shuffled mini-batches, validation after every epoch. It fills
//! the same [`History`] as the notebooks' `fit`.

use crate::augment::Affine;
use crate::network::Network;
use crate::optim::{Adam, AdamConfig};
use crate::recipe::Recipe;
use anyhow::Result;
use mnist_helpers::data::{Split, LABELS};
use mnist_helpers::history::{EpochStats, History};
use mnist_helpers::progress::ProgressPrinter;
use mnist_helpers::rng::SplitMix64;
use mnist_helpers::train::check_finite;
use std::time::Instant;
use tch::{Device, Kind, Reduction, Tensor};

/// Optimiser steps between two checks that the loss is still finite (and progress reports).
const CHECK_EVERY: usize = 100;

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

/// Trains `net` on `train` as `cfg` says, validating on `val` after each epoch. Shuffling and
/// dropout are seeded from `cfg.seed`; create `net` with [`Network::seeded`] for repeatable runs.
/// Stops with an error (and changes nothing on disk) if the loss turns NaN or infinite.
pub fn fit(
    net: &mut Network,
    train: &Split,
    val: &Split,
    cfg: &Recipe,
    progress: &mut dyn FnMut(Progress),
) -> Result<History> {
    let mut trainer = Trainer::new(net, train, cfg)?;
    let mut history = History {
        name: cfg.model.name().to_string(),
        config: cfg.train.clone(),
        epochs: Vec::new(),
    };
    for _ in 0..cfg.train.epochs {
        let start = Instant::now();
        let (train_loss, train_accuracy) = trainer.run_epoch(progress)?;
        let (val_loss, val_accuracy) = validation_loss(trainer.net, val);
        let stats = EpochStats {
            epoch: trainer.epoch,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
            seconds: start.elapsed().as_secs_f64(),
        };
        progress(Progress::Epoch {
            stats: &stats,
            epochs: cfg.train.epochs,
        });
        history.epochs.push(stats);
    }
    Ok(history)
}

/// Training one epoch at a time, for callers that look at the model between epochs (the
/// benchmark measures test accuracy after each). [`fit`] is built on it.
pub struct Trainer<'a> {
    /// The network being trained.
    pub net: &'a mut Network,
    opt: Adam,
    train: Split,
    cfg: Recipe,
    /// Dropout masks of steps computed without autograd.
    rng: SplitMix64,
    /// Epochs completed so far.
    pub epoch: usize,
}

impl<'a> Trainer<'a> {
    /// Checks `cfg`, seeds shuffling and dropout, and prepares Adam for `net`.
    pub fn new(net: &'a mut Network, train: &Split, cfg: &Recipe) -> Result<Self> {
        cfg.train.validate()?;
        tch::manual_seed(cfg.train.seed.wrapping_add(1) as i64);
        let train = train.head(cfg.train.train_limit.unwrap_or(usize::MAX));
        let opt = Adam::new(
            &net.vs,
            AdamConfig {
                weight_decay: cfg.weight_decay,
                ..AdamConfig::with_lr(cfg.train.learning_rate)
            },
        );
        Ok(Trainer {
            net,
            opt,
            train,
            cfg: cfg.clone(),
            rng: SplitMix64::new(cfg.train.seed ^ 0x000D_50F0_u64),
            epoch: 0,
        })
    }

    /// One shuffled pass over the training set: returns (mean loss, accuracy in percent).
    pub fn run_epoch(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<(f64, f64)> {
        self.epoch += 1;
        let (cfg, augment) = (self.cfg.train.clone(), self.cfg.augment());
        let device = self.net.vs.device();
        let n = self.train.len() as i64;
        let order = Tensor::randperm(n, (Kind::Int64, Device::Cpu)); // [n]
        let images = self.train.images.index_select(0, &order).to_device(device); // [n, 1, 28, 28]
        let labels = self.train.labels.index_select(0, &order); // [n]
        let label_values = Vec::<i64>::try_from(&labels)?;
        let labels = labels.to_device(device);
        let bs = cfg.batch_size as i64;
        let total = (n + bs - 1) / bs;
        let (mut loss_sum, mut correct) = (0.0, 0);
        let steps_before = (self.epoch - 1) * total as usize;
        for step in 0..total {
            let done_steps = steps_before + step as usize;
            self.opt.config.lr = cfg.lr_at(done_steps, cfg.epochs * total as usize);
            let start = step * bs;
            let len = bs.min(n - start);
            let x = images.narrow(0, start, len); // [len, 1, 28, 28]
            let x = if augment {
                Affine::default().apply(&x)
            } else {
                x
            };
            let y = labels.narrow(0, start, len); // [len]
            let (batch_loss, batch_correct) =
                self.step(&x, &y, &label_values[start as usize..][..len as usize])?;
            loss_sum += batch_loss;
            correct += batch_correct;
            let done = step as usize + 1;
            if done.is_multiple_of(CHECK_EVERY) || done == total as usize {
                check_finite(loss_sum, self.epoch, done, cfg.learning_rate)?;
                progress(Progress::Step {
                    epoch: self.epoch,
                    epochs: cfg.epochs,
                    done,
                    total: total as usize,
                });
            }
        }
        Ok((loss_sum / n as f64, 100.0 * correct as f64 / n as f64))
    }
}

impl Trainer<'_> {
    /// One optimiser step on images `x` ([b, 1, 28, 28]) with labels `y` ([b], and the same as
    /// `label_values`): the model's own step where it has one, else autograd. Returns (loss sum,
    /// correct count) of the batch.
    fn step(&mut self, x: &Tensor, y: &Tensor, label_values: &[i64]) -> Result<(f64, usize)> {
        if let Some(step) = self.net.model.manual_step(x, label_values, &mut self.rng) {
            let step = step?;
            self.opt.step_pairs(&step.grads)?;
            return Ok((step.loss_sum, step.correct));
        }
        let logits = self.net.model.logits(x, true); // [b, 10]
        let smoothing = self.cfg.label_smoothing;
        let loss = logits.cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, smoothing); // []
        self.opt.backward_step(&loss)?;
        let batch = label_values.len() as f64;
        Ok((
            loss.double_value(&[]) * batch,
            count_correct(&logits, label_values),
        ))
    }
}

/// How many rows of `logits` ([len, 10]) have their largest value at the row's label.
fn count_correct(logits: &Tensor, labels: &[i64]) -> usize {
    copy_to_vec::<f32>(logits)
        .chunks_exact(LABELS as usize)
        .zip(labels)
        .filter(|(row, &label)| argmax(row).0 == label as usize)
        .count()
}

/// Index and value of the largest entry (the first one on ties, as libtorch's argmax).
pub fn argmax(row: &[f32]) -> (usize, f32) {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        })
}

/// Mean cross-entropy and accuracy (percent) of `net` on `split`, without dropout, as the network
/// predicts (the deep CNN with its test-time shifts).
pub fn evaluate_loss(net: &Network, split: &Split) -> (f64, f64) {
    loss_over(split, net.eval_batch(), |x| net.logits(x))
}

/// [`evaluate_loss`] on one view of each image: the validation after each epoch.
pub fn validation_loss(net: &Network, split: &Split) -> (f64, f64) {
    loss_over(split, net.eval_batch(), |x| net.logits_one_view(x))
}

/// Mean cross-entropy and accuracy (percent) of `logits` over `split` in batches of `batch`.
fn loss_over(split: &Split, batch: i64, logits: impl Fn(&Tensor) -> Tensor) -> (f64, f64) {
    if split.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let labels = copy_to_vec::<i64>(&split.labels.to_kind(Kind::Int64)); // [n]
    let (mut loss_sum, mut correct, batch) = (0.0, 0, batch as usize);
    for (start, batch_labels) in (0..).step_by(batch).zip(labels.chunks(batch)) {
        let logits = logits(&split.images.narrow(0, start, batch_labels.len() as i64)); // [len, 10]
        let (loss, right) = loss_and_correct(&copy_to_vec::<f32>(&logits), batch_labels);
        loss_sum += loss;
        correct += right;
    }
    let n = labels.len() as f64;
    (loss_sum / n, 100.0 * correct as f64 / n)
}

/// A tensor's values, copied to the CPU, in row-major order.
fn copy_to_vec<T: tch::kind::Element + Default + Clone>(t: &Tensor) -> Vec<T> {
    let t = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(T::KIND)
        .contiguous();
    let mut values = vec![T::default(); t.numel()];
    t.copy_data(&mut values, t.numel());
    values
}

/// Sum of the cross-entropy losses and the number of rows whose largest logit is their label, for
/// `logits` ([len, 10], row-major). A plain loop: a few small tensor operations per batch cost
/// more than the arithmetic.
fn loss_and_correct(logits: &[f32], labels: &[i64]) -> (f64, usize) {
    logits.chunks_exact(LABELS as usize).zip(labels).fold(
        (0.0, 0),
        |(loss, correct), (row, &label)| {
            let (best, max) = argmax(row);
            let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
            let row_loss = f64::from(sum.ln() + max - row[label as usize]);
            (
                loss + row_loss,
                correct + usize::from(best == label as usize),
            )
        },
    )
}

/// A progress printer for terminals: one line per epoch and, within a long epoch, a line every
/// few seconds, each with the time left (the notebooks' printer).
pub fn print_progress(epochs: usize, steps: usize) -> impl FnMut(Progress) {
    let mut printer = ProgressPrinter::new(epochs, steps);
    move |p| match p {
        Progress::Step { epoch, done, .. } => printer.step_done(epoch, done),
        Progress::Epoch { stats, .. } => printer.epoch_done(stats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_correct_match_libtorch() {
        let labels: Vec<i64> = (0..50).map(|i| (i * 7) % 10).collect();
        let y = Tensor::from_slice(&labels);
        // [50, 10], the label's logit raised in every other row so that about half are right
        let boost = y.one_hot(10).to_kind(Kind::Float)
            * Tensor::from_slice(&[9.0f32, 0.0]).repeat([25]).unsqueeze(1);
        let logits = Tensor::randn([50, 10], (Kind::Float, Device::Cpu)) * 3.0 + boost;
        let (loss, correct) = loss_and_correct(&copy_to_vec::<f32>(&logits), &labels);
        let want_loss = logits.cross_entropy_for_logits(&y).double_value(&[]) * 50.0;
        let want_correct = logits
            .argmax(-1, false)
            .eq_tensor(&y)
            .sum(Kind::Int64)
            .int64_value(&[]);
        assert!(
            (loss - want_loss).abs() < 1e-4 * want_loss,
            "{loss} vs {want_loss}"
        );
        assert_eq!(correct as i64, want_correct);
        assert!(want_correct > 10, "the test needs right and wrong rows");
    }

    #[test]
    fn evaluation_in_batches_matches_libtorch_on_the_whole_split() {
        use crate::network::{ModelKind, Network};
        // More rows than one evaluation batch of either model, with a partial last batch.
        for kind in [ModelKind::Mlp, ModelKind::Cnn] {
            let net = Network::seeded(kind, Device::Cpu, 11);
            let n = net.eval_batch() + 37;
            // [n, 1, 28, 28], about 80% zeros like MNIST
            let images = (Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu)) - 0.8).relu();
            let labels = Tensor::randint(10, [n], (Kind::Int64, Device::Cpu));
            let logits = tch::no_grad(|| net.model.logits(&images, false)); // [n, 10]
            let want_loss = logits.cross_entropy_for_logits(&labels).double_value(&[]);
            let right = logits.argmax(-1, false).eq_tensor(&labels).sum(Kind::Int64);
            let want_accuracy = 100.0 * right.int64_value(&[]) as f64 / n as f64;
            let (loss, accuracy) = evaluate_loss(&net, &Split { images, labels });
            assert!(
                (loss - want_loss).abs() < 1e-4,
                "{kind}: {loss} vs {want_loss}"
            );
            // The sparse path rounds differently from libtorch's: allow one near-tie to flip.
            let one_row = 100.0 / n as f64;
            assert!(
                (accuracy - want_accuracy).abs() <= one_row + 1e-9,
                "{kind}: {accuracy}"
            );
        }
    }
}
