//! Training on a small real subset: learning happens, seeds repeat, artifacts round-trip, NaN stops.

mod common;

use common::real_mnist;
use mnist_engine::trainer::fit;
use mnist_engine::weights::{load_network, save_network};
use mnist_engine::{ModelKind, Network, Recipe};
use mnist_helpers::artifacts::{load_history, save_history};
use mnist_helpers::history::History;
use mnist_helpers::metrics::predict;
use std::sync::Mutex;
use tch::Device;

fn quick_config(model: ModelKind, limit: usize) -> Recipe {
    let mut cfg = Recipe::for_model(model);
    cfg.train.epochs = 2;
    cfg.train.train_limit = Some(limit);
    cfg
}

/// libtorch's generator is global to the process: training tests take turns.
static TORCH_RNG: Mutex<()> = Mutex::new(());

fn train(cfg: &Recipe) -> (Network, History) {
    let _turn = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let data = real_mnist();
    let (train, val) = data
        .train
        .train_validation(cfg.train.validation_fraction, cfg.train.seed)
        .unwrap();
    let (train, val) = (train.head(cfg.train.train_limit.unwrap()), val.head(1000));
    let mut net = Network::seeded(cfg.model, Device::Cpu, cfg.train.seed);
    let history = fit(&mut net, &train, &val, cfg, &mut ()).unwrap();
    (net, history)
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn mlp_learns_from_a_small_subset() {
    let (net, history) = train(&quick_config(ModelKind::Mlp, 3000));
    assert_eq!(history.epochs.len(), 2);
    assert!(history.epochs[1].train_loss < history.epochs[0].train_loss);
    assert!(history.epochs[1].val_accuracy > 85.0, "{history:?}");
    let test = real_mnist().test.head(2000);
    assert!(predict(&net, &test, net.vs.device()).unwrap().accuracy() > 85.0);
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn cnn_learns_from_a_small_subset() {
    let (_, history) = train(&quick_config(ModelKind::Cnn, 2000));
    assert!(history.epochs[1].val_accuracy > 85.0, "{history:?}");
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn same_seed_gives_the_same_history() {
    let cfg = quick_config(ModelKind::Mlp, 2000);
    let strip = |h: History| {
        h.epochs
            .into_iter()
            .map(|e| (e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy))
            .collect::<Vec<_>>()
    };
    let a = strip(train(&cfg).1);
    let b = strip(train(&cfg).1);
    assert_eq!(a, b);
    let mut other = cfg;
    other.train.seed = 7;
    let c = strip(train(&other).1);
    assert_ne!(a, c);
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn weights_and_history_round_trip() {
    let mut cfg = quick_config(ModelKind::Cnn, 500);
    cfg.train.epochs = 1;
    let (net, history) = train(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (
        dir.path().join("cnn.safetensors"),
        dir.path().join("cnn_history.json"),
    );
    save_network(&net, &w).unwrap();
    save_history(&history, &h).unwrap();
    let loaded = load_network(&w, Device::Cpu).unwrap();
    assert_eq!(loaded.kind(), ModelKind::Cnn);
    let test = real_mnist().test.head(300);
    assert_eq!(
        predict(&net, &test, net.vs.device()).unwrap().predicted,
        predict(&loaded, &test, loaded.vs.device())
            .unwrap()
            .predicted
    );
    assert_eq!(load_history(&h).unwrap(), history);
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn huge_learning_rate_stops_with_a_clear_error() {
    let _turn = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let data = real_mnist();
    let train = data.train.head(3000);
    let mut cfg = quick_config(ModelKind::Mlp, 3000);
    cfg.train.learning_rate = 1e30;
    let mut net = Network::new(cfg.model, Device::Cpu);
    let err = fit(&mut net, &train, &data.test.head(100), &cfg, &mut ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("diverged") && err.contains("is probably too high"),
        "{err}"
    );
}
