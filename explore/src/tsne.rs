//! t-SNE (van der Maaten and Hinton, 2008) in tch: a 2-D map of n points in which points that are
//! near neighbours in the full space stay neighbours, so that clusters show as islands. Exact
//! (every pair of points pushes; each point's 90 nearest neighbours pull), started from a map the
//! caller gives (07 gives its PCA map), so the same points always give the same map.

use anyhow::{ensure, Result};
use tch::{Device, Kind, Tensor};

/// How many neighbours each point effectively weighs (t-SNE's usual 30).
const PERPLEXITY: f64 = 30.0;
/// The nearest points whose probabilities are computed (t-SNE's usual 3 x perplexity); the rest
/// are zero.
const NEIGHBOURS: i64 = 90;
/// Gradient steps; the first `EXAGGERATED` pull neighbours together 12 times harder.
const STEPS: usize = 500;
/// Steps of early exaggeration (clusters form), then the map relaxes.
const EXAGGERATED: usize = 125;

/// The 2-D t-SNE map of the rows of `points` ([n, d], n at least 4), moved from `start` ([n, 2],
/// say their PCA map, shrunk to a spread of 1e-4 first): [n, 2], on the CPU. About 2 s for 2,000
/// points on 2 cores.
pub fn tsne_2d(points: &Tensor, start: &Tensor) -> Result<Tensor> {
    let size = points.size();
    ensure!(
        size.len() == 2 && size[0] >= 4,
        "t-SNE needs at least 4 points in rows [n, d], got {size:?}"
    );
    ensure!(
        start.size() == [size[0], 2],
        "t-SNE's start map must be [{}, 2], one point per row, got {:?}",
        size[0],
        start.size()
    );
    let stop = mnist_helpers::stop::listen(); // a press from here on ends the map, not the kernel
    let n = size[0] as usize;
    let x = points.to_device(Device::Cpu).to_kind(Kind::Float);
    let x = &x - x.mean_dim(0, true, Kind::Float); // [n, d], centred
    let p = neighbour_probabilities(&x, PERPLEXITY)?; // n * n
    let start = start.to_device(Device::Cpu).to_kind(Kind::Float); // [n, 2]
    let start = &start / (f64::try_from(start.std(true))?.max(1e-12) * 1e4); // spread 1e-4
    let mut y = Vec::<f32>::try_from(&start.flatten(0, -1))?; // x0, y0, x1, y1, ...
    let (mut velocity, mut gains) = (vec![0f32; 2 * n], vec![1f32; 2 * n]);
    let rate = (n as f32 / 12.0).max(200.0);
    for step in 0..STEPS {
        stop.check("t-SNE", step, STEPS)?; // the stop button ends it here
        let (exaggeration, momentum) = if step < EXAGGERATED {
            (12.0, 0.5)
        } else {
            (1.0, 0.8)
        };
        let grad = gradient(&p, &y, exaggeration);
        for k in 0..2 * n {
            let agrees = (grad[k] > 0.0) == (velocity[k] > 0.0);
            gains[k] = if agrees {
                gains[k] * 0.8
            } else {
                gains[k] + 0.2
            }
            .max(0.01);
            velocity[k] = momentum * velocity[k] - rate * gains[k] * grad[k];
            y[k] += velocity[k];
        }
    }
    Ok(Tensor::from_slice(&y).reshape([n as i64, 2])) // [n, 2]
}

/// t-SNE's symmetric neighbour probabilities p_ij (summing to 1) of the rows of `x` ([n, d]),
/// as n * n values: each point's `NEIGHBOURS` nearest points weighted by a Gaussian whose width
/// gives the `perplexity`; every other pair zero.
fn neighbour_probabilities(x: &Tensor, perplexity: f64) -> Result<Vec<f32>> {
    let n = x.size()[0];
    let k = NEIGHBOURS.min(n - 1);
    let (near, index) = squared_distances(x).topk(k + 1, 1, false, true); // [n, k + 1], self first
    let near = Vec::<Vec<f32>>::try_from(&near.narrow(1, 1, k))?;
    let index = Vec::<Vec<i64>>::try_from(&index.narrow(1, 1, k))?;
    let n = n as usize;
    let mut p = vec![0f32; n * n];
    for (i, (row, columns)) in near.iter().zip(&index).enumerate() {
        for (w, &j) in gaussian_row(row, perplexity).iter().zip(columns) {
            let share = w / (2.0 * n as f32); // p_ij = (p_j|i + p_i|j) / 2n
            p[i * n + j as usize] += share;
            p[j as usize * n + i] += share;
        }
    }
    Ok(p)
}

