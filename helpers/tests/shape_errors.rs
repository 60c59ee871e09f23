//! A learner's "your turn" network that does not fit MNIST: `fit` and `evaluate` answer with one
//! line naming the layer, not a panic with libtorch's C++ frames.

use mnist_helpers::config::TrainConfig;
use mnist_helpers::data::{Mnist, Split};
use mnist_helpers::metrics::predict;
use mnist_helpers::train::fit;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// A tiny random stand-in for MNIST: the shapes are what matter here.
fn tiny_mnist() -> Mnist {
    let split = |n: i64| Split {
        images: Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu)), // [n, 1, 28, 28]
        labels: Tensor::randint(10, [n], (Kind::Int64, Device::Cpu)),     // [n]
    };
    Mnist {
        train: split(64),
        test: split(16),
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    }
}

#[test]
fn fit_names_the_layer_that_expects_the_wrong_inputs() {
    let vs = nn::VarStore::new(Device::Cpu);
    let p = vs.root();
    let net = nn::seq_t()
        .add_fn(|xs| xs.flatten(1, -1))
        .add(nn::linear(&p / "fc1", 100, 128, Default::default()))
        .add_fn(|xs| xs.relu())
        .add(nn::linear(&p / "fc2", 128, 10, Default::default()));
    let err = fit("oops", &net, &vs, &tiny_mnist(), &config()).unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("layer `fc1` expects 100 inputs per image but gets 784"),
        "{text}"
    );
    // The failed check left gradients on: the next network trains.
    let x = Tensor::ones([1], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    assert!(
        (x * 2).requires_grad(),
        "gradients stayed off after the failed run"
    );
}

#[test]
fn fit_and_predict_name_a_last_layer_without_ten_outputs() {
    let vs = nn::VarStore::new(Device::Cpu);
    let p = vs.root();
    let net = nn::seq_t()
        .add_fn(|xs| xs.flatten(1, -1))
        .add(nn::linear(&p / "fc1", 784, 32, Default::default()))
        .add(nn::linear(&p / "fc2", 32, 7, Default::default()));
    let data = tiny_mnist();
    let text = format!(
        "{:#}",
        fit("oops", &net, &vs, &data, &config()).unwrap_err()
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("[2, 7]") && text.contains("layer `fc2`"),
        "{text}"
    );
    let text = format!("{:#}", predict(&net, &data.test, Device::Cpu).unwrap_err());
    assert!(
        text.contains("[2, 7]") && text.contains("10 outputs"),
        "{text}"
    );
    let logits = net.forward_t(&data.test.images, false); // the network itself still runs
    assert_eq!(logits.size(), [16, 7]);
}
