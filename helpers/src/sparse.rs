//! The MLP's first layer computed from the nonzero pixels only.
//!
//! About 81% of MNIST's pixels are exactly zero, so `x · W` over the 784 inputs does five times
//! the necessary work. With the weights stored input-major ([784, out], Keras' layout) each
//! nonzero pixel adds one contiguous row of `W`, which the compiler vectorises; the weight
//! gradient is the same loop turned around. The loops are compiled for AVX-512, for AVX2+FMA
//! (chosen at run time when the processor has them) and for plain x86-64 or other targets.

/// `out[i, :] = bias + Σ_j x[i, j] · w[j, :]` over the nonzero `x[i, j]`.
/// Shapes: x [n, inputs], w [inputs, outputs], bias [outputs], out [n, outputs], row-major.
pub fn sparse_affine(x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor supports AVX-512F (checked just above).
        return unsafe { sparse_affine_avx512(x, w, bias, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the processor supports AVX2 and FMA (checked just above).
        return unsafe { sparse_affine_avx2(x, w, bias, out) };
    }
    sparse_affine_generic::<false, 64>(x, w, bias, out)
}

/// `grad_w[j, :] += Σ_i x[i, j] · delta[i, :]` over the nonzero `x[i, j]`: the weight gradient
/// of [`sparse_affine`]. Shapes: x [n, inputs], delta [n, outputs], grad_w [inputs, outputs].
pub fn sparse_weight_grad(x: &[f32], delta: &[f32], grad_w: &mut [f32], outputs: usize) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the processor supports AVX2 and FMA (checked just above).
        return unsafe { sparse_weight_grad_avx2(x, delta, grad_w, outputs) };
    }
    sparse_weight_grad_generic::<false>(x, delta, grad_w, outputs)
}

/// True when AVX2 and FMA are available (the answer is cached by the standard library).
#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn sparse_affine_avx512(x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
    sparse_affine_generic::<true, 128>(x, w, bias, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sparse_affine_avx2(x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
    sparse_affine_generic::<true, 64>(x, w, bias, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sparse_weight_grad_avx2(x: &[f32], delta: &[f32], grad_w: &mut [f32], outputs: usize) {
    sparse_weight_grad_generic::<true>(x, delta, grad_w, outputs)
}

/// `a + b · c`, fused where the caller was compiled with FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        b.mul_add(c, a)
    } else {
        a + b * c
    }
}

/// `out = init + Σ (v · rows[k])` over `terms` = (k, v), where row k is `rows[k * stride + start..]`,
/// one block of `BLOCK` columns at a time so that the sums stay in registers (64 floats are 8 of
/// AVX2's 16 registers, 128 floats 8 of AVX-512's 32).
#[inline(always)]
fn weighted_rows<const FMA: bool, const BLOCK: usize>(
    terms: &[(usize, f32)],
    rows: &[f32],
    stride: usize,
    init: &[f32],
    out: &mut [f32],
) {
    let columns = out.len();
    let mut start = 0;
    while start + BLOCK <= columns {
        let mut acc = [0.0f32; BLOCK];
        acc.copy_from_slice(&init[start..start + BLOCK]);
        for &(k, v) in terms {
            let row = &rows[k * stride + start..][..BLOCK];
            for (a, &r) in acc.iter_mut().zip(row) {
                *a = madd::<FMA>(*a, v, r);
            }
        }
        out[start..start + BLOCK].copy_from_slice(&acc);
        start += BLOCK;
    }
    for c in start..columns {
        out[c] = terms.iter().fold(init[c], |a, &(k, v)| {
            madd::<FMA>(a, v, rows[k * stride + c])
        });
    }
}

/// Writes the (index, value) pairs of the nonzero `values` to the front of `out`, returns how many.
/// Works 32 values at a time: a bit mask of the nonzero ones (the comparison vectorises), then one
/// step per set bit, so blank stretches cost almost nothing.
#[inline(always)]
fn compact_nonzero(values: &[f32], out: &mut [(usize, f32)]) -> usize {
    let mut count = 0;
    for (c, chunk) in values.chunks(32).enumerate() {
        let mut mask = chunk
            .iter()
            .enumerate()
            .fold(0u32, |m, (i, &v)| m | (u32::from(v != 0.0) << i));
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            out[count] = (c * 32 + i, chunk[i]);
            count += 1;
            mask &= mask - 1;
        }
    }
    count
}

