//! The notebooks' crate sends data where it is told a network's variables are, never to a device
//! found by trial: `fit` reads it from the VarStore, a loaded model carries it, and `evaluate`,
//! `predict` and `first_batch` take it. Every device this machine has is
//! tried (the CPU always, the GPU when libtorch sees one: a CPU network on a GPU machine is the
//! case that a global device got wrong), and a device it does not have: a function that ignored
//! the device it was given would run on the CPU and pass, instead of failing with its name.

use mnist_helpers::artifacts::{load_trained, save_model, save_weights, weights_path};
use mnist_helpers::data::{Mnist, Split};
use mnist_helpers::metrics::predict;
use mnist_helpers::model::{cnn_model, mlp_model};
use mnist_helpers::notebook::first_batch;
use mnist_helpers::train::{evaluate, fit};
use mnist_helpers::TrainConfig;
use std::path::Path;
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

/// `fit`, `save_model`, `predict` and `evaluate` with a network whose variables are on `device`.
fn run_on(device: Device, name: &str, build: fn(&nn::Path) -> Box<dyn ModuleT>, dir: &Path) {
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
    save_model(dir, &vs, &history).unwrap();
    let predictions = predict(net.as_ref(), &data.test, vs.device())
        .unwrap_or_else(|e| panic!("{name} on {device:?}: predict: {e:#}"));
    assert_eq!(predictions.len(), 24);
    let (loss, accuracy) = evaluate(net.as_ref(), &data.test, vs.device())
        .unwrap_or_else(|e| panic!("{name} on {device:?}: evaluate: {e:#}"));
    assert!(loss.is_finite() && (0.0..=100.0).contains(&accuracy));
    let (images, labels) = first_batch(&data.train, 8, vs.device());
    assert_eq!((images.device(), labels.device()), (device, device));
    let logits = net.forward_t(&images, false); // [8, 10], where the network is
    assert_eq!((logits.size(), logits.device()), (vec![8, 10], device));
}

#[test]
fn every_helper_follows_the_networks_device() {
    let out = tempfile::tempdir().unwrap();
    for device in devices() {
        run_on(device, "mlp", |p| Box::new(mlp_model(p)), out.path());
        run_on(device, "cnn", |p| Box::new(cnn_model(p)), out.path());
    }
    for file in ["mlp.safetensors", "cnn.safetensors"] {
        assert!(out.path().join(file).is_file(), "{file} was not saved");
    }
    // What 05 does: a saved model read back (on the default device) and evaluated.
    let mlp = load_trained(out.path(), "mlp", mlp_model).unwrap();
    let predictions = predict(&mlp, &tiny_mnist().test, mlp.device()).unwrap();
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
        let err = predict(&net, &tiny_mnist().test, device).unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("expects 100 inputs per image but gets 784"),
            "{device:?}: {err}"
        );
    }
}

/// A device this machine does not have (libtorch has no MPS off macOS, no Vulkan in its builds).
fn absent_device() -> Device {
    match tch::utils::has_mps() {
        true => Device::Vulkan,
        false => Device::Mps,
    }
}

#[test]
fn every_function_given_a_device_uses_it() {
    let absent = absent_device();
    let data = tiny_mnist();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = mlp_model(&vs.root());
    let names_it = |what: &str, err: anyhow::Error| {
        let err = format!("{err:#}");
        assert!(err.contains(&format!("{absent:?}")), "{what}: {err}");
    };
    names_it("evaluate", evaluate(&net, &data.test, absent).unwrap_err());
    names_it("predict", predict(&net, &data.test, absent).unwrap_err());
    let nowhere = nn::VarStore::new(absent); // no variables: only the device says where to train
    let no_variables = nn::seq_t().add_fn(|xs| xs.flatten(1, -1).narrow(1, 0, 10));
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    names_it(
        "fit",
        fit("nowhere", &no_variables, &nowhere, &data, &cfg).unwrap_err(),
    );
    let moved = std::panic::catch_unwind(|| first_batch(&data.train, 4, absent));
    assert!(
        moved.is_err(),
        "first_batch put the batch on the CPU, not on {absent:?}"
    );
}

#[test]
fn a_loaded_model_carries_its_device() {
    let dir = tempfile::tempdir().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let _net = mlp_model(&vs.root());
    save_weights(&vs, &weights_path(dir.path(), "mlp")).unwrap();
    let history = mnist_helpers::history::History {
        name: "mlp".into(),
        config: TrainConfig::default(),
        epochs: Vec::new(),
    };
    let history_file = mnist_helpers::artifacts::history_path(dir.path(), "mlp");
    mnist_helpers::artifacts::save_history(&history, &history_file).unwrap();
    let model = load_trained(dir.path(), "mlp", mlp_model).unwrap();
    assert_eq!(model.device(), mnist_helpers::device());
    let predictions = predict(&model, &tiny_mnist().test, model.device()).unwrap();
    assert_eq!(predictions.len(), 24);
}
