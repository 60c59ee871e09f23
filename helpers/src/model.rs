//! The two networks of the course as tch code. Notebook 03 defines them in its cells, line for
//! line the code between the `lesson:` markers (`helpers/tests/notebook_lessons.rs` fails when the
//! two differ), and notebooks 04-07 run these copies: what a learner reads is what trains.

use tch::nn::{self, ModuleT};
use tch::Tensor;

// lesson: mlp
/// The course's MLP: Flatten -> Dense 128 ReLU -> Dropout 0.2 -> Dense 10. It returns logits,
/// ten raw scores per image; softmax turns them into probabilities only for reading.
pub fn mlp_model(p: &nn::Path) -> nn::SequentialT {
    nn::seq_t()
        .add_fn(|xs| xs.flatten(1, -1)) // [batch, 784]
        .add(nn::linear(p / "fc1", 784, 128, Default::default())) // [batch, 128]
        .add_fn(|xs| xs.relu())
        .add_fn_t(|xs, train| xs.dropout(0.2, train)) // zeroes 20% of the units while training
        .add(nn::linear(p / "fc2", 128, 10, Default::default())) // [batch, 10]
}
// end lesson

// lesson: cnn
/// A convolution of `k` x `k` filters moving 2 pixels at a time, padded so that the output is
/// half the input's side. No bias: the batch normalisation after it adds one.
pub fn strided_conv(p: nn::Path, inputs: i64, filters: i64, k: i64) -> nn::Conv2D {
    let config = nn::ConvConfig {
        stride: 2,
        padding: k / 2,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(p, inputs, filters, k, config)
}

/// A small CNN: two convolutions that move two pixels at a time (28 -> 14 -> 7), each followed
/// by batch normalisation and ReLU, then one dense layer. Logits out, like the MLP.
#[derive(Debug)]
pub struct Cnn {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    fc: nn::Linear,
}

/// Creates the CNN's layers under `p`.
pub fn cnn_model(p: &nn::Path) -> Cnn {
    Cnn {
        conv1: strided_conv(p / "conv1", 1, 32, 5), // 32 filters of 5x5
        bn1: nn::batch_norm2d(p / "bn1", 32, Default::default()),
        conv2: strided_conv(p / "conv2", 32, 64, 3), // 64 filters of 3x3
        bn2: nn::batch_norm2d(p / "bn2", 64, Default::default()),
        fc: nn::linear(p / "fc", 64 * 7 * 7, 10, Default::default()),
    }
}

impl Cnn {
    /// The last hidden layer: the 3,136 numbers per image that the dense layer reads.
    pub fn features_t(&self, xs: &Tensor, train: bool) -> Tensor {
        channels_last(&xs.view([-1, 1, 28, 28])) // [batch, 1, 28, 28]
            .apply(&self.conv1) // [batch, 32, 14, 14]
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2) // [batch, 64, 7, 7]
            .apply_t(&self.bn2, train)
            .relu()
            .flatten(1, -1) // [batch, 3136]
    }
}

impl ModuleT for Cnn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.features_t(xs, train).apply(&self.fc) // [batch, 10]
    }
}
// end lesson

/// The same images with channels-last strides (NHWC): shapes and values are unchanged, but
/// libtorch's CPU convolutions (oneDNN) then run every layer in that layout without converting
/// to and from their own at each step, about 20% of a CNN epoch on a CPU.
pub fn channels_last(images: &Tensor) -> Tensor {
    let [n, c, h, w] = images.size()[..] else {
        return images.shallow_clone();
    };
    let nhwc = images.permute([0, 2, 3, 1]).contiguous(); // [n, h, w, c]
    nhwc.as_strided([n, c, h, w], [h * w * c, 1, w * c, c], None) // [n, c, h, w]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn params(vs: &nn::VarStore) -> i64 {
        vs.trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    }

    #[test]
    fn mlp_has_the_keras_parameter_count() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = mlp_model(&vs.root());
        assert_eq!(params(&vs), 101_770);
        let x = Tensor::zeros([3, 1, 28, 28], (Kind::Float, Device::Cpu));
        assert_eq!(net.forward_t(&x, false).size(), vec![3, 10]);
    }

    #[test]
    fn cnn_shapes_and_parameters() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = cnn_model(&vs.root());
        assert_eq!(params(&vs), 800 + 64 + 18_432 + 128 + 31_370);
        let x = Tensor::rand([3, 1, 28, 28], (Kind::Float, Device::Cpu));
        assert_eq!(net.forward_t(&x, false).size(), vec![3, 10]);
    }

    #[test]
    fn channels_last_keeps_values_and_changes_strides() {
        for channels in [1, 3] {
            let x = Tensor::randn([2, channels, 4, 5], (Kind::Float, Device::Cpu)); // [2, c, 4, 5]
            let cl = channels_last(&x);
            assert_eq!(cl.size(), x.size());
            assert_eq!(cl.stride(), vec![20 * channels, 1, 5 * channels, channels]);
            assert!(cl.equal(&x), "values moved for {channels} channels");
        }
    }
}