#[inline(always)]
fn sparse_affine_generic<const FMA: bool, const BLOCK: usize>(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let outputs = bias.len();
    let inputs = w.len() / outputs;
    let mut nonzero = vec![(0usize, 0.0f32); inputs];
    for (x_row, out_row) in x.chunks_exact(inputs).zip(out.chunks_exact_mut(outputs)) {
        let count = compact_nonzero(x_row, &mut nonzero);
        weighted_rows::<FMA, BLOCK>(&nonzero[..count], w, outputs, bias, out_row);
    }
}

#[inline(always)]
fn sparse_weight_grad_generic<const FMA: bool>(
    x: &[f32],
    delta: &[f32],
    grad_w: &mut [f32],
    outputs: usize,
) {
    let inputs = grad_w.len() / outputs;
    let mut nonzero = vec![(0usize, 0.0f32); inputs];
    for (x_row, delta_row) in x.chunks_exact(inputs).zip(delta.chunks_exact(outputs)) {
        let count = compact_nonzero(x_row, &mut nonzero);
        for &(j, v) in &nonzero[..count] {
            let g_row = &mut grad_w[j * outputs..][..outputs];
            for (g, &d) in g_row.iter_mut().zip(delta_row) {
                *g = madd::<FMA>(*g, v, d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense reference: out = bias + x · w.
    fn dense(x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
        let (outputs, inputs) = (bias.len(), w.len() / bias.len());
        x.chunks(inputs)
            .flat_map(|row| {
                (0..outputs).map(move |o| {
                    bias[o]
                        + (0..inputs)
                            .map(|j| row[j] * w[j * outputs + o])
                            .sum::<f32>()
                })
            })
            .collect()
    }

    /// Pseudo-random values in [-1, 1], about `zeros` of them exactly zero.
    fn values(n: usize, seed: u64, zeros: f64) -> Vec<f32> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                if u < zeros {
                    0.0
                } else {
                    (u * 2.0 - 1.0) as f32
                }
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()))
    }

    #[test]
    fn affine_matches_dense_product() {
        // 24 outputs: the column remainder only; 150: full blocks of 64 and 128 plus a remainder.
        for (n, inputs, outputs) in [(7, 50, 24), (5, 40, 150)] {
            let (x, w, bias) = (
                values(n * inputs, 1, 0.8),
                values(inputs * outputs, 2, 0.0),
                values(outputs, 3, 0.0),
            );
            let mut out = vec![f32::NAN; n * outputs];
            sparse_affine(&x, &w, &bias, &mut out);
            assert!(close(&out, &dense(&x, &w, &bias)));
            let mut generic = vec![0.0; n * outputs];
            sparse_affine_generic::<false, 64>(&x, &w, &bias, &mut generic);
            assert!(close(&generic, &out));
        }
    }

    #[test]
    fn weight_grad_matches_dense_outer_products() {
        let (n, inputs, outputs) = (5, 30, 16);
        let (x, delta) = (values(n * inputs, 4, 0.7), values(n * outputs, 5, 0.0));
        let mut grad = vec![0.5f32; inputs * outputs];
        sparse_weight_grad(&x, &delta, &mut grad, outputs);
        let want: Vec<f32> = (0..inputs * outputs)
            .map(|k| {
                0.5 + (0..n)
                    .map(|i| x[i * inputs + k / outputs] * delta[i * outputs + k % outputs])
                    .sum::<f32>()
            })
            .collect();
        assert!(close(&grad, &want));
    }
}
