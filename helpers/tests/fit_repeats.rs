//! The notebooks' `fit` on real MNIST: it learns, `save_model` saves it, and the same seed repeats the run
//! exactly. One test in its own process, so that no other test draws from libtorch's generator
//! in between.

use mnist_helpers::artifacts::save_model;
use mnist_helpers::config::{project_path, TrainConfig};
use mnist_helpers::data::{load_mnist, DEFAULT_DATA_DIR};
use mnist_helpers::history::History;
use mnist_helpers::model::mlp_model;
use mnist_helpers::train::fit;
use tch::nn;

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn fit_learns_saves_and_repeats_with_the_seed() {
    let data = load_mnist(&project_path(DEFAULT_DATA_DIR))
        .unwrap_or_else(|e| panic!("real MNIST needed ({e:#}); run ./scripts/setup.sh"));
    let out = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        epochs: 2,
        train_limit: Some(3000),
        ..TrainConfig::default()
    };
    let run = || -> History {
        tch::manual_seed(cfg.seed as i64);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = mlp_model(&vs.root());
        let history = fit("mlp", &net, &vs, &data, &cfg).unwrap();
        save_model(out.path(), &vs, &history).unwrap();
        history
    };
    let (a, b) = (run(), run());
    assert!(a.epochs[1].train_loss < a.epochs[0].train_loss, "{a:?}");
    assert!(a.epochs[1].val_accuracy > 85.0, "{a:?}");
    let losses = |h: &History| h.epochs.iter().map(|e| e.val_loss).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b), "same seed, same run");
    for file in ["mlp.safetensors", "mlp_history.json"] {
        assert!(out.path().join(file).is_file(), "{file} was not saved");
    }
}
