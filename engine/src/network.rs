//! The engine's networks behind one trait: the seed MLP with its hand-written CPU step, the
//! notebooks' CNN (the same `cnn_model` that notebook 03 shows), and the deeper CNN of the best
//! recipe. All return logits.

use crate::deep_cnn::{deep_cnn, shift_averaged};
use crate::mlp_step::{mlp_infer, mlp_step, ManualStep, MlpWeights};
use anyhow::{bail, Result};
use mnist_helpers::data::{IMAGE_PIXELS, LABELS};
use mnist_helpers::model::cnn_model;
use mnist_helpers::rng::SplitMix64;
use mnist_helpers::train::EVAL_BATCH;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// Which architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Flatten, Dense 128 ReLU, Dropout 0.2, Dense 10: the seed notebook's model.
    Mlp,
    /// Two strided convolutions with batch normalisation and ReLU, then Dense 10 (no dropout).
    Cnn,
    /// The best recipe's CNN: four convolutions (the second and the fourth at stride 1).
    DeepCnn,
}

impl ModelKind {
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

/// What every classifier offers: logits for a batch, and a faster path where it has one.
pub trait Classifier: fmt::Debug + Send {
    /// Logits: [batch, 1, 28, 28] -> [batch, 10]; `train` turns dropout on.
    fn logits(&self, images: &Tensor, train: bool) -> Tensor;
    /// Logits in evaluation mode without gradients (the caller disables autograd); models with a
    /// faster path for inference override it.
    fn infer(&self, images: &Tensor) -> Tensor {
        self.logits(images, false)
    }
    /// [`Classifier::infer`] without test-time shifts, where the model has them (the validation
    /// after each epoch, at a fifth of the deep CNN's cost).
    fn infer_one_view(&self, images: &Tensor) -> Tensor {
        self.infer(images)
    }
    /// Which architecture this is.
    fn kind(&self) -> ModelKind;
    /// Rows per batch when evaluating a whole split.
    fn eval_batch(&self) -> i64 {
        EVAL_BATCH
    }
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
/// The MLP's dropout rate while training, as in the notebooks' `mlp_model`.
pub const MLP_DROPOUT: f64 = 0.2;
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

/// A tch network of the notebooks' kind (the CNN, the deep CNN): logits from `forward_t`.
#[derive(Debug)]
pub struct TchNet {
    kind: ModelKind,
    net: Box<dyn ModuleT>,
    /// Whether predictions average over one-pixel shifts of the image (the deep CNN).
    shift_views: bool,
}

impl Classifier for TchNet {
    fn logits(&self, images: &Tensor, train: bool) -> Tensor {
        self.net.forward_t(images, train)
    }

    fn infer(&self, images: &Tensor) -> Tensor {
        match self.shift_views {
            true => shift_averaged(self.net.as_ref(), images),
            false => self.net.forward_t(images, false),
        }
    }

    fn infer_one_view(&self, images: &Tensor) -> Tensor {
        self.net.forward_t(images, false)
    }

