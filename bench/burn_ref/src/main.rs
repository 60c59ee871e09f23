//! Benchmark peer: the seed recipe (784-128-10, ReLU, dropout 0.2, Adam 1e-3, batch 32, shuffled,
//! 5 epochs) in burn 0.22 on Flex, burn's pure-Rust CPU backend (the one its docs name for the
//! CPU now that burn-ndarray is deprecated), with the `Autodiff` decorator. Written the way burn's
//! `custom-training-loop` example writes its loop (a `Module`, `CrossEntropyLoss`,
//! `loss.backward()`, `GradientsParams::from_grads`, `optim.step`, `model.valid()` to validate),
//! with the batches cut from the project's IDX files instead of its dataset loader. Trains on
//! the first 54,000 training images, validates on the last 6,000 after each epoch (inside the
//! epoch's time), then tests. Prints one JSON object on its last stdout line.
//!
//! Usage: burn_ref seed [--epochs N]   (threads: RAYON_NUM_THREADS, set by the bench)

// burn's `slice` takes one range per dimension, in an array: `[a..b]` is not a mistake here.
#![allow(clippy::single_range_in_vec_init)]

use burn::module::Module;
use burn::nn::loss::CrossEntropyLoss;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::time::Instant;

const TRAIN_COUNT: usize = 54_000;

/// The payload of a raw IDX file of the project's data folder.
fn idx(name: &str) -> Vec<u8> {
    let dir = std::env::var("MNIST_DATA_DIR").unwrap_or_else(|_| "data/mnist".into());
    let raw =
        std::fs::read(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"));
    let header = 4 + 4 * raw[3] as usize;
    raw[header..].to_vec()
}

/// Images as [n, 784] floats in [0, 1] and labels as [n] integers, on `dev`.
fn load(images: &str, labels: &str, dev: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let x: Vec<f32> = idx(images).iter().map(|&b| b as f32 / 255.0).collect();
    let y: Vec<i64> = idx(labels).iter().map(|&b| b as i64).collect();
    let n = y.len();
    (
        Tensor::from_data(TensorData::new(x, [n, 784]), dev),
        Tensor::from_data(TensorData::new(y, [n]), dev),
    )
}

/// The seed MLP.
#[derive(Module, Debug)]
struct Mlp {
    fc1: Linear,
    dropout: Dropout,
    fc2: Linear,
    activation: Relu,
}

impl Mlp {
    fn new(dev: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(784, 128).init(dev),
            dropout: DropoutConfig::new(0.2).init(),
            fc2: LinearConfig::new(128, 10).init(dev),
            activation: Relu::new(),
        }
    }

    /// Logits [batch, 10]; dropout acts only in training (an autodiff device, training flags on).
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let hidden = self.activation.forward(self.fc1.forward(x)); // [batch, 128]
        self.fc2.forward(self.dropout.forward(hidden))
    }
}

/// Accuracy in percent, in batches of 1000.
fn accuracy(model: &Mlp, x: &Tensor<2>, y: &Tensor<1, Int>) -> f64 {
    let n = y.dims()[0];
    let mut correct = 0i64;
    for start in (0..n).step_by(1000) {
        let end = (start + 1000).min(n);
        let logits = model.forward(x.clone().slice([start..end]));
        let predicted = logits.argmax(1).flatten::<1>(0, 1);
        let hits: i64 = predicted
            .equal(y.clone().slice([start..end]))
            .int()
            .sum()
            .into_scalar();
        correct += hits;
    }
    100.0 * correct as f64 / n as f64
}

/// Peak resident memory of this process in MiB (VmHWM).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let epochs = args
        .iter()
        .position(|a| a == "--epochs")
        .map_or(5, |i| args[i + 1].parse().unwrap());
    let plain = Device::flex();
    let dev = plain.clone().autodiff();
    dev.seed(0);
    let (x, y) = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte", &dev);
    let (test_x, test_y) = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", &plain);
    let (val_x, val_y) = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte", &plain);
    let (val_x, val_y) = (
        val_x.slice([TRAIN_COUNT..60_000]),
        val_y.slice([TRAIN_COUNT..60_000]),
    );
    let mut model = Mlp::new(&dev);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLoss::new(None, &dev);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut order: Vec<i64> = (0..TRAIN_COUNT as i64).collect();
    let mut epoch_seconds = Vec::new();
    for epoch in 1..=epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        for batch in order.chunks(32) {
            let idx =
                Tensor::<1, Int>::from_data(TensorData::new(batch.to_vec(), [batch.len()]), &dev);
            let logits = model.forward(x.clone().select(0, idx.clone())); // [32, 10]
            let loss = loss_fn.forward(logits, y.clone().select(0, idx));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
        }
        let val = accuracy(&model.valid().to_device(&plain), &val_x, &val_y);
        epoch_seconds.push(start.elapsed().as_secs_f64());
        eprintln!(
            "burn seed epoch {epoch}: {:.2} s, val {val:.2}%",
            epoch_seconds[epoch - 1]
        );
    }
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let test_accuracy = accuracy(&model.valid().to_device(&plain), &test_x, &test_y);
    let result = serde_json::json!({
        "framework": "burn", "task": "seed", "threads": threads.unwrap_or(0),
        "epoch_seconds": epoch_seconds, "test_accuracy": test_accuracy,
        "peak_rss_mib": peak_rss_mib(),
    });
    println!("{result}");
}
