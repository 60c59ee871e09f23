//! The two classifiers, the seed MLP and a small CNN, behind one trait. Both return logits.

use crate::data::{IMAGE_PIXELS, LABELS};
use crate::mlp_step::{mlp_step, ManualStep, MlpWeights};
use crate::raw::is_plain_cpu_f32;
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
}

impl ModelKind {
    /// Both kinds, in the order the notebooks show them.
    pub const ALL: [ModelKind; 2] = [ModelKind::Mlp, ModelKind::Cnn];

    /// The short lower-case name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
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
            _ => bail!("unknown model {s:?}: expected mlp or cnn"),
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
    /// Which architecture this is.
    fn kind(&self) -> ModelKind;
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

/// Parameters of a linear layer.
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

/// The seed model: 784-128-10 with dropout, 101,770 parameters.
#[derive(Debug)]
pub struct Mlp {
    fc1: nn::Linear,
    fc2: nn::Linear,
    dropout: f64,
}

/// Units in the MLP's hidden layer.
pub const MLP_HIDDEN: i64 = 128;

impl Mlp {
    /// Creates the layers under `path`.
    pub fn new(path: &nn::Path, dropout: f64) -> Self {
        let fc1 = nn::linear(path / "fc1", IMAGE_PIXELS, MLP_HIDDEN, Default::default());
        let fc2 = nn::linear(path / "fc2", MLP_HIDDEN, LABELS, Default::default());
        Mlp { fc1, fc2, dropout }
    }

    /// The first layer's weights: [128, 784], one 28x28 template per hidden unit.
    pub fn first_layer_weights(&self) -> &Tensor {
        &self.fc1.ws
    }
}

impl Classifier for Mlp {
    fn logits(&self, images: &Tensor, train: bool) -> Tensor {
        images
            .flatten(1, -1) // [batch, 784]
            .apply(&self.fc1) // [batch, 128]
            .relu()
            .dropout(self.dropout, train)
            .apply(&self.fc2) // [batch, 10]
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Mlp
    }

    fn layers(&self) -> Vec<LayerSummary> {
        vec![
            row("flatten (Flatten)", &[-1, IMAGE_PIXELS], 0),
            row(
                "dense (Dense, ReLU)",
                &[-1, MLP_HIDDEN],
                linear_params(&self.fc1),
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
        let (b1, b2) = (self.fc1.bs.as_ref()?, self.fc2.bs.as_ref()?);
        let weights = MlpWeights {
            w1: &self.fc1.ws,
            b1,
            w2: &self.fc2.ws,
            b2,
        };
        let usable = [weights.w1, b1, weights.w2, b2, images]
            .iter()
            .all(|t| is_plain_cpu_f32(t));
        usable.then(|| mlp_step(&weights, images, labels, self.dropout, rng))
    }
}

/// A small, fast convnet: two strided convolutions with batch normalisation, then one dense layer.
/// Striding instead of pooling keeps the feature maps small, which is what costs on a CPU.
#[derive(Debug)]
pub struct Cnn {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    fc: nn::Linear,
    dropout: f64,
}

/// Channels of the CNN's two convolutions.
const CNN_CHANNELS: [i64; 2] = [32, 64];
/// Side of the CNN's last feature map (28 halved twice).
const CNN_LAST_SIDE: i64 = 7;

impl Cnn {
    /// Creates the layers under `path`.
    pub fn new(path: &nn::Path, dropout: f64) -> Self {
        let [c1, c2] = CNN_CHANNELS;
        let strided = |padding| nn::ConvConfig {
            stride: 2,
            padding,
            bias: false,
            ..Default::default()
        };
        Cnn {
            conv1: nn::conv2d(path / "conv1", 1, c1, 5, strided(2)),
            bn1: nn::batch_norm2d(path / "bn1", c1, Default::default()),
            conv2: nn::conv2d(path / "conv2", c1, c2, 3, strided(1)),
            bn2: nn::batch_norm2d(path / "bn2", c2, Default::default()),
            fc: nn::linear(
                path / "fc",
                c2 * CNN_LAST_SIDE * CNN_LAST_SIDE,
                LABELS,
                Default::default(),
            ),
            dropout,
        }
    }
}

impl Classifier for Cnn {
    fn logits(&self, images: &Tensor, train: bool) -> Tensor {
        images // [batch, 1, 28, 28]
            .apply(&self.conv1) // [batch, 32, 14, 14]
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2) // [batch, 64, 7, 7]
            .apply_t(&self.bn2, train)
            .relu()
            .flatten(1, -1) // [batch, 3136]
            .dropout(self.dropout, train)
            .apply(&self.fc) // [batch, 10]
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Cnn
    }

    fn layers(&self) -> Vec<LayerSummary> {
        let [c1, c2] = CNN_CHANNELS;
        let side = CNN_LAST_SIDE;
        let flat = c2 * side * side;
        vec![
            row(
                "conv2d (Conv2D 5x5, stride 2)",
                &[-1, c1, 14, 14],
                conv_params(&self.conv1),
            ),
            row(
                "batch_norm (BatchNorm, ReLU)",
                &[-1, c1, 14, 14],
                bn_params(&self.bn1),
            ),
            row(
                "conv2d_1 (Conv2D 3x3, stride 2)",
                &[-1, c2, side, side],
                conv_params(&self.conv2),
            ),
            row(
                "batch_norm_1 (BatchNorm, ReLU)",
                &[-1, c2, side, side],
                bn_params(&self.bn2),
            ),
            row("flatten (Flatten)", &[-1, flat], 0),
            row("dropout (Dropout)", &[-1, flat], 0),
            row("dense (Dense)", &[-1, LABELS], linear_params(&self.fc)),
        ]
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
            ModelKind::Cnn => Box::new(Cnn::new(&vs.root(), dropout)),
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

    /// Logits in evaluation mode: [batch, 1, 28, 28] -> [batch, 10].
    pub fn logits(&self, images: &Tensor) -> Tensor {
        tch::no_grad(|| {
            self.model
                .logits(&images.to_device(self.vs.device()), false)
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
        (self.kind() == ModelKind::Mlp).then(|| vars["fc1.weight"].detach().to_device(Device::Cpu))
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
    fn parses_kinds() {
        assert_eq!("CNN".parse::<ModelKind>().unwrap(), ModelKind::Cnn);
        assert!("resnet"
            .parse::<ModelKind>()
            .unwrap_err()
            .to_string()
            .contains("unknown model"));
    }
}
