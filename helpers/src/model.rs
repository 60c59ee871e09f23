//! The two classifiers, the seed MLP and a small CNN, behind one trait. Both return logits.

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE, LABELS};
use crate::mlp_step::{mlp_infer, mlp_step, ManualStep, MlpWeights};
use crate::rng::SplitMix64;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tch::nn::{self, Module};
use tch::{Device, Tensor};

/// Which architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Flatten, Dense 128 ReLU, Dropout 0.2, Dense 10: the seed notebook's model.
    Mlp,
    /// Two strided convolutions with batch normalisation, Dropout, Dense 10.
    Cnn,
    /// The best recipe's CNN: three convolutions (the middle one at full stride 1).
    DeepCnn,
}

impl ModelKind {
    /// The two kinds the notebooks train and compare (the deep CNN is the benchmark's best recipe).
    pub const ALL: [ModelKind; 2] = [ModelKind::Mlp, ModelKind::Cnn];

    /// The short lower-case name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
            ModelKind::DeepCnn => "deep-cnn",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mlp" => Ok(ModelKind::Mlp),
            "cnn" => Ok(ModelKind::Cnn),
            "deep-cnn" => Ok(ModelKind::DeepCnn),
            _ => bail!("unknown model {s:?}: expected mlp, cnn or deep-cnn"),
        }
    }
}

/// One row of a Keras-style model summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    /// Layer name and type, e.g. "dense_1 (Dense)".
    pub name: String,
    /// Output shape for one batch, batch dimension first (-1 = any).
    pub output_shape: Vec<i64>,
    /// Trainable parameters.
    pub params: i64,
}

/// What every classifier offers: logits for a batch and a description of its layers.
pub trait Classifier: fmt::Debug + Send {
    /// Logits: [batch, 1, 28, 28] -> [batch, 10]; `train` turns dropout on.
    fn logits(&self, images: &Tensor, train: bool) -> Tensor;
    /// Logits in evaluation mode without gradients (the caller disables autograd); models with a
    /// faster path for inference override it.
    fn infer(&self, images: &Tensor) -> Tensor {
        self.logits(images, false)
    }
    /// Which architecture this is.
    fn kind(&self) -> ModelKind;
    /// Rows per batch when evaluating a whole split.
    fn eval_batch(&self) -> i64 {
        crate::train::EVAL_BATCH
    }
    /// The layers in order, for a summary table.
    fn layers(&self) -> Vec<LayerSummary>;
    /// A training step computed without autograd, where the model has one for this device (the
    /// MLP on the CPU, see [`crate::mlp_step`]); `None` means: use autograd.
    fn manual_step(
        &self,
        _images: &Tensor,
        _labels: &[i64],
        _rng: &mut SplitMix64,
    ) -> Option<Result<ManualStep>> {
        None
    }
}

/// Parameters of a dense layer.
fn linear_params(l: &nn::Linear) -> i64 {
    l.ws.numel() as i64 + l.bs.as_ref().map_or(0, |b| b.numel() as i64)
}

/// Parameters of a convolution.
fn conv_params(c: &nn::Conv2D) -> i64 {
    c.ws.numel() as i64 + c.bs.as_ref().map_or(0, |b| b.numel() as i64)
}

/// Trainable parameters of a batch normalisation (scale and shift; running statistics are not
/// trained).
fn bn_params(b: &nn::BatchNorm) -> i64 {
    [&b.ws, &b.bs]
        .iter()
        .filter_map(|t| t.as_ref())
        .map(|t| t.numel() as i64)
        .sum()
}

/// A summary row.
fn row(name: &str, output_shape: &[i64], params: i64) -> LayerSummary {
    LayerSummary {
        name: name.to_string(),
        output_shape: output_shape.to_vec(),
        params,
    }
}

/// The seed model: 784-128-10 with dropout, 101,770 parameters. The first layer's weights are
/// stored input-major, [784, 128] as Keras stores them, so that its CPU path can skip the blank
/// pixels (see [`crate::sparse`]).
#[derive(Debug)]
pub struct Mlp {
    /// [784, 128]
    w1: Tensor,
    /// [128]
    b1: Tensor,
    fc2: nn::Linear,
    dropout: f64,
}

