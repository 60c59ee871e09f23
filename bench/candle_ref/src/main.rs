//! Benchmark peer: the seed recipe (784-128-10, ReLU, dropout 0.2, Adam 1e-3, batch 32, shuffled,
//! 5 epochs) in candle on the CPU, written the way candle's `mnist-training` example writes its
//! training loop (a `VarMap`, `candle_nn::linear`, shuffled batch indices, `loss::cross_entropy`,
//! `Optimizer::backward_step`; Adam as `AdamW` without weight decay). Trains on the first 54,000
//! training images, validates on the last 6,000 after each epoch (inside the epoch's time, as the
//! other references do), then tests. Prints one JSON object on its last stdout line.
//!
//! `convnet`: our fast CNN (the notebooks' `cnn_model`: two strided convolutions with batch
//! normalisation, then the dense layer; batch 128, one-cycle Adam peaking at 6e-3 over 4 epochs)
//! trained until test accuracy reaches 99.0% or the schedule ends, as `mnist-bench convnet`
//! does; seconds count training only.
//!
//! Usage: candle_ref seed|convnet [--epochs N]   (threads: BENCH_THREADS, passed to rayon)

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{
    batch_norm, conv2d_no_bias, linear, loss, ops, AdamW, BatchNorm, Conv2d, Conv2dConfig, Linear,
    ModuleT, Optimizer, ParamsAdamW, VarBuilder, VarMap,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::time::Instant;

type Result<T> = candle_core::Result<T>;
const TRAIN_COUNT: usize = 54_000;

/// The payload of a raw IDX file of the project's data folder.
fn idx(name: &str) -> Vec<u8> {
    let dir = std::env::var("MNIST_DATA_DIR").unwrap_or_else(|_| "data/mnist".into());
    let raw =
        std::fs::read(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"));
    let header = 4 + 4 * raw[3] as usize;
    raw[header..].to_vec()
}

/// Images as [n, 784] f32 in [0, 1] and labels as [n] u32.
fn load(images: &str, labels: &str, dev: &Device) -> Result<(Tensor, Tensor)> {
    let x: Vec<f32> = idx(images).iter().map(|&b| b as f32 / 255.0).collect();
    let y: Vec<u32> = idx(labels).iter().map(|&b| b as u32).collect();
    let n = y.len();
    Ok((
        Tensor::from_vec(x, (n, 784), dev)?,
        Tensor::from_vec(y, n, dev)?,
    ))
}

/// The seed MLP.
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(784, 128, vb.pp("fc1"))?,
            fc2: linear(128, 10, vb.pp("fc2"))?,
        })
    }
}

/// Our fast CNN: [batch, 784] -> [batch, 10].
struct Cnn {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    fc: Linear,
}

impl Cnn {
    fn new(vb: VarBuilder) -> Result<Self> {
        let strided = |padding| Conv2dConfig {
            padding,
            stride: 2,
            ..Default::default()
        };
        Ok(Self {
            conv1: conv2d_no_bias(1, 32, 5, strided(2), vb.pp("conv1"))?,
            bn1: batch_norm(32, 1e-5, vb.pp("bn1"))?,
            conv2: conv2d_no_bias(32, 64, 3, strided(1), vb.pp("conv2"))?,
            bn2: batch_norm(64, 1e-5, vb.pp("bn2"))?,
            fc: linear(64 * 7 * 7, 10, vb.pp("fc"))?,
        })
    }
}

/// Both models' forward pass, `train` switching dropout or batch statistics on.
trait Net {
    fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor>;
}

impl Net for Mlp {
    fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let hidden = self.fc1.forward(xs)?.relu()?; // [batch, 128]
        let hidden = if train {
            ops::dropout(&hidden, 0.2)?
        } else {
            hidden
        };
        self.fc2.forward(&hidden) // [batch, 10]
    }
}

impl Net for Cnn {
    fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let xs = xs.reshape(((), 1, 28, 28))?; // [batch, 1, 28, 28]
        let xs = self.bn1.forward_t(&xs.apply(&self.conv1)?, train)?.relu()?; // [batch, 32, 14, 14]
        let xs = self.bn2.forward_t(&xs.apply(&self.conv2)?, train)?.relu()?; // [batch, 64, 7, 7]
        xs.flatten_from(1)?.apply(&self.fc) // [batch, 10]
    }
}

/// PyTorch's OneCycleLR as the engine uses it: lr/25 up to lr over the first quarter of the
/// steps, then down to lr/250,000, both along a cosine.
fn one_cycle(peak: f64, step: usize, total: usize) -> f64 {
    let up = total / 4;
    let (t, from, to) = if step < up {
        (step as f64 / up.max(1) as f64, peak / 25.0, peak)
    } else {
        let t = (step - up) as f64 / (total - up).max(1) as f64;
        (t, peak, peak / 25.0 / 1e4)
    };
    to + (from - to) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
}

