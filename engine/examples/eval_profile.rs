//! Where evaluating the 10,000 test images with the seed MLP spends its time
//! (`cargo run --release --example eval_profile`).

use mnist_engine::load::load_mnist;
use mnist_engine::network::{ModelKind, Network};
use mnist_engine::trainer::evaluate_loss;
use mnist_helpers::config::project_path;
use mnist_helpers::data::DEFAULT_DATA_DIR;
use std::time::Instant;

/// Median milliseconds of `f` over 9 runs.
fn millis(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[4]
}

fn main() -> anyhow::Result<()> {
    let data = load_mnist(&project_path(DEFAULT_DATA_DIR))?;
    let net = Network::seeded(ModelKind::Mlp, tch::Device::Cpu, 0);
    let test = &data.test;
    println!("threads {}", tch::get_num_threads());
    println!(
        "logits, one batch of 10,000: {:.2} ms",
        millis(|| drop(net.logits(&test.images)))
    );
    println!(
        "logits, batches of 1,000:     {:.2} ms",
        millis(|| (0..10).for_each(|b| drop(net.logits(&test.images.narrow(0, b * 1000, 1000)))))
    );
    let generic = || tch::no_grad(|| drop(net.model.logits(&test.images, false)));
    println!("libtorch's dense path:       {:.2} ms", millis(generic));
    println!(
        "evaluate_loss (whole):       {:.2} ms",
        millis(|| {
            let _ = evaluate_loss(&net, test);
        })
    );
    let x = Vec::<f32>::try_from(test.images.flatten(0, -1))?;
    let w = vec![0.01f32; 784 * 128];
    let b = vec![0.0f32; 128];
    let mut out = vec![0.0f32; 10_000 * 128];
    let nonzero = x.iter().filter(|&&v| v != 0.0).count();
    println!(
        "nonzero pixels: {:.1}%",
        100.0 * nonzero as f64 / x.len() as f64
    );
    println!(
        "sparse kernel, 1 thread:     {:.2} ms",
        millis(|| mnist_engine::sparse::sparse_affine(&x, &w, &b, &mut out))
    );
    // One block of 64 columns against two: the time follows the weight rows read.
    for outputs in [64, 128] {
        let (w, b) = (vec![0.01f32; 784 * outputs], vec![0.0f32; outputs]);
        let mut out = vec![0.0f32; 10_000 * outputs];
        println!(
            "sparse kernel, {outputs:>3} outputs:  {:.2} ms",
            millis(|| mnist_engine::sparse::sparse_affine(&x, &w, &b, &mut out))
        );
    }
    // Row-at-a-time (below the tiling threshold) against tiled, interleaved.
    let w: Vec<f32> = (0..784 * 128).map(|i| (i % 97) as f32 * 1e-3).collect();
    let (mut rows_ms, mut tiled_ms) = (vec![], vec![]);
    for _ in 0..15 {
        let start = Instant::now();
        for (xc, oc) in x.chunks(255 * 784).zip(out.chunks_mut(255 * 128)) {
            mnist_engine::sparse::sparse_affine(xc, &w, &b, oc);
        }
        rows_ms.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        mnist_engine::sparse::sparse_affine(&x, &w, &b, &mut out);
        tiled_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    rows_ms.sort_by(f64::total_cmp);
    tiled_ms.sort_by(f64::total_cmp);
    println!(
        "row-at-a-time {:.2} ms, tiled {:.2} ms (medians of 15, 1 thread)",
        rows_ms[7], tiled_ms[7]
    );
    Ok(())
}
