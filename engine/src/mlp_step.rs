//! The seed MLP's training step (and its inference) written out by hand, for the CPU.
//!
//! At the seed recipe's batch of 32 the arithmetic of a step is small and autograd's bookkeeping
//! plus a dozen small tensor operations (dropout's mask, softmax, loss, their gradients) cost more
//! than the arithmetic. Here the first layer and its weight gradient skip the blank pixels
//! ([`crate::sparse`]), libtorch does the second layer's three small matrix products, and ReLU,
//! dropout, softmax, cross-entropy and their gradients are one Rust pass each over buffers of at
//! most 32x128 values. Tests check the gradients against autograd's. Inference is all Rust, the
//! images split between libtorch's thread count.

use crate::raw::{f32_slice, f32_slice_mut, is_plain_cpu_f32};
use crate::sparse::{sparse_affine, sparse_weight_grad};
use anyhow::{ensure, Result};
use mnist_helpers::rng::SplitMix64;
use tch::{Device, Kind, Tensor};

/// What one training step measured and the gradients it computed.
#[derive(Debug)]
pub struct ManualStep {
    /// Sum of the per-example cross-entropy losses of the batch.
    pub loss_sum: f64,
    /// Examples whose largest logit is their label.
    pub correct: usize,
    /// (parameter, its gradient of the mean loss) for every trainable tensor.
    pub grads: Vec<(Tensor, Tensor)>,
}

/// The two dense layers' weights.
#[derive(Debug)]
pub struct MlpWeights<'a> {
    /// [784, hidden] (input-major)
    pub w1: &'a Tensor,
    /// [hidden]
    pub b1: &'a Tensor,
    /// [10, hidden] (nn::Linear's layout)
    pub w2: &'a Tensor,
    /// [10]
    pub b2: &'a Tensor,
}

impl MlpWeights<'_> {
    /// True when the weights and `images` are contiguous f32 CPU tensors (what the Rust loops read).
    pub fn usable_with(&self, images: &Tensor) -> bool {
        [self.w1, self.b1, self.w2, self.b2, images]
            .iter()
            .all(|t| is_plain_cpu_f32(t))
    }

    /// Units in the hidden layer.
    fn hidden(&self) -> i64 {
        self.b1.numel() as i64
    }
}

/// Inverted dropout with keep probability `keep`, fused with ReLU: draws the mask, zeroes what
/// ReLU or dropout removes, scales the rest, and returns the factor used for each value (the
/// backward pass multiplies by the same factors).
fn relu_dropout(hidden: &mut [f32], keep: f64, rng: &mut SplitMix64) -> Vec<f32> {
    let threshold = (keep * 4_294_967_296.0) as u64; // keep when a 32-bit draw is below this
    let scale = (1.0 / keep) as f32;
    let mut factors = vec![0.0f32; hidden.len()];
    for (pair, f) in hidden.chunks_mut(2).zip(factors.chunks_mut(2)) {
        let bits = rng.next_u64();
        for (k, (h, f)) in pair.iter_mut().zip(f.iter_mut()).enumerate() {
            let draw = (bits >> (32 * k)) & 0xFFFF_FFFF;
            *f = if draw < threshold && *h > 0.0 {
                scale
            } else {
                0.0
            };
            *h *= *f;
        }
    }
    factors
}

/// Softmax cross-entropy on `logits` ([b, 10], row-major) for `labels`, replaced in place by the
/// gradient of the mean loss; returns (loss sum, correct count, bias gradient).
fn softmax_cross_entropy(logits: &mut [f32], labels: &[i64]) -> (f64, usize, Vec<f32>) {
    let classes = logits.len() / labels.len();
    let inv_batch = 1.0 / labels.len() as f32;
    let (mut loss_sum, mut correct) = (0.0f64, 0);
    let mut bias_grad = vec![0.0f32; classes];
    for (row, &label) in logits.chunks_exact_mut(classes).zip(labels) {
        let (best, max) = argmax(row);
        correct += usize::from(best == label as usize);
        let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
        loss_sum += f64::from(sum.ln() + max - row[label as usize]);
        for (i, (v, gb)) in row.iter_mut().zip(bias_grad.iter_mut()).enumerate() {
            let p = (*v - max).exp() / sum;
            *v = (p - f32::from(u8::from(i == label as usize))) * inv_batch;
            *gb += *v;
        }
    }
    (loss_sum, correct, bias_grad)
}

/// Multiplies each value by its factor and returns the column sums (the first bias' gradient).
fn apply_factors(grad: &mut [f32], factors: &[f32], columns: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; columns];
    for (row, frow) in grad
        .chunks_exact_mut(columns)
        .zip(factors.chunks_exact(columns))
    {
        for ((g, f), s) in row.iter_mut().zip(frow).zip(sums.iter_mut()) {
            *g *= f;
            *s += *g;
        }
    }
    sums
}

