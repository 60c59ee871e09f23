//! The two classifiers, the seed MLP and a small CNN, behind one trait. Both return logits.

use crate::data::{IMAGE_PIXELS, LABELS};
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
    /// Two 3x3 convolutions with max pooling, Dense 128, Dropout, Dense 10.
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
}

/// Parameters of a linear layer.
fn linear_params(l: &nn::Linear) -> i64 {
    l.ws.numel() as i64 + l.bs.as_ref().map_or(0, |b| b.numel() as i64)
}

/// Parameters of a convolution.
fn conv_params(c: &nn::Conv2D) -> i64 {
    c.ws.numel() as i64 + c.bs.as_ref().map_or(0, |b| b.numel() as i64)
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
}

/// A small convnet: conv 32 -> pool -> conv 64 -> pool -> dense 128 -> dropout -> dense 10.
#[derive(Debug)]
pub struct Cnn {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    fc1: nn::Linear,
    fc2: nn::Linear,
    dropout: f64,
}

impl Cnn {
    /// Creates the layers under `path`.
    pub fn new(path: &nn::Path, dropout: f64) -> Self {
        let same = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        Cnn {
            conv1: nn::conv2d(path / "conv1", 1, 32, 3, same),
            conv2: nn::conv2d(path / "conv2", 32, 64, 3, same),
            fc1: nn::linear(path / "fc1", 64 * 7 * 7, 128, Default::default()),
            fc2: nn::linear(path / "fc2", 128, LABELS, Default::default()),
            dropout,
        }
    }
}

impl Classifier for Cnn {
    fn logits(&self, images: &Tensor, train: bool) -> Tensor {
        images // [batch, 1, 28, 28]
            .apply(&self.conv1) // [batch, 32, 28, 28]
            .relu()
            .max_pool2d_default(2) // [batch, 32, 14, 14]
            .apply(&self.conv2) // [batch, 64, 14, 14]
            .relu()
            .max_pool2d_default(2) // [batch, 64, 7, 7]
            .flatten(1, -1) // [batch, 3136]
            .apply(&self.fc1) // [batch, 128]
            .relu()
            .dropout(self.dropout, train)
            .apply(&self.fc2) // [batch, 10]
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Cnn
    }

    fn layers(&self) -> Vec<LayerSummary> {
        vec![
            row(
                "conv2d (Conv2D 3x3, ReLU)",
                &[-1, 32, 28, 28],
                conv_params(&self.conv1),
            ),
            row("max_pooling2d (MaxPool 2x2)", &[-1, 32, 14, 14], 0),
            row(
                "conv2d_1 (Conv2D 3x3, ReLU)",
                &[-1, 64, 14, 14],
                conv_params(&self.conv2),
            ),
            row("max_pooling2d_1 (MaxPool 2x2)", &[-1, 64, 7, 7], 0),
            row("flatten (Flatten)", &[-1, 64 * 7 * 7], 0),
            row("dense (Dense, ReLU)", &[-1, 128], linear_params(&self.fc1)),
            row("dropout (Dropout)", &[-1, 128], 0),
            row("dense_1 (Dense)", &[-1, LABELS], linear_params(&self.fc2)),
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