/// p_j|i for one point's squared distances to its neighbours: exp(-beta d_j), normalised, with
/// beta found by bisection so that the row's perplexity (2 to the entropy in bits) is `target`.
fn gaussian_row(distances: &[f32], target: f64) -> Vec<f32> {
    let nearest = distances.iter().copied().fold(f32::INFINITY, f32::min);
    let scale =
        distances.iter().map(|d| (d - nearest) as f64).sum::<f64>() / distances.len() as f64;
    let d: Vec<f64> = distances
        .iter()
        .map(|&v| (v - nearest) as f64 / scale.max(1e-12))
        .collect();
    let weights = |beta: f64| d.iter().map(|v| (-beta * v).exp()).collect::<Vec<f64>>();
    let (mut lo, mut hi) = (-20.0f64, 20.0f64); // log beta
    for _ in 0..50 {
        let beta = ((lo + hi) / 2.0).exp();
        let w = weights(beta);
        let total: f64 = w.iter().sum();
        let entropy = total.ln() + beta * d.iter().zip(&w).map(|(v, w)| v * w).sum::<f64>() / total;
        if entropy > target.ln() {
            lo = (lo + hi) / 2.0; // too wide: a larger beta narrows it
        } else {
            hi = (lo + hi) / 2.0;
        }
    }
    let w = weights(((lo + hi) / 2.0).exp());
    let total: f64 = w.iter().sum();
    w.iter().map(|v| (v / total) as f32).collect()
}

/// |x_i - x_j|² for every pair of rows of `x` ([n, d]): [n, n].
fn squared_distances(x: &Tensor) -> Tensor {
    let norms = x.square().sum_dim_intlist(1, true, Kind::Float); // [n, 1]
    (&norms + norms.tr() - x.mm(&x.tr()) * 2.0).clamp_min(0.0) // [n, n]
}

/// The gradient of t-SNE's cost at map `y` (n points as x, y pairs) with the p_ij (`p`, n * n)
/// times `exaggeration`: 4 (sum_j p_ij w_ij (y_i - y_j) - sum_j w_ij^2 (y_i - y_j) / Z), where
/// w_ij = 1 / (1 + |y_i - y_j|^2) and Z is the sum of all w_ij. One pass over the pairs, the
/// rows shared among the CPU's threads.
fn gradient(p: &[f32], y: &[f32], exaggeration: f32) -> Vec<f32> {
    let n = y.len() / 2;
    let (xs, ys): (Vec<f32>, Vec<f32>) = y.chunks_exact(2).map(|c| (c[0], c[1])).unzip();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let mut rows = vec![[0f32; 5]; n]; // per point: attraction x, y; repulsion x, y; its part of Z
    std::thread::scope(|scope| {
        for (chunk, first) in rows
            .chunks_mut(n.div_ceil(threads))
            .zip((0..).step_by(n.div_ceil(threads)))
        {
            let (xs, ys) = (&xs, &ys);
            scope.spawn(move || {
                for (offset, row) in chunk.iter_mut().enumerate() {
                    let i = first + offset;
                    *row = pair_sums(&p[i * n..][..n], xs, ys, xs[i], ys[i], exaggeration);
                }
            });
        }
    });
    let z: f32 = rows.iter().map(|r| r[4]).sum::<f32>() - n as f32; // w_ii = 1 left out
    rows.iter()
        .flat_map(|r| [4.0 * (r[0] - r[2] / z), 4.0 * (r[1] - r[3] / z)])
        .collect()
}