/// Units in the MLP's hidden layer.
pub const MLP_HIDDEN: i64 = 128;
/// Rows per evaluation batch for the MLP (see [`Classifier::eval_batch`]).
const MLP_EVAL_BATCH: i64 = 10_000;

impl Mlp {
    /// Creates the layers under `path`, initialised as PyTorch and tch initialise a dense layer.
    pub fn new(path: &nn::Path, dropout: f64) -> Self {
        let bound = 1.0 / (IMAGE_PIXELS as f64).sqrt();
        let uniform = nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let fc1 = path / "fc1";
        Mlp {
            w1: fc1.var("kernel", &[IMAGE_PIXELS, MLP_HIDDEN], uniform),
            b1: fc1.var("bias", &[MLP_HIDDEN], uniform),
            fc2: nn::linear(path / "fc2", MLP_HIDDEN, LABELS, Default::default()),
            dropout,
        }
    }

    /// The weights as the hand-written CPU training step reads them.
    fn weights(&self) -> Option<MlpWeights<'_>> {
        Some(MlpWeights {
            w1: &self.w1,
            b1: &self.b1,
            w2: &self.fc2.ws,
            b2: self.fc2.bs.as_ref()?,
        })
    }
}

impl Classifier for Mlp {
    fn logits(&self, images: &Tensor, train: bool) -> Tensor {
        let x = images.flatten(1, -1); // [batch, 784]
        self.b1
            .addmm(&x, &self.w1) // [batch, 128]
            .relu()
            .dropout(self.dropout, train)
            .apply(&self.fc2) // [batch, 10]
    }

    fn infer(&self, images: &Tensor) -> Tensor {
        match self.weights() {
            Some(w) if w.usable_with(images) => mlp_infer(&w, images),
            _ => self.logits(images, false),
        }
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Mlp
    }

    /// The sparse CPU path packs the first layer's weights on every call and keeps 512 bytes of
    /// hidden activations per row (5 MB for 10,000), so a test set goes through in one call.
    fn eval_batch(&self) -> i64 {
        MLP_EVAL_BATCH
    }

    fn layers(&self) -> Vec<LayerSummary> {
        vec![
            row("flatten (Flatten)", &[-1, IMAGE_PIXELS], 0),
            row(
                "dense (Dense, ReLU)",
                &[-1, MLP_HIDDEN],
                (self.w1.numel() + self.b1.numel()) as i64,
            ),
            row("dropout (Dropout)", &[-1, MLP_HIDDEN], 0),
            row("dense_1 (Dense)", &[-1, LABELS], linear_params(&self.fc2)),
        ]
    }

    fn manual_step(
        &self,
        images: &Tensor,
        labels: &[i64],
        rng: &mut SplitMix64,
    ) -> Option<Result<ManualStep>> {
        let weights = self.weights()?;
        weights
            .usable_with(images)
            .then(|| mlp_step(&weights, images, labels, self.dropout, rng))
    }
}

/// One convolution of a CNN: output channels, square kernel size, stride ("same" padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Output channels.
    pub channels: i64,
    /// Kernel side.
    pub kernel: i64,
    /// Step between positions (2 halves the resolution).
    pub stride: i64,
}

/// A convolution of `channels` outputs, `kernel` x `kernel`, moving `stride` pixels at a time.
const fn conv(channels: i64, kernel: i64, stride: i64) -> ConvSpec {
    ConvSpec {
        channels,
        kernel,
        stride,
    }
}

/// The fast CNN: two strided convolutions (28 -> 14 -> 7).
const FAST_CONVS: [ConvSpec; 2] = [conv(32, 5, 2), conv(64, 3, 2)];
/// The deeper CNN of the best recipe: a stride-1 convolution between the two strided ones.
const DEEP_CONVS: [ConvSpec; 3] = [conv(32, 5, 2), conv(64, 3, 1), conv(64, 3, 2)];

/// A convnet of strided convolutions, each followed by batch normalisation and ReLU, then dropout
/// and one dense layer. Striding instead of pooling keeps the feature maps small, which is what
/// costs on a CPU.
#[derive(Debug)]
pub struct Cnn {
    kind: ModelKind,
    specs: Vec<ConvSpec>,
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    fc: nn::Linear,
    dropout: f64,
}