/// Forward and backward pass of Flatten, Dense ReLU, Dropout, Dense on `images` ([b, 784] or
/// [b, 1, 28, 28]), with dropout rate `dropout` drawn from `rng`. The caller checks
/// [`MlpWeights::usable_with`] first.
pub fn mlp_step(
    w: &MlpWeights,
    images: &Tensor,
    labels: &[i64],
    dropout: f64,
    rng: &mut SplitMix64,
) -> Result<ManualStep> {
    let batch = labels.len() as i64;
    ensure!(
        batch > 0 && images.size()[0] == batch,
        "batch of {batch} labels and {:?} images",
        images.size()
    );
    ensure!(
        w.usable_with(images),
        "the manual MLP step needs contiguous f32 tensors on the CPU"
    );
    tch::no_grad(|| {
        let x = images.view([batch, -1]); // [b, 784]
        let width = w.hidden();
        let mut hidden = Tensor::empty([batch, width], (Kind::Float, Device::Cpu)); // [b, hidden]
        let mut gw1 = Tensor::zeros(w.w1.size(), (Kind::Float, Device::Cpu)); // [784, hidden]

        // SAFETY: `mlp_step` callers check `usable_with`; the outputs are new and unshared, and
        // the slices end before the tensors are used again.
        let (xs, factors) = unsafe {
            let (xs, w1, b1) = (f32_slice(&x), f32_slice(w.w1), f32_slice(w.b1));
            let hidden_values = f32_slice_mut(&mut hidden);
            sparse_affine(xs, w1, b1, hidden_values);
            (xs, relu_dropout(hidden_values, 1.0 - dropout, rng))
        };
        let mut logits = w.b2.addmm(&hidden, &w.w2.tr()); // [b, 10]

        // SAFETY: as above, a fresh contiguous f32 CPU tensor.
        let (loss_sum, correct, gb2) =
            softmax_cross_entropy(unsafe { f32_slice_mut(&mut logits) }, labels);
        let grad_logits = logits; // [b, 10], now d(mean loss)/d(logits)
        let gw2 = grad_logits.tr().mm(&hidden); // [10, hidden]
        let mut grad_hidden = grad_logits.mm(w.w2); // [b, hidden]

        // SAFETY: as above, a fresh contiguous f32 CPU tensor; `gw1` is ours alone.
        let gb1 = unsafe {
            let delta = f32_slice_mut(&mut grad_hidden);
            let gb1 = apply_factors(delta, &factors, width as usize);
            sparse_weight_grad(xs, delta, f32_slice_mut(&mut gw1), width as usize);
            gb1
        };
        let grads = vec![
            (w.w1.shallow_clone(), gw1),
            (w.b1.shallow_clone(), Tensor::from_slice(&gb1)),
            (w.w2.shallow_clone(), gw2),
            (w.b2.shallow_clone(), Tensor::from_slice(&gb2)),
        ];
        Ok(ManualStep {
            loss_sum,
            correct,
            grads,
        })
    })
}

/// Logits in evaluation mode (no dropout, no gradients) for `images` ([b, 784] or
/// [b, 1, 28, 28]) on libtorch's thread count. The caller checks [`MlpWeights::usable_with`].
pub fn mlp_infer(w: &MlpWeights, images: &Tensor) -> Tensor {
    let threads = usize::try_from(tch::get_num_threads()).unwrap_or(1);
    mlp_infer_on(w, images, threads)
}

/// [`mlp_infer`] on up to `threads` threads. The whole pass is Rust: each thread takes a share of
/// the images through the sparse first layer, ReLU and the second layer, so no libtorch operation
/// runs (and leaves its worker threads spinning on the cores) in between.
fn mlp_infer_on(w: &MlpWeights, images: &Tensor, threads: usize) -> Tensor {
    const MIN_ROWS_PER_THREAD: usize = 64;
    let batch = images.size()[0];
    let x = images.view([batch, -1]); // [b, 784]
    let mut logits = Tensor::empty([batch, w.b2.numel() as i64], (Kind::Float, Device::Cpu)); // [b, 10]
    let (inputs, classes) = (x.size()[1] as usize, w.b2.numel());
    let threads = threads.clamp(1, (batch as usize / MIN_ROWS_PER_THREAD).max(1));
    let per_thread = (batch as usize).div_ceil(threads).max(1);
    // SAFETY: the caller checked `usable_with`; `logits` is new and unshared, and the slices end
    // before it is returned.
    unsafe {
        let (xs, out) = (f32_slice(&x), f32_slice_mut(&mut logits));
        let layers = (
            f32_slice(w.w1),
            f32_slice(w.b1),
            f32_slice(w.w2),
            f32_slice(w.b2),
        );
        let parts = xs
            .chunks(per_thread * inputs)
            .zip(out.chunks_mut(per_thread * classes));
        std::thread::scope(|scope| {
            for (x_part, out_part) in parts {
                scope.spawn(move || mlp_rows(layers, x_part, out_part));
            }
        });
    }
    logits
}

