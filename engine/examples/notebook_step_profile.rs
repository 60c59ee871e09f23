//! What each part of the notebooks' plain-tch training step costs (04's loop, the seed MLP at
//! batch 32 on real MNIST images): the step that PyTorch's reference also runs (forward, loss,
//! backward, Adam), then with each addition of the notebooks' loop (reading the loss, counting
//! the right answers, setting the learning rate), then with subnormal floats flushed to zero.
//! Each variant trains a fresh network from the same seed for 1,500 steps (most of an epoch:
//! Adam's moments of always-blank pixels become subnormal within it), in rounds that alternate;
//! microseconds per step, best round of each.
//! Usage: `cargo run --release --example notebook_step_profile` (threads: libtorch's default, or
//! BENCH_THREADS).

use mnist_helpers::config::project_path;
use mnist_helpers::data::{load_mnist, DEFAULT_DATA_DIR};
use mnist_helpers::model::mlp_model;
use std::time::Instant;
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

const STEPS: i64 = 1_500;
const ROUNDS: usize = 3;
const BATCH: i64 = 32;

/// Which parts of the notebooks' step run.
#[derive(Clone, Copy)]
struct Parts {
    name: &'static str,
    read_loss: bool,
    count_correct: bool,
    set_lr: bool,
    flush_subnormals: bool,
}

/// Microseconds per step of `parts` over [`STEPS`] steps of a fresh, seeded network.
fn time_steps(parts: Parts, images: &Tensor, labels: &Tensor) -> anyhow::Result<f64> {
    mnist_helpers::subnormals::flush_to_zero(parts.flush_subnormals);
    tch::manual_seed(42);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = mlp_model(&vs.root());
    let mut opt = nn::Adam::default().build(&vs, 1e-3)?;
    let mut sink = 0.0;
    let start = Instant::now();
    for step in 0..STEPS {
        let x = images.narrow(0, step * BATCH, BATCH); // [32, 1, 28, 28]
        let y = labels.narrow(0, step * BATCH, BATCH); // [32]
        if parts.set_lr {
            opt.set_lr(1e-3);
        }
        let logits = net.forward_t(&x, true); // [32, 10]
        let loss = logits.cross_entropy_for_logits(&y); // []
        opt.backward_step(&loss);
        if parts.read_loss {
            sink += f64::try_from(&loss)?;
        }
        if parts.count_correct {
            let right = logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64); // []
            sink += i64::try_from(&right)? as f64;
        }
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / STEPS as f64;
    std::hint::black_box(sink);
    mnist_helpers::subnormals::flush_to_zero(false);
    Ok(micros)
}

fn main() -> anyhow::Result<()> {
    if let Some(n) = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tch::set_num_threads(n);
    }
    let data = load_mnist(&project_path(DEFAULT_DATA_DIR))?;
    let images = data.train.images.narrow(0, 0, STEPS * BATCH); // [48000, 1, 28, 28]
    let labels = data.train.labels.narrow(0, 0, STEPS * BATCH); // [48000]
    let variants = [
        ("as PyTorch's reference", false, false, false, false),
        ("+ loss read back", true, false, false, false),
        ("+ right answers counted", true, true, false, false),
        ("+ learning rate set (04)", true, true, true, false),
        ("04 with subnormals flushed", true, true, true, true),
        ("reference, subnormals flushed", false, false, false, true),
    ]
    .map(|(name, read_loss, count_correct, set_lr, flush)| Parts {
        name,
        read_loss,
        count_correct,
        set_lr,
        flush_subnormals: flush,
    });
    let mut best = vec![f64::INFINITY; variants.len()];
    for _ in 0..ROUNDS {
        for (parts, best) in variants.iter().zip(&mut best) {
            *best = best.min(time_steps(*parts, &images, &labels)?);
        }
    }
    println!("threads: {}", tch::get_num_threads());
    for (parts, micros) in variants.iter().zip(best) {
        println!(
            "{:<32} {micros:>7.1} µs per step (best of {ROUNDS})",
            parts.name
        );
    }
    Ok(())
}