/// The CNN race: trains until test accuracy reaches 99.0%, for at most `max_epochs` epochs, the
/// length of the one-cycle schedule (4, as `mnist-bench convnet`).
fn convnet(max_epochs: usize, dev: &Device) -> Result<serde_json::Value> {
    let (x, y) = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte", dev)?;
    let (test_x, test_y) = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", dev)?;
    let (train_x, train_y) = (x.narrow(0, 0, TRAIN_COUNT)?, y.narrow(0, 0, TRAIN_COUNT)?);
    let varmap = VarMap::new();
    let model = Cnn::new(VarBuilder::from_varmap(&varmap, DType::F32, dev))?;
    let mut opt = adam(&varmap, 6e-3)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut order: Vec<u32> = (0..TRAIN_COUNT as u32).collect();
    let steps_per_epoch = TRAIN_COUNT.div_ceil(128);
    let (mut elapsed, mut step, mut reached, mut accuracies) = (0.0, 0, None, Vec::new());
    for epoch in 1..=max_epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        for batch in order.chunks(128) {
            opt.set_learning_rate(one_cycle(6e-3, step, max_epochs * steps_per_epoch));
            let idx = Tensor::from_slice(batch, batch.len(), dev)?;
            let logits = model.forward(&train_x.index_select(&idx, 0)?, true)?;
            let loss = loss::cross_entropy(&logits, &train_y.index_select(&idx, 0)?)?;
            opt.backward_step(&loss)?;
            step += 1;
        }
        elapsed += start.elapsed().as_secs_f64();
        let acc = accuracy(&model, &test_x, &test_y)?;
        eprintln!("candle convnet epoch {epoch}: {elapsed:.1} s of training, test {acc:.2}%");
        accuracies.push(acc);
        if acc >= 99.0 {
            reached = Some(elapsed);
            break;
        }
    }
    Ok(serde_json::json!({
        "framework": "candle", "task": "convnet", "threads": rayon_threads(),
        "seconds_to_99": reached, "epochs": accuracies.len(), "train_seconds": elapsed,
        "test_accuracies": accuracies, "peak_rss_mib": peak_rss_mib(),
    }))
}

/// Adam over every variable of `varmap` (candle's `AdamW` without weight decay), as the example.
fn adam(varmap: &VarMap, lr: f64) -> Result<AdamW> {
    let params = ParamsAdamW {
        lr,
        weight_decay: 0.0,
        ..Default::default()
    };
    AdamW::new(varmap.all_vars(), params)
}

/// Accuracy in percent over `x`, `y`, in batches of 1000.
fn accuracy(model: &dyn Net, x: &Tensor, y: &Tensor) -> Result<f64> {
    let n = x.dim(0)?;
    let mut correct = 0u32;
    for start in (0..n).step_by(1000) {
        let len = 1000.min(n - start);
        let logits = model.forward(&x.narrow(0, start, len)?, false)?;
        let hits = logits.argmax(D::Minus1)?.eq(&y.narrow(0, start, len)?)?;
        correct += hits.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()?;
    }
    Ok(100.0 * correct as f64 / n as f64)
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

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let epochs = args
        .iter()
        .position(|a| a == "--epochs")
        .map(|i| args[i + 1].parse().unwrap());
    let dev = Device::Cpu;
    if args.get(1).map(String::as_str) == Some("convnet") {
        println!("{}", convnet(epochs.unwrap_or(4), &dev)?);
        return Ok(());
    }
    let epochs = epochs.unwrap_or(5);
    let (x, y) = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte", &dev)?;
    let (test_x, test_y) = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", &dev)?;
    let (train_x, train_y) = (x.narrow(0, 0, TRAIN_COUNT)?, y.narrow(0, 0, TRAIN_COUNT)?);
    let (val_x, val_y) = (
        x.narrow(0, TRAIN_COUNT, 6_000)?,
        y.narrow(0, TRAIN_COUNT, 6_000)?,
    );
    let varmap = VarMap::new();
    let model = Mlp::new(VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
    let mut opt = adam(&varmap, 1e-3)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut order: Vec<u32> = (0..TRAIN_COUNT as u32).collect();
    let mut epoch_seconds = Vec::new();
    for epoch in 1..=epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        for batch in order.chunks(32) {
            let idx = Tensor::from_slice(batch, batch.len(), &dev)?;
            let logits = model.forward(&train_x.index_select(&idx, 0)?, true)?;
            let loss = loss::cross_entropy(&logits, &train_y.index_select(&idx, 0)?)?;
            opt.backward_step(&loss)?;
        }
        let val = accuracy(&model, &val_x, &val_y)?;
        epoch_seconds.push(start.elapsed().as_secs_f64());
        eprintln!(
            "candle seed epoch {epoch}: {:.2} s, val {val:.2}%",
            epoch_seconds[epoch - 1]
        );
    }
    let result = serde_json::json!({
        "framework": "candle", "task": "seed", "threads": rayon_threads(),
        "epoch_seconds": epoch_seconds, "test_accuracy": accuracy(&model, &test_x, &test_y)?,
        "peak_rss_mib": peak_rss_mib(),
    });
    println!("{result}");
    Ok(())
}

/// The thread count candle's CPU kernels use (rayon's, set from BENCH_THREADS by the caller).
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
