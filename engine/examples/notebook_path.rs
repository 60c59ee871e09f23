//! The notebooks' own path (plain tch: `mlp_model`/`cnn_model`, `nn::Adam`, autograd) on the
//! seed split, for several seeds: test accuracy and training seconds of each run.
//! Usage: cargo run --release --example notebook_path -- mlp|cnn SEED...

use anyhow::Result;
use mnist_helpers::config::{project_path, TrainConfig};
use mnist_helpers::data::{load_mnist, DEFAULT_DATA_DIR};
use mnist_helpers::metrics::predict;
use mnist_helpers::model::{cnn_model, mlp_model};
use mnist_helpers::train::{tch_step, train_epochs};
use tch::nn::{self, ModuleT};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args.first().map_or("mlp", String::as_str).to_string();
    let data = load_mnist(&project_path(DEFAULT_DATA_DIR))?;
    for seed in args.iter().skip(1).map(|s| s.parse::<u64>()) {
        let seed = seed?;
        let base = match model.as_str() {
            "cnn" => TrainConfig::cnn_recipe(),
            _ => TrainConfig::mlp_recipe(),
        };
        let cfg = TrainConfig { seed, ..base }.with_env()?;
        let (train, val) = data
            .train
            .train_validation(cfg.validation_fraction, cfg.seed)?;
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(mnist_helpers::device());
        let net: Box<dyn ModuleT> = match model.as_str() {
            "cnn" => Box::new(cnn_model(&vs.root())),
            _ => Box::new(mlp_model(&vs.root())),
        };
        let step = tch_step(net.as_ref(), &vs, &train, &cfg)?;
        let (history, _) = train_epochs(&model, step, &train, &val, &cfg, &mut ())?;
        let accuracy = predict(net.as_ref(), &data.test, vs.device())?.accuracy();
        println!(
            "{model} seed {seed}: test {accuracy:.2}% in {:.1} s ({} epochs)",
            history.train_seconds(),
            cfg.epochs
        );
    }
    Ok(())
}
