//! The stop button's contract, without a kernel (the kernel's signal path is checked under
//! nbclient by scripts/kernel_checks.py): a stop request ends `fit` after the current batch with
//! the completed epochs' history and the network's weights as they are; `predict`
//! answers with a `Stopped` error; a new run is not stopped by an old request. One test in this
//! file: the request is process-wide, so nothing else may run beside it.

use mnist_helpers::config::TrainConfig;
use mnist_helpers::data::{Mnist, Split};
use mnist_helpers::metrics::predict;
use mnist_helpers::stop;
use mnist_helpers::train::fit;
use std::time::Duration;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// Random images with random labels: enough batches that a run lasts well past the request.
fn toy_mnist(n: i64) -> Mnist {
    let split = |n: i64| Split {
        images: Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu)), // [n, 1, 28, 28]
        labels: Tensor::randint(10, [n], (Kind::Int64, Device::Cpu)),     // [n]
    };
    Mnist {
        train: split(n),
        test: split(2000),
    }
}

#[test]
fn a_stop_request_ends_fit_after_its_batch_and_keeps_the_network() {
    let data = toy_mnist(40_000);
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 4,
        ..TrainConfig::default()
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let net = mnist_helpers::model::mlp_model(&vs.root());
    let fc1 = |vs: &nn::VarStore| vs.variables()["fc1.weight"].copy(); // [128, 784]
    let before = fc1(&vs);

    stop::request(); // an old request: the new run must not see it
    let pressed = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(400));
        stop::request();
    });
    let history = fit("toy", &net, &vs, &data, &cfg).expect("a stopped run is not an error");
    pressed.join().unwrap();

    assert!(history.epochs.is_empty(), "{} epochs", history.epochs.len());
    let after = fc1(&vs);
    let moved = f64::try_from((&after - &before).abs().max()).unwrap();
    assert!(moved > 0.0, "the network kept its initial weights");
    assert!(!stop::requested(), "the request outlived the run");

    // A request while evaluating: a Stopped error, not predictions.
    let _listening = stop::listen();
    stop::request();
    let err = predict(&net, &data.test, Device::Cpu).unwrap_err();
    let stopped = stop::as_stopped(&err).expect("a Stopped error");
    assert_eq!((stopped.what.as_str(), stopped.done), ("evaluation", 0));
}
