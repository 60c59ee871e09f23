//! The engine's training step for the workspace's one epoch loop (`mnist_helpers::train`): the
//! MLP's hand-written step and Adam in Rust on the CPU (autograd and the same Adam for the CNNs),
//! the deep CNN's augmentation and label smoothing, and a fast evaluation. It fills the same
//! [`History`] as the notebooks' `fit`.

use crate::augment::Affine;
use crate::mlp_step::argmax;
use crate::network::Network;
use crate::optim::{Adam, AdamConfig};
use crate::recipe::Recipe;
use anyhow::Result;
use mnist_helpers::data::{Split, LABELS};
use mnist_helpers::history::History;
use mnist_helpers::progress::Report;
use mnist_helpers::rng::SplitMix64;
use mnist_helpers::train::{count_correct, train_epochs, Run, Step};
use tch::{Device, Kind, Reduction, Tensor};

/// Trains `net` on `train` as `cfg` says, validating on `val` after each epoch. Shuffling and
/// dropout are seeded from `cfg.seed`; create `net` with [`Network::seeded`] for repeatable runs.
/// Stops with an error (and changes nothing on disk) if the loss turns NaN or infinite.
pub fn fit(
    net: &mut Network,
    train: &Split,
    val: &Split,
    cfg: &Recipe,
    report: &mut dyn Report,
) -> Result<History> {
    let step = EngineStep::new(net, cfg);
    let (history, _) = train_epochs(cfg.model.name(), step, train, val, &cfg.train, report)?;
    Ok(history)
}

/// A run of the engine, one epoch at a time, for callers that look at the model between epochs
/// (the benchmark measures test accuracy after each; the precision choice times epochs).
pub fn run<'a>(
    net: &'a mut Network,
    train: &'a Split,
    cfg: &'a Recipe,
) -> Result<Run<'a, EngineStep<'a>>> {
    Run::new(EngineStep::new(net, cfg), train, &cfg.train)
}

/// The engine's step: the model's own step where it has one (the MLP on the CPU), else autograd;
/// Adam in Rust either way.
pub struct EngineStep<'a> {
    /// The network being trained.
    pub net: &'a mut Network,
    opt: Adam,
    /// Whether batches are augmented (the deep CNN's recipe).
    augment: bool,
    label_smoothing: f64,
    /// Dropout masks of steps computed without autograd.
    rng: SplitMix64,
    /// The epoch's summed loss and right answers so far.
    totals: (f64, i64),
}

impl<'a> EngineStep<'a> {
    /// Adam for `net` as `cfg` says.
    pub fn new(net: &'a mut Network, cfg: &Recipe) -> Self {
        let opt = Adam::new(
            &net.vs,
            AdamConfig {
                weight_decay: cfg.weight_decay,
                ..AdamConfig::with_lr(cfg.train.learning_rate)
            },
        );
        EngineStep {
            net,
            opt,
            augment: cfg.augment(),
            label_smoothing: cfg.label_smoothing,
            rng: SplitMix64::new(cfg.train.seed ^ 0x000D_50F0_u64),
            totals: (0.0, 0),
        }
    }
}

impl Step for EngineStep<'_> {
    fn device(&self) -> Device {
        self.net.vs.device()
    }

    fn step(&mut self, images: &Tensor, labels: &Tensor, lr: f64) -> Result<()> {
        let (loss_sum, correct) = self.batch_step(images, labels, lr)?;
        self.totals.0 += loss_sum;
        self.totals.1 += correct;
        Ok(())
    }

    fn totals(&self) -> Result<(f64, i64)> {
        Ok(self.totals)
    }

    fn new_epoch(&mut self) {
        self.totals = (0.0, 0);
    }

    fn evaluate(&mut self, split: &Split) -> Result<(f64, f64)> {
        Ok(validation_loss(self.net, split))
    }
}

impl EngineStep<'_> {
    /// One optimiser step on a batch: its summed loss and right answers.
    fn batch_step(&mut self, images: &Tensor, labels: &Tensor, lr: f64) -> Result<(f64, i64)> {
        self.opt.config.lr = lr;
        let augmented = self.augment.then(|| Affine::default().apply(images));
        let x = augmented.as_ref().unwrap_or(images); // [b, 1, 28, 28]
        let label_values = label_values(labels)?;
        if let Some(step) = self.net.model.manual_step(x, &label_values, &mut self.rng) {
            let step = step?;
            self.opt.step_pairs(&step.grads)?;
            return Ok((step.loss_sum, step.correct as i64));
        }
        let logits = self.net.model.logits(x, true); // [b, 10]
        let smoothing = self.label_smoothing;
        let loss =
            logits.cross_entropy_loss::<Tensor>(labels, None, Reduction::Mean, -100, smoothing); // []
        self.opt.backward_step(&loss)?;
        let batch = label_values.len() as f64;
        Ok((
            loss.double_value(&[]) * batch,
            count_correct(&logits, labels)?,
        ))
    }
}

/// The labels of a batch ([b], int64) as numbers: read in place when they are on the CPU (every
/// step of the seed recipe does this, so it must cost nothing next to the step), else copied.
fn label_values(labels: &Tensor) -> Result<std::borrow::Cow<'_, [i64]>> {
    if labels.device() == Device::Cpu && labels.kind() == Kind::Int64 && labels.is_contiguous() {
        // SAFETY: a contiguous int64 CPU tensor holds numel() i64s at data_ptr(); `labels` is
        // borrowed (and nothing writes it) for as long as the slice lives.
        let values =
            unsafe { std::slice::from_raw_parts(labels.data_ptr() as *const i64, labels.numel()) };
        return Ok(values.into());
    }
    Ok(Vec::<i64>::try_from(labels)?.into())
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
