//! The notebooks' crate sends data where a network's variables are, not to a global device: a
//! network built on an explicit device goes through `fit`, `evaluate`, `forward_pass`,
//! `first_batch` and `load_trained` with its data on that device. Every device this machine has
//! is tried: the CPU always, and the GPU when libtorch sees one (a CPU network on a GPU machine is
//! the case that a global device got wrong).

use mnist_helpers::data::{Mnist, Split};
use mnist_helpers::model::{cnn_model, mlp_model};
use mnist_helpers::notebook::{evaluate, first_batch, forward_pass};
use mnist_helpers::train::fit;
use mnist_helpers::TrainConfig;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// A small random stand-in for MNIST, on the CPU as loading gives it.
fn tiny_mnist() -> Mnist {
    let split = |n: i64| Split {
        images: Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu)), // [n, 1, 28, 28]
        labels: Tensor::randint(10, [n], (Kind::Int64, Device::Cpu)),     // [n]
    };
    Mnist {
        train: split(96),
        test: split(24),
    }
}

/// The devices to try: the CPU, and the accelerator when there is one.
fn devices() -> Vec<Device> {
    let mut all = vec![Device::Cpu];
    if mnist_helpers::device() != Device::Cpu {
        all.push(mnist_helpers::device());
    }
    all
}

/// `fit`, `evaluate` and `forward_pass` with a network whose variables are on `device`.
fn run_on(device: Device, name: &str, build: fn(&nn::Path) -> Box<dyn ModuleT>) {
    let data = tiny_mnist();
    let vs = nn::VarStore::new(device);
    let net = build(&vs.root());
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let history = fit(name, net.as_ref(), &vs, &data, &cfg)
        .unwrap_or_else(|e| panic!("{name} on {device:?}: fit: {e:#}"));
    assert_eq!(history.epochs.len(), 1);
    let predictions = evaluate(net.as_ref(), &data.test)
        .unwrap_or_else(|e| panic!("{name} on {device:?}: evaluate: {e:#}"));
    assert_eq!(predictions.len(), 24);
    forward_pass(net.as_ref(), &data.test, 4)
        .unwrap_or_else(|e| panic!("{name} on {device:?}: forward_pass: {e:#}"));
    let (images, labels) = first_batch(&data.train, 8, vs.device());
    assert_eq!((images.device(), labels.device()), (device, device));
    let logits = net.forward_t(&images, false); // [8, 10], where the network is
    assert_eq!((logits.size(), logits.device()), (vec![8, 10], device));
}

#[test]
fn every_helper_follows_the_networks_device() {
    let out = tempfile::tempdir().unwrap();
    std::env::set_var("MNIST_ARTIFACTS", out.path());
    for device in devices() {
        run_on(device, "mlp", |p| Box::new(mlp_model(p)));
        run_on(device, "cnn", |p| Box::new(cnn_model(p)));
    }
    for file in ["mlp.safetensors", "cnn.safetensors"] {
        assert!(out.path().join(file).is_file(), "{file} was not saved");
    }
    // What 05 does: a saved model read back (on the default device) and evaluated.
    let mlp = mnist_helpers::artifacts::load_trained("mlp", mlp_model).unwrap();
    let predictions = evaluate(&mlp, &tiny_mnist().test).unwrap();
    assert_eq!(predictions.len(), 24);
}

#[test]
fn a_network_that_does_not_fit_gets_the_shape_error_not_a_device_error() {
    for device in devices() {
        let vs = nn::VarStore::new(device);
        let p = vs.root();
        let net = nn::seq_t().add_fn(|xs| xs.flatten(1, -1)).add(nn::linear(
            &p / "fc1",
            100,
            10,
            Default::default(),
        ));
        let err = format!("{:#}", evaluate(&net, &tiny_mnist().test).unwrap_err());
        assert!(
            err.contains("expects 100 inputs per image but gets 784"),
            "{device:?}: {err}"
        );
    }
}