impl Cnn {
    /// Creates the layers of `kind` (Cnn or DeepCnn) under `path`.
    pub fn new(path: &nn::Path, kind: ModelKind, dropout: f64) -> Self {
        let specs: Vec<ConvSpec> = match kind {
            ModelKind::DeepCnn => DEEP_CONVS.to_vec(),
            _ => FAST_CONVS.to_vec(),
        };
        let mut channels = 1;
        let mut convs = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let config = nn::ConvConfig {
                stride: spec.stride,
                padding: spec.kernel / 2,
                bias: false,
                ..Default::default()
            };
            let conv = nn::conv2d(
                path / format!("conv{}", i + 1),
                channels,
                spec.channels,
                spec.kernel,
                config,
            );
            let bn = nn::batch_norm2d(
                path / format!("bn{}", i + 1),
                spec.channels,
                Default::default(),
            );
            convs.push((conv, bn));
            channels = spec.channels;
        }
        let side = Self::sides(&specs).last().copied().unwrap_or(IMAGE_SIDE);
        let fc = nn::linear(
            path / "fc",
            channels * side * side,
            LABELS,
            Default::default(),
        );
        Cnn {
            kind,
            specs,
            convs,
            fc,
            dropout,
        }
    }

    /// The side of each convolution's output map.
    fn sides(specs: &[ConvSpec]) -> Vec<i64> {
        let mut side = IMAGE_SIDE;
        specs
            .iter()
            .map(|s| {
                side = (side - 1) / s.stride + 1;
                side
            })
            .collect()
    }
}

/// The same images stored channels-last (NHWC): libtorch then runs the convolutions, batch
/// normalisations and ReLUs of the whole network in that layout, which oneDNN computes without
/// converting to and from its blocked format at every layer (about 20% of a CNN epoch on a CPU).
/// Shapes and values are unchanged; only the strides say channels-last.
pub fn channels_last(images: &Tensor) -> Tensor {
    let [n, c, h, w] = images.size()[..] else {
        return images.shallow_clone();
    };
    let nhwc = images.permute([0, 2, 3, 1]).contiguous(); // [n, h, w, c]
    nhwc.as_strided([n, c, h, w], [h * w * c, 1, w * c, c], None) // [n, c, h, w]
}

impl Classifier for Cnn {
    fn logits(&self, images: &Tensor, train: bool) -> Tensor {
        let mut x = channels_last(images); // [batch, 1, 28, 28], stored as [batch, 28, 28, 1]
        for (conv, bn) in &self.convs {
            x = x.apply(conv).apply_t(bn, train).relu(); // [batch, channels, side, side]
        }
        x.flatten(1, -1) // [batch, channels * side * side]
            .dropout(self.dropout, train)
            .apply(&self.fc) // [batch, 10]
    }

    fn kind(&self) -> ModelKind {
        self.kind
    }

    fn layers(&self) -> Vec<LayerSummary> {
        let mut rows = Vec::new();
        for (i, ((spec, side), (conv, bn))) in self
            .specs
            .iter()
            .zip(Self::sides(&self.specs))
            .zip(&self.convs)
            .enumerate()
        {
            let suffix = if i == 0 {
                String::new()
            } else {
                format!("_{i}")
            };
            let shape = [-1, spec.channels, side, side];
            let what = format!("Conv2D {0}x{0}, stride {1}", spec.kernel, spec.stride);
            rows.push(row(
                &format!("conv2d{suffix} ({what})"),
                &shape,
                conv_params(conv),
            ));
            rows.push(row(
                &format!("batch_norm{suffix} (BatchNorm, ReLU)"),
                &shape,
                bn_params(bn),
            ));
        }
        let flat = self.fc.ws.size()[1];
        rows.push(row("flatten (Flatten)", &[-1, flat], 0));
        rows.push(row("dropout (Dropout)", &[-1, flat], 0));
        rows.push(row("dense (Dense)", &[-1, LABELS], linear_params(&self.fc)));
        rows
    }
}

/// A classifier together with the variables it trains.
#[derive(Debug)]
pub struct Network {
    /// The variables (weights and biases), saved and loaded as a whole.
    pub vs: nn::VarStore,
    /// The architecture.
    pub model: Box<dyn Classifier>,
}

impl Network {
    /// A freshly initialised network of `kind` on `device`, with the given dropout rate.
    pub fn new(kind: ModelKind, dropout: f64, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let model: Box<dyn Classifier> = match kind {
            ModelKind::Mlp => Box::new(Mlp::new(&vs.root(), dropout)),
            ModelKind::Cnn | ModelKind::DeepCnn => Box::new(Cnn::new(&vs.root(), kind, dropout)),
        };
        Network { vs, model }
    }

