//! The best recipe's CNN: four convolutions with batch normalisation, trained in bfloat16 where
//! that measures faster ([`crate::precision`]), and predicting in float32 over five views.

use mnist_helpers::data::LABELS;
use mnist_helpers::model::channels_last;
use mnist_helpers::rng::SplitMix64;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// Filters, kernel side and stride of each convolution, in order: 28 -> 14 -> 14 -> 7 -> 7.
const LAYERS: [(i64, i64, i64); 4] = [(32, 5, 2), (64, 3, 1), (96, 3, 2), (96, 3, 1)];
/// Values per image that the dense layer reads: the last convolution's maps of 7x7.
const FEATURES: i64 = LAYERS[3].0 * 7 * 7;
/// Dropout before the dense layer while training.
const DROPOUT: f64 = 0.2;
/// One convolution (no bias: the batch normalisation adds one), its stride and normalisation.
#[derive(Debug)]
struct ConvBn {
    conv: nn::Conv2D,
    stride: i64,
    bn: nn::BatchNorm,
}

/// The deep CNN. Its variables are named as the sequential version of earlier releases named
/// them (`conv1`..`conv4`, `bn1`..`bn4`, `fc`), so weights files stay interchangeable.
#[derive(Debug)]
pub struct DeepCnn {
    layers: Vec<ConvBn>,
    fc: nn::Linear,
    /// Precision of the training pass: the convolutions' inputs, kernels and outputs.
    train_kind: Kind,
}

/// Creates the deep CNN's layers under `p`; it trains in `train_kind` (see [`crate::precision`]).
pub fn deep_cnn(p: &nn::Path, train_kind: Kind) -> DeepCnn {
    let mut inputs = 1;
    let layers = (1..)
        .zip(LAYERS)
        .map(|(i, (filters, k, stride))| {
            let config = nn::ConvConfig {
                stride,
                padding: k / 2,
                bias: false,
                ..Default::default()
            };
            let conv = nn::conv2d(p / format!("conv{i}"), inputs, filters, k, config);
            let bn = nn::batch_norm2d(p / format!("bn{i}"), filters, Default::default());
            inputs = filters;
            ConvBn { conv, stride, bn }
        })
        .collect();
    let fc = nn::linear(p / "fc", FEATURES, LABELS, Default::default());
    DeepCnn {
        layers,
        fc,
        train_kind,
    }
}

impl ModuleT for DeepCnn {
    /// Logits, [batch, 1, 28, 28] -> [batch, 10]. Training runs the convolutions, batch
    /// normalisation and ReLU in `train_kind` (float32 master weights, autograd casts the
    /// gradients back), with a dropout mask seeded from libtorch's generator (so
    /// `tch::manual_seed` fixes it); evaluation always runs in float32.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match train {
            true => {
                let seed = Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu));
                let mask_seed = seed.int64_value(&[0]) as u64;
                self.logits_in(xs, self.train_kind, Some(mask_seed))
            }
            false => self.logits_in(xs, Kind::Float, None),
        }
    }
}

impl DeepCnn {
    /// Logits computed in `kind`, in training mode (batch statistics, dropout with a mask drawn
    /// from `mask_seed`) when a seed is given, else in evaluation mode.
    fn logits_in(&self, xs: &Tensor, kind: Kind, mask_seed: Option<u64>) -> Tensor {
        let train = mask_seed.is_some();
        let mut h = channels_last(&xs.view([-1, 1, 28, 28])).to_kind(kind); // [batch, 1, 28, 28]
        for layer in &self.layers {
            let (s, pad) = (layer.stride, layer.conv.ws.size()[3] / 2);
            let kernel = layer.conv.ws.to_kind(kind);
            h = h
                .conv2d(&kernel, None::<Tensor>, [s, s], [pad, pad], [1, 1], 1)
                .apply_t(&layer.bn, train) // running statistics stay float32 for either kind
                .relu(); // [batch, 32, 14, 14], [batch, 64, 14, 14], then [batch, 96, 7, 7] twice
        }
        let features = h.flatten(1, -1); // [batch, 4704]
        match mask_seed {
            Some(seed) => dropout(&features, 1.0 - DROPOUT, seed),
            None => features,
        }
        .to_kind(Kind::Float)
        .apply(&self.fc) // [batch, 10]
    }
}

/// Inverted dropout keeping each value with probability `keep`, its mask drawn in Rust from
/// `seed`: libtorch's own `bernoulli_` took 3.5 ms per batch of 128 here, 14% of the step.
fn dropout(xs: &Tensor, keep: f64, seed: u64) -> Tensor {
    let mask = keep_mask(xs.numel(), keep, &mut SplitMix64::new(seed)); // [numel]
    let mask = Tensor::from_slice(&mask).view(xs.size().as_slice()); // like xs
    xs * mask.to_kind(xs.kind()).to_device(xs.device())
}

/// `len` factors: 1/`keep` with probability `keep`, else 0 (two 32-bit draws per random word).
fn keep_mask(len: usize, keep: f64, rng: &mut SplitMix64) -> Vec<f32> {
    let threshold = (keep * 4_294_967_296.0) as u64; // keep when a 32-bit draw is below this
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0.0f32; len];
    for pair in mask.chunks_mut(2) {
        let bits = rng.next_u64();
        for (k, factor) in pair.iter_mut().enumerate() {
            if (bits >> (32 * k)) & 0xFFFF_FFFF < threshold {
                *factor = scale;
            }
        }
    }
    mask
}