/// Logits of the rows of `x` into `out`: the sparse first layer, ReLU, then the second layer
/// (`w2` [10, hidden] as nn::Linear stores it) as dot products eight lanes at a time.
fn mlp_rows(layers: (&[f32], &[f32], &[f32], &[f32]), x: &[f32], out: &mut [f32]) {
    let (w1, b1, w2, b2) = layers;
    let (width, classes) = (b1.len(), b2.len());
    let rows = out.len() / classes;
    let mut hidden = vec![0.0f32; rows * width]; // [rows, hidden]
    sparse_affine(x, w1, b1, &mut hidden);
    for (h, o) in hidden
        .chunks_exact_mut(width)
        .zip(out.chunks_exact_mut(classes))
    {
        h.iter_mut().for_each(|v| *v = v.max(0.0));
        for ((o, w), b) in o.iter_mut().zip(w2.chunks_exact(width)).zip(b2) {
            *o = b + dot(h, w);
        }
    }
}

/// Dot product with eight independent partial sums (the compiler keeps them in one vector).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{ModelKind, Network};

    /// Autograd's gradients of the mean cross-entropy for the same MLP without dropout.
    fn autograd_grads(net: &Network, x: &Tensor, y: &Tensor) -> Vec<(String, Tensor)> {
        let loss = net.model.logits(x, false).cross_entropy_for_logits(y);
        let vars = net.vs.variables();
        let names = ["fc1.kernel", "fc1.bias", "fc2.weight", "fc2.bias"];
        let params: Vec<&Tensor> = names.iter().map(|n| &vars[*n]).collect();
        let grads = Tensor::run_backward(&[&loss], &params, false, false);
        names.iter().map(|n| n.to_string()).zip(grads).collect()
    }

    fn weights(vars: &std::collections::HashMap<String, Tensor>) -> MlpWeights<'_> {
        MlpWeights {
            w1: &vars["fc1.kernel"],
            b1: &vars["fc1.bias"],
            w2: &vars["fc2.weight"],
            b2: &vars["fc2.bias"],
        }
    }

    #[test]
    fn inference_matches_the_dense_forward_pass() {
        let net = Network::seeded(ModelKind::Mlp, Device::Cpu, 3);
        // [300, 1, 28, 28], about 80% zeros like MNIST, enough rows for two threads
        let x = (Tensor::rand([300, 1, 28, 28], (Kind::Float, Device::Cpu)) - 0.8).relu();
        let vars = net.vs.variables();
        let dense = tch::no_grad(|| net.model.logits(&x, false)); // [300, 10]
        for threads in [1, 2, 7] {
            let sparse = mlp_infer_on(&weights(&vars), &x, threads);
            assert_eq!(sparse.size(), vec![300, 10]);
            let err = (&dense - &sparse).abs().max().double_value(&[]);
            assert!(err < 1e-4, "{threads} threads: max difference {err}");
            assert!(!sparse.requires_grad());
        }
    }

    #[test]
    fn gradients_match_autograd_without_dropout() {
        let net = Network::seeded(ModelKind::Mlp, Device::Cpu, 5);
        let x = Tensor::rand([16, 1, 28, 28], (Kind::Float, Device::Cpu));
        let labels: Vec<i64> = (0..16).map(|i| i % 10).collect();
        let y = Tensor::from_slice(&labels);
        let vars = net.vs.variables();
        let step = mlp_step(&weights(&vars), &x, &labels, 0.0, &mut SplitMix64::new(1)).unwrap();
        let expected_loss = net
            .model
            .logits(&x, false)
            .cross_entropy_for_logits(&y)
            .double_value(&[]);
        assert!((step.loss_sum / 16.0 - expected_loss).abs() < 1e-5);
        for ((name, want), (_, got)) in autograd_grads(&net, &x, &y).iter().zip(&step.grads) {
            let err = (want - got).abs().max().double_value(&[]);
            let scale = want.abs().max().double_value(&[]).max(1e-6);
            assert!(err / scale < 1e-4, "{name}: relative error {}", err / scale);
        }
    }

    #[test]
    fn dropout_keeps_about_the_right_share_and_scales() {
        let mut hidden = vec![1.0f32; 100_000];
        let factors = relu_dropout(&mut hidden, 0.8, &mut SplitMix64::new(9));
        let kept = factors.iter().filter(|&&f| f > 0.0).count() as f64 / 1e5;
        assert!((kept - 0.8).abs() < 0.01, "kept {kept}");
        assert!(hidden.iter().all(|&h| h == 0.0 || (h - 1.25).abs() < 1e-6));
        let mut negative = vec![-1.0f32; 10];
        assert!(relu_dropout(&mut negative, 0.8, &mut SplitMix64::new(9))
            .iter()
            .all(|&f| f == 0.0));
    }

    #[test]
    fn counts_correct_rows_and_is_stable_for_large_logits() {
        let mut logits = vec![0.0f32; 20];
        logits[3] = 1000.0; // row 0 says 3
        logits[10 + 7] = 5.0; // row 1 says 7
        let (loss, correct, bias) = softmax_cross_entropy(&mut logits, &[3, 2]);
        assert_eq!(correct, 1);
        assert!(loss.is_finite() && loss > 4.0);
        assert!(
            bias.iter().sum::<f32>().abs() < 1e-6,
            "softmax minus one-hot sums to zero"
        );
    }
}