    /// A network whose initial weights are fixed by `seed` (libtorch's global generator is seeded).
    pub fn seeded(kind: ModelKind, dropout: f64, device: Device, seed: u64) -> Self {
        tch::manual_seed(seed as i64);
        Self::new(kind, dropout, device)
    }

    /// Which architecture.
    pub fn kind(&self) -> ModelKind {
        self.model.kind()
    }

    /// Rows per batch for evaluation passes over a whole split.
    pub fn eval_batch(&self) -> i64 {
        self.model.eval_batch()
    }

    /// Logits in evaluation mode: [batch, 1, 28, 28] -> [batch, 10].
    pub fn logits(&self, images: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let images = images.to_device(self.vs.device());
            self.model.infer(&images)
        })
    }

    /// Class probabilities in evaluation mode: [batch, 1, 28, 28] -> [batch, 10], rows sum to 1.
    pub fn probabilities(&self, images: &Tensor) -> Tensor {
        self.logits(images).softmax(-1, tch::Kind::Float)
    }

    /// Trainable parameters in total.
    pub fn param_count(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    }

    /// The MLP's first-layer weights as [128, 784], or None for other kinds.
    pub fn first_layer_weights(&self) -> Option<Tensor> {
        let vars = self.vs.variables();
        (self.kind() == ModelKind::Mlp).then(|| {
            vars["fc1.kernel"]
                .detach()
                .tr()
                .to_device(Device::Cpu)
                .contiguous()
        })
    }
}

impl Module for Network {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.model.logits(xs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlp_has_the_seed_parameter_count() {
        let net = Network::new(ModelKind::Mlp, 0.2, Device::Cpu);
        assert_eq!(net.param_count(), 101_770);
        let from_layers: i64 = net.model.layers().iter().map(|l| l.params).sum();
        assert_eq!(from_layers, 101_770);
    }

    #[test]
    fn cnn_layers_add_up_and_shapes_match() {
        let net = Network::new(ModelKind::Cnn, 0.25, Device::Cpu);
        let from_layers: i64 = net.model.layers().iter().map(|l| l.params).sum();
        assert_eq!(from_layers, net.param_count());
        let x = Tensor::zeros([3, 1, 28, 28], (tch::Kind::Float, Device::Cpu));
        assert_eq!(net.logits(&x).size(), vec![3, 10]);
        let p = net
            .probabilities(&x)
            .sum_dim_intlist(-1, false, tch::Kind::Float);
        assert!((p - 1.0).abs().max().double_value(&[]) < 1e-5);
    }

    #[test]
    fn channels_last_keeps_values_and_changes_strides() {
        for channels in [1, 3] {
            let x = Tensor::randn([2, channels, 4, 5], (tch::Kind::Float, Device::Cpu)); // [2, c, 4, 5]
            let cl = channels_last(&x);
            assert_eq!(cl.size(), x.size());
            assert_eq!(cl.stride(), vec![20 * channels, 1, 5 * channels, channels]);
            assert!(cl.equal(&x), "values moved for {channels} channels");
        }
    }

    #[test]
    fn cnn_logits_match_the_plain_layout() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cnn = Cnn::new(&vs.root(), ModelKind::Cnn, 0.25);
        let x = Tensor::rand([4, 1, 28, 28], (tch::Kind::Float, Device::Cpu)); // [4, 1, 28, 28]
        let plain = tch::no_grad(|| {
            let mut h = x.shallow_clone(); // [4, 1, 28, 28], NCHW
            for (conv, bn) in &cnn.convs {
                h = h.apply(conv).apply_t(bn, false).relu();
            }
            h.flatten(1, -1).apply(&cnn.fc) // [4, 10]
        });
        let ours = tch::no_grad(|| cnn.logits(&x, false)); // [4, 10]
        assert!(ours.allclose(&plain, 1e-4, 1e-5, false));
    }

    #[test]
    fn parses_kinds() {
        assert_eq!("CNN".parse::<ModelKind>().unwrap(), ModelKind::Cnn);
        assert!("resnet"
            .parse::<ModelKind>()
            .unwrap_err()
            .to_string()
            .contains("unknown model"));
    }
}