/// For one point at (`xi`, `yi`) with neighbour probabilities `p_row`: the sums over every
/// point j of p_ij w_ij (y_i - y_j) (times `exaggeration`), of w_ij^2 (y_i - y_j), and of w_ij.
/// Eight pairs at a time in separate sums, so that the compiler uses vector instructions.
fn pair_sums(
    p_row: &[f32],
    xs: &[f32],
    ys: &[f32],
    xi: f32,
    yi: f32,
    exaggeration: f32,
) -> [f32; 5] {
    const LANES: usize = 8;
    let mut sums = [[0f32; LANES]; 5];
    let mut add = |p: &[f32], x: &[f32], y: &[f32]| {
        for lane in 0..p.len() {
            let (dx, dy) = (xi - x[lane], yi - y[lane]);
            let w = 1.0 / (1.0 + dx * dx + dy * dy);
            let (pull, push) = (p[lane] * exaggeration * w, w * w);
            sums[0][lane] += pull * dx;
            sums[1][lane] += pull * dy;
            sums[2][lane] += push * dx;
            sums[3][lane] += push * dy;
            sums[4][lane] += w;
        }
    };
    let (p8, x8, y8) = (
        p_row.chunks_exact(LANES),
        xs.chunks_exact(LANES),
        ys.chunks_exact(LANES),
    );
    let rest = (p8.remainder(), x8.remainder(), y8.remainder());
    for ((p, x), y) in p8.zip(x8).zip(y8) {
        let as_array = |s: &[f32]| -> [f32; LANES] { s.try_into().unwrap_or_default() };
        add(&as_array(p), &as_array(x), &as_array(y));
    }
    add(rest.0, rest.1, rest.2);
    sums.map(|lanes| lanes.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mnist_helpers::rng::SplitMix64;

    /// Two groups of 100 points, far apart in 20 dimensions (more points per group than the
    /// perplexity, so that each point's neighbours are in its own group); the same every time.
    fn two_groups() -> Tensor {
        let mut rng = SplitMix64::new(3);
        let noise: Vec<f32> = (0..200 * 20)
            .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect();
        let noise = Tensor::from_slice(&noise).reshape([200, 20]); // [200, 20]
        let offset = Tensor::cat(
            &[
                Tensor::zeros([100, 20], (Kind::Float, Device::Cpu)),
                Tensor::ones([100, 20], (Kind::Float, Device::Cpu)) * 5.0,
            ],
            0,
        );
        noise + offset // [200, 20]
    }

    #[test]
    fn probabilities_are_symmetric_sum_to_one_and_give_the_perplexity() {
        let x = two_groups();
        let p = neighbour_probabilities(&(&x - x.mean_dim(0, true, Kind::Float)), 10.0).unwrap();
        let n = 200;
        assert!((p.iter().map(|&v| v as f64).sum::<f64>() - 1.0).abs() < 1e-4);
        assert!((0..n).all(|i| (0..n).all(|j| (p[i * n + j] - p[j * n + i]).abs() < 1e-9)));
        let row = gaussian_row(
            &[
                1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
            ],
            5.0,
        );
        let entropy: f64 = row.iter().map(|&q| -(q as f64) * (q as f64).ln()).sum();
        assert!(
            (entropy.exp() - 5.0).abs() < 1e-3,
            "perplexity {}",
            entropy.exp()
        );
    }

    #[test]
    fn groups_apart_in_the_space_stay_apart_on_the_map() {
        let points = two_groups();
        let y = tsne_2d(&points, &points.narrow(1, 0, 2)).unwrap(); // [200, 2]
        let (a, b) = (y.narrow(0, 0, 100), y.narrow(0, 100, 100));
        let gap = f64::try_from(
            (a.mean_dim(0, false, Kind::Float) - b.mean_dim(0, false, Kind::Float)).norm(),
        )
        .unwrap();
        let spread = f64::try_from(a.std_dim(0, true, false).norm()).unwrap();
        assert!(
            gap > 3.0 * spread,
            "gap {gap}, spread within a group {spread}"
        );
    }

    #[test]
    fn too_few_points_and_a_wrong_start_are_refused() {
        let points = Tensor::zeros([3, 5], (Kind::Float, Device::Cpu));
        let err = tsne_2d(&points, &points.narrow(1, 0, 2)).unwrap_err();
        assert!(err.to_string().contains("at least 4 points"), "{err}");
        let points = Tensor::zeros([6, 5], (Kind::Float, Device::Cpu));
        let err = tsne_2d(&points, &points.narrow(1, 0, 3)).unwrap_err();
        assert!(err.to_string().contains("must be [6, 2]"), "{err}");
    }
}