/// The one-pixel shifts (rows, columns) that the deep CNN's predictions also look at.
const SHIFTS: [(i64, i64); 4] = [(0, 1), (0, -1), (1, 0), (-1, 0)];

/// Test-time augmentation: log of the class probabilities averaged over the image and its four
/// one-pixel shifts. MNIST's border is blank, so rolling (wrapping) is shifting.
pub fn shift_averaged(net: &dyn ModuleT, images: &Tensor) -> Tensor {
    let images = images.view([-1, 1, 28, 28]); // [batch, 1, 28, 28]
    let probabilities = |x: &Tensor| net.forward_t(x, false).softmax(-1, Kind::Float);
    let mut sum = probabilities(&images); // [batch, 10]
    for (rows, cols) in SHIFTS {
        sum += probabilities(&images.roll([rows, cols], [2, 3]));
    }
    (sum / (SHIFTS.len() + 1) as f64).log() // [batch, 10]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A float32-trained and a bfloat16-trained deep CNN with the same weights (copied, since
    /// other tests move libtorch's global generator at the same time).
    fn twins() -> (DeepCnn, DeepCnn) {
        let (vs32, mut vs16) = (
            nn::VarStore::new(Device::Cpu),
            nn::VarStore::new(Device::Cpu),
        );
        let net32 = deep_cnn(&vs32.root(), Kind::Float);
        let net16 = deep_cnn(&vs16.root(), Kind::BFloat16);
        vs16.copy(&vs32).unwrap();
        (net32, net16)
    }

    #[test]
    fn variables_keep_the_names_of_the_sequential_version() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = deep_cnn(&vs.root(), Kind::Float);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        let mut want = vec!["fc.bias".to_string(), "fc.weight".to_string()];
        for i in 1..=4 {
            want.push(format!("conv{i}.weight"));
            for part in ["bias", "running_mean", "running_var", "weight"] {
                want.push(format!("bn{i}.{part}"));
            }
        }
        want.sort();
        assert_eq!(names, want);
    }

    #[test]
    fn evaluation_is_float32_whatever_the_training_precision() {
        let (net32, net16) = twins();
        let x = Tensor::rand([5, 1, 28, 28], (Kind::Float, Device::Cpu)); // [5, 1, 28, 28]
        let (a, b) = tch::no_grad(|| (net32.forward_t(&x, false), net16.forward_t(&x, false)));
        assert_eq!((a.kind(), a.size()), (Kind::Float, vec![5, 10]));
        assert!(a.equal(&b), "same weights, same float32 logits");
    }

    #[test]
    fn a_bfloat16_training_pass_gives_float32_gradients_along_float32s() {
        let (net32, net16) = twins();
        let x = Tensor::rand([16, 1, 28, 28], (Kind::Float, Device::Cpu)); // [16, 1, 28, 28]
        let y = Tensor::randint(10, [16], (Kind::Int64, Device::Cpu)); // [16]
        let grad_of = |net: &DeepCnn, kind| {
            let loss = net
                .logits_in(&x, kind, Some(9))
                .cross_entropy_for_logits(&y); // one mask
            let w = &net.layers[1].conv.ws;
            Tensor::run_backward(&[loss], &[w], false, false).remove(0) // [64, 32, 3, 3]
        };
        let (g32, g16) = (
            grad_of(&net32, Kind::Float),
            grad_of(&net16, Kind::BFloat16),
        );
        assert_eq!(
            g16.kind(),
            Kind::Float,
            "master weights get float32 gradients"
        );
        // bfloat16 keeps 8 bits of each value: through four layers and their batch statistics
        // the gradient moves by about a tenth of its size (measured 0.11-0.13) but keeps its
        // direction (cosine 0.99), which is what Adam follows.
        let relative = ((&g16 - &g32).norm() / g32.norm()).double_value(&[]);
        let cosine = (&g16 * &g32).sum(Kind::Float) / (g16.norm() * g32.norm());
        let cosine = cosine.double_value(&[]);
        assert!(
            cosine > 0.98,
            "bfloat16 gradient points elsewhere: cosine {cosine:.3}"
        );
        assert!(
            relative < 0.25,
            "bfloat16 gradient off by {relative:.3} of its size"
        );
        assert!(relative > 0.0, "the bfloat16 pass ran in float32");
    }

    #[test]
    fn dropout_keeps_about_the_right_share_scaled_and_follows_its_seed() {
        let x = Tensor::ones([64, 4704], (Kind::Float, Device::Cpu)); // [64, 4704]
        let a = dropout(&x, 0.8, 5);
        assert!(
            a.equal(&dropout(&x, 0.8, 5)),
            "the same seed gives the same mask"
        );
        assert!(
            !a.equal(&dropout(&x, 0.8, 6)),
            "another seed gives another mask"
        );
        let kept = a
            .gt(0.0)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        assert!((kept - 0.8).abs() < 0.005, "kept {kept}");
        let values = a.masked_select(&a.gt(0.0)); // every kept value is scaled by 1/0.8
        assert!(values.allclose(&values.ones_like().g_mul_scalar(1.25), 1e-6, 1e-6, false));
        assert_eq!(
            dropout(&x.to_kind(Kind::BFloat16), 0.8, 5).kind(),
            Kind::BFloat16
        );
    }
}