    fn kind(&self) -> ModelKind {
        self.kind
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
    /// A freshly initialised network of `kind` on `device` (the deep CNN training in float32).
    pub fn new(kind: ModelKind, device: Device) -> Self {
        Self::with_training_kind(kind, device, Kind::Float)
    }

    /// [`Network::new`] with the deep CNN's training pass in `train_kind` (see
    /// [`crate::precision`]); the other networks always train in float32.
    pub fn with_training_kind(kind: ModelKind, device: Device, train_kind: Kind) -> Self {
        let vs = nn::VarStore::new(device);
        let p = vs.root();
        let model: Box<dyn Classifier> = match kind {
            ModelKind::Mlp => Box::new(Mlp::new(&p, MLP_DROPOUT)),
            ModelKind::Cnn => Box::new(TchNet {
                kind,
                net: Box::new(cnn_model(&p)),
                shift_views: false,
            }),
            ModelKind::DeepCnn => Box::new(TchNet {
                kind,
                net: Box::new(deep_cnn(&p, train_kind)),
                shift_views: true,
            }),
        };
        Network { vs, model }
    }

    /// A network whose initial weights are fixed by `seed` (libtorch's global generator is seeded).
    pub fn seeded(kind: ModelKind, device: Device, seed: u64) -> Self {
        Self::seeded_in(kind, device, seed, Kind::Float)
    }

    /// [`Network::seeded`] with the deep CNN's training pass in `train_kind`.
    pub fn seeded_in(kind: ModelKind, device: Device, seed: u64, train_kind: Kind) -> Self {
        tch::manual_seed(seed as i64);
        Self::with_training_kind(kind, device, train_kind)
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

    /// [`Network::logits`] without test-time shifts (see [`Classifier::infer_one_view`]).
    pub fn logits_one_view(&self, images: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let images = images.to_device(self.vs.device());
            self.model.infer_one_view(&images)
        })
    }

    /// Class probabilities in evaluation mode: [batch, 1, 28, 28] -> [batch, 10], rows sum to 1.
    pub fn probabilities(&self, images: &Tensor) -> Tensor {
        self.logits(images).softmax(-1, tch::Kind::Float)
    }

    /// Trainable parameters in total.
    pub fn param_count(&self) -> i64 {
        mnist_helpers::tables::param_count(&self.vs)
    }
}

/// A network is a tch module like any other: the notebooks' metrics and charts take it.
impl ModuleT for Network {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match train {
            true => self.model.logits(xs, true),
            false => self.model.infer(xs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts() {
        let count = |kind| Network::new(kind, Device::Cpu).param_count();
        assert_eq!(count(ModelKind::Mlp), 101_770);
        assert_eq!(count(ModelKind::Cnn), 50_794);
        assert!(count(ModelKind::DeepCnn) > count(ModelKind::Cnn));
    }

    #[test]
    fn every_kind_gives_probabilities() {
        for kind in [ModelKind::Mlp, ModelKind::Cnn, ModelKind::DeepCnn] {
            let net = Network::new(kind, Device::Cpu);
            let x = Tensor::rand([3, 1, 28, 28], (tch::Kind::Float, Device::Cpu));
            let p = net
                .probabilities(&x)
                .sum_dim_intlist(-1, false, tch::Kind::Float); // [3]
            assert!((p - 1.0).abs().max().double_value(&[]) < 1e-5, "{kind}");
        }
    }

    #[test]
    fn the_deep_cnn_averages_its_five_views_and_validates_on_one() {
        let net = Network::seeded(ModelKind::DeepCnn, Device::Cpu, 7);
        let x = Tensor::rand([4, 1, 28, 28], (tch::Kind::Float, Device::Cpu)); // [4, 1, 28, 28]
        let one_view = net.logits_one_view(&x);
        let by_hand = tch::no_grad(|| {
            let views = [(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)];
            let probs: Vec<Tensor> = views
                .iter()
                .map(|&(r, c)| {
                    net.logits_one_view(&x.roll([r, c], [2, 3]))
                        .softmax(-1, tch::Kind::Float)
                })
                .collect();
            Tensor::stack(&probs, 0)
                .mean_dim(0, false, tch::Kind::Float)
                .log() // [4, 10]
        });
        let averaged = net.logits(&x);
        assert!(averaged.allclose(&by_hand, 1e-5, 1e-6, false));
        assert!(
            !averaged.allclose(&one_view, 1e-3, 1e-3, false),
            "shifts changed nothing"
        );
        // The CNN has no test-time shifts: both paths agree.
        let cnn = Network::seeded(ModelKind::Cnn, Device::Cpu, 7);
        assert!(cnn
            .logits(&x)
            .allclose(&cnn.logits_one_view(&x), 1e-6, 1e-7, false));
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
