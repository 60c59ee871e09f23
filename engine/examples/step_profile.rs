//! Where a seed-recipe training step spends its time: each part of the step timed over 2,000
//! repetitions at batch 32 (`cargo run --release --example step_profile`).

use mnist_engine::network::{ModelKind, Network};
use mnist_engine::optim::{Adam, AdamConfig};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const STEPS: usize = 2_000;

/// Microseconds per call of `f`, over [`STEPS`] calls after a short warm-up.
fn micros(mut f: impl FnMut()) -> f64 {
    for _ in 0..50 {
        f();
    }
    let start = Instant::now();
    for _ in 0..STEPS {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / STEPS as f64
}

fn main() {
    tch::set_num_threads(
        std::env::var("BENCH_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    );
    let net = Network::seeded(ModelKind::Mlp, Device::Cpu, 1);
    let x = Tensor::rand([32, 1, 28, 28], (Kind::Float, Device::Cpu)); // [32, 1, 28, 28]
    let y = Tensor::randint(10, [32], (Kind::Int64, Device::Cpu)); // [32]
    let mut adam = Adam::new(&net.vs, AdamConfig::with_lr(1e-3));
    let forward = || net.model.logits(&x, true).cross_entropy_for_logits(&y);
    let report = |name: &str, us: f64| println!("{name:<40} {us:>8.1} µs");
    report("forward + loss", micros(|| drop(forward())));
    report(
        "forward + loss + gradients",
        micros(|| {
            let loss = forward();
            let params = adam.params();
            drop(Tensor::run_backward(&[&loss], &params, false, false));
        }),
    );
    let grads: Vec<Tensor> = adam.params().iter().map(|p| p.rand_like()).collect();
    report("Adam step (ours)", micros(|| adam.step(&grads).unwrap()));
    report(
        "loss value + accuracy read-back",
        micros(|| {
            let logits = net.model.logits(&x, true).detach();
            let _ = Vec::<f32>::try_from(logits.flatten(0, -1)).unwrap();
        }),
    );
    let labels: Vec<i64> = (0..32).map(|i| i % 10).collect();
    let mut rng = mnist_helpers::rng::SplitMix64::new(1);
    report(
        "manual MLP step (no autograd)",
        micros(|| {
            drop(
                net.model
                    .manual_step(&x, &labels, &mut rng)
                    .unwrap()
                    .unwrap(),
            )
        }),
    );
    let step = net
        .model
        .manual_step(&x, &labels, &mut rng)
        .unwrap()
        .unwrap();
    report(
        "Adam step_pairs (ours)",
        micros(|| adam.step_pairs(&step.grads).unwrap()),
    );
    let a = Tensor::rand([32, 784], (Kind::Float, Device::Cpu));
    let w = Tensor::rand([128, 784], (Kind::Float, Device::Cpu));
    report(
        "one matmul [32,784] x [784,128]",
        micros(|| drop(a.matmul(&w.tr()))),
    );
    report(
        "one tiny op (relu of [32,128])",
        micros(|| drop(a.narrow(1, 0, 128).relu())),
    );
}
