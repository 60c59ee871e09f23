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

/// `sums += Σ (v · rows[k])` over the terms (k, v) = (`index[t]`, `value[t]`), where row k is
/// `rows[k * stride + start..]`, one block of `BLOCK` columns at a time so that the sums stay in
/// registers (64 floats are 8 of AVX2's 16 registers, 128 floats 8 of AVX-512's 32).
#[inline(always)]
fn add_weighted_rows<const FMA: bool, const BLOCK: usize>(
    terms: (&[u32], &[f32]),
    rows: &[f32],
    stride: usize,
    sums: &mut [f32],
) {
    let (index, value) = terms;
    let columns = sums.len();
    let mut start = 0;
    while start + BLOCK <= columns {
        let block = &mut sums[start..start + BLOCK];
        let mut acc: [f32; BLOCK] = (&*block).try_into().expect("one block of sums");
        for (&k, &v) in index.iter().zip(value) {
            let row = &rows[k as usize * stride + start..][..BLOCK];
            for (a, &r) in acc.iter_mut().zip(row) {
                *a = madd::<FMA>(*a, v, r);
            }
        }
        block.copy_from_slice(&acc);
        start += BLOCK;
    }
    for (c, sum) in sums.iter_mut().enumerate().skip(start) {
        *sum = index.iter().zip(value).fold(*sum, |a, (&k, &v)| {
            madd::<FMA>(a, v, rows[k as usize * stride + c])
        });
    }
}

/// Writes the positions (plus `first`) and values of the nonzero `values` to the front of
/// `index` and `value` (each at least as long as `values`), in order; returns how many.
/// `SIMD` packs eight values at a time with an AVX2 shuffle; callers pass their `FMA` flag,
/// which is set only in the builds compiled with AVX2 (and FMA) enabled.
#[inline(always)]
fn compact_nonzero<const SIMD: bool>(
    values: &[f32],
    first: u32,
    index: &mut [u32],
    value: &mut [f32],
) -> usize {
    assert!(index.len() >= values.len() && value.len() >= values.len());
    #[cfg(target_arch = "x86_64")]
    if SIMD {
        // SAFETY: SIMD is only set in functions compiled with AVX2 enabled; lengths checked above.
        return unsafe { compact_nonzero_avx2(values, first, index, value) };
    }
    compact_nonzero_scalar(values, first, index, value)
}

/// [`compact_nonzero`] 32 values at a time: a bit mask of the nonzero ones (the comparison
/// vectorises), then one step per set bit, so blank stretches cost almost nothing.
#[inline(always)]
fn compact_nonzero_scalar(
    values: &[f32],
    first: u32,
    index: &mut [u32],
    value: &mut [f32],
) -> usize {
    let mut count = 0;
    for (c, chunk) in values.chunks(32).enumerate() {
        let mut mask = chunk
            .iter()
            .enumerate()
            .fold(0u32, |m, (i, &v)| m | (u32::from(v != 0.0) << i));
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            index[count] = first + (c * 32 + i) as u32;
            value[count] = chunk[i];
            count += 1;
            mask &= mask - 1;
        }
    }
    count
}

/// For each 8-bit mask, the lanes whose bit is set, moved to the front (a shuffle pattern).
#[cfg(target_arch = "x86_64")]
const LEFT_PACK: [[u32; 8]; 256] = {
    let mut table = [[0u32; 8]; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut lane, mut packed) = (0, 0);
        while lane < 8 {
            if mask >> lane & 1 == 1 {
                table[mask][packed] = lane as u32;
                packed += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    table
};

/// [`compact_nonzero`] eight values at a time without branches: compare, look the mask up in
/// [`LEFT_PACK`], shuffle values and positions to the front, store all eight lanes and advance
/// by the number set. The stores never pass the end: at most `count + 8 <= seen + 8` lanes.
///
/// # Safety
/// AVX2 must be available; `index` and `value` at least as long as `values`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn compact_nonzero_avx2(
    values: &[f32],
    first: u32,
    index: &mut [u32],
    value: &mut [f32],
) -> usize {
    use std::arch::x86_64::*;
    let groups = values.len() / 8;
    let (zero, eight) = (_mm256_setzero_ps(), _mm256_set1_epi32(8));
    let mut positions = _mm256_add_epi32(
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        _mm256_set1_epi32(first as i32),
    );
    let mut count = 0;
    for g in 0..groups {
        let v = _mm256_loadu_ps(values.as_ptr().add(g * 8)); // [8]
        let mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NEQ_UQ>(v, zero)) as usize;
        let pattern = _mm256_loadu_si256(LEFT_PACK[mask].as_ptr().cast());
        let packed = _mm256_permutevar8x32_ps(v, pattern);
        _mm256_storeu_ps(value.as_mut_ptr().add(count), packed);
        let packed = _mm256_permutevar8x32_epi32(positions, pattern);
        _mm256_storeu_si256(index.as_mut_ptr().add(count).cast(), packed);
        count += mask.count_ones() as usize;
        positions = _mm256_add_epi32(positions, eight);
    }
    let tail = groups * 8;
    count
        + compact_nonzero_scalar(
            &values[tail..],
            first + tail as u32,
            &mut index[count..],
            &mut value[count..],
        )
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
    if outputs.is_multiple_of(BLOCK) && x.len() >= TILED_MIN_ROWS * inputs {
        return sparse_affine_tiled::<FMA, BLOCK>(x, w, bias, out);
    }
    let (mut index, mut value) = (vec![0u32; inputs], vec![0.0f32; inputs]);
    for (x_row, out_row) in x.chunks_exact(inputs).zip(out.chunks_exact_mut(outputs)) {
        let count = compact_nonzero::<FMA>(x_row, 0, &mut index, &mut value);
        out_row.copy_from_slice(bias);
        add_weighted_rows::<FMA, BLOCK>((&index[..count], &value[..count]), w, outputs, out_row);
    }
}

/// Rows from which [`sparse_affine`] switches to the tiled loop (packing `w` then pays off).
const TILED_MIN_ROWS: usize = 256;
/// Images that the tiled loop takes together: their sums for one column block stay in L1.
const TILE_IMAGES: usize = 32;
/// Weight rows per tile for blocks of 64 columns: 128 rows (32 KiB) measured best on an AVX2
/// machine; wider blocks take fewer.
const TILE_ROWS_AT_64: usize = 128;

/// [`sparse_affine`] for many rows, arranged so that the weights come from L1 instead of L2.
///
/// The row-at-a-time loop reads one weight row per nonzero pixel from all over `w` (400 KB for
/// 784 x 128), so every multiply-add waits on L2. Here `w` is first copied into column blocks
/// ([outputs / BLOCK, inputs, BLOCK]); then, for 32 images at a time, one column block and one
/// tile of pixels at a time, each image adds its nonzero pixels of that tile to its sums (kept
/// in `out`), so the tile is read from L1 by all 32 images. About 30% less time than row at a
/// time on 10,000 MNIST images (`cargo run --release --example eval_profile`).
#[inline(always)]
fn sparse_affine_tiled<const FMA: bool, const BLOCK: usize>(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let outputs = bias.len();
    let inputs = w.len() / outputs;
    let mut packed = vec![0.0f32; w.len()]; // [blocks, inputs, BLOCK]
    for (j, w_row) in w.chunks_exact(outputs).enumerate() {
        for (b, part) in w_row.chunks_exact(BLOCK).enumerate() {
            packed[(b * inputs + j) * BLOCK..][..BLOCK].copy_from_slice(part);
        }
    }
    let tile_rows = (TILE_ROWS_AT_64 * 64 / BLOCK).max(8);
    let tiles = inputs.div_ceil(tile_rows);
    // Image i's nonzero pixels: index/value[i * inputs..], those of tile t from starts[i][t].
    let (mut index, mut value) = (
        vec![0u32; TILE_IMAGES * inputs],
        vec![0.0; TILE_IMAGES * inputs],
    );
    let mut starts = vec![0usize; TILE_IMAGES * (tiles + 1)]; // [TILE_IMAGES, tiles + 1]
    for (x_rows, out_rows) in x
        .chunks(TILE_IMAGES * inputs)
        .zip(out.chunks_mut(TILE_IMAGES * outputs))
    {
        let images = x_rows.len() / inputs;
        for (i, x_row) in x_rows.chunks_exact(inputs).enumerate() {
            let terms = (
                &mut index[i * inputs..][..inputs],
                &mut value[i * inputs..][..inputs],
            );
            compact_nonzero_tiles::<FMA>(
                x_row,
                tile_rows,
                terms,
                &mut starts[i * (tiles + 1)..][..tiles + 1],
            );
        }
        for out_row in out_rows.chunks_exact_mut(outputs) {
            out_row.copy_from_slice(bias);
        }
        for (b, w_block) in packed.chunks_exact(inputs * BLOCK).enumerate() {
            for t in 0..tiles {
                for i in 0..images {
                    let (from, to) = (starts[i * (tiles + 1) + t], starts[i * (tiles + 1) + t + 1]);
                    if from == to {
                        continue;
                    }
                    let terms = (
                        &index[i * inputs..][from..to],
                        &value[i * inputs..][from..to],
                    );
                    let sums = &mut out_rows[i * outputs + b * BLOCK..][..BLOCK];
                    add_weighted_rows::<FMA, BLOCK>(terms, w_block, BLOCK, sums);
                }
            }
        }
    }
}

/// [`compact_nonzero`] of `values` one tile of `tile_rows` at a time; `starts[t]` is where tile
/// t's terms begin, `starts[tiles]` the total.
#[inline(always)]
fn compact_nonzero_tiles<const SIMD: bool>(
    values: &[f32],
    tile_rows: usize,
    terms: (&mut [u32], &mut [f32]),
    starts: &mut [usize],
) {
    let (index, value) = terms;
    let mut count = 0;
    for (t, tile) in values.chunks(tile_rows).enumerate() {
        starts[t] = count;
        let first = (t * tile_rows) as u32;
        count += compact_nonzero::<SIMD>(tile, first, &mut index[count..], &mut value[count..]);
    }
    starts[values.len().div_ceil(tile_rows)] = count;
}

#[inline(always)]
fn sparse_weight_grad_generic<const FMA: bool>(
    x: &[f32],
    delta: &[f32],
    grad_w: &mut [f32],
    outputs: usize,
) {
    let inputs = grad_w.len() / outputs;
    let (mut index, mut value) = (vec![0u32; inputs], vec![0.0f32; inputs]);
    for (x_row, delta_row) in x.chunks_exact(inputs).zip(delta.chunks_exact(outputs)) {
        let count = compact_nonzero::<FMA>(x_row, 0, &mut index, &mut value);
        for (&j, &v) in index[..count].iter().zip(&value[..count]) {
            let g_row = &mut grad_w[j as usize * outputs..][..outputs];
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
        let mut rng = mnist_helpers::rng::SplitMix64::new(seed);
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
    fn tiled_affine_matches_dense_product() {
        // Enough rows for the tiled loop, a partial last group of images, inputs that end inside
        // a chunk of 32, and column counts that are whole blocks for AVX2 (64) and AVX-512 (128).
        for (n, inputs, outputs) in [(TILED_MIN_ROWS + 37, 100, 128), (TILED_MIN_ROWS, 300, 64)] {
            let (x, w, bias) = (
                values(n * inputs, 6, 0.8),
                values(inputs * outputs, 7, 0.0),
                values(outputs, 8, 0.0),
            );
            let mut out = vec![f32::NAN; n * outputs];
            sparse_affine(&x, &w, &bias, &mut out);
            assert!(close(&out, &dense(&x, &w, &bias)));
            let mut tiled = vec![f32::NAN; n * outputs];
            sparse_affine_tiled::<false, 64>(&x, &w, &bias, &mut tiled);
            assert!(close(&tiled, &out));
        }
    }

    #[test]
    fn compaction_keeps_positions_and_values_in_order() {
        // Groups of eight with none, some and all nonzero, a tail of five, NaN (not zero), -0.0
        // (zero) and an offset for the positions.
        let mut x = values(45, 9, 0.6);
        x[8..16].fill(0.0);
        x[16..24].fill(0.5);
        (x[3], x[4]) = (f32::NAN, -0.0);
        let want: Vec<(u32, u32)> = (0..45)
            .filter(|&i| x[i] != 0.0)
            .map(|i| (100 + i as u32, x[i].to_bits()))
            .collect();
        let mut ways = vec![false];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            ways.push(true);
        }
        for simd in ways {
            let (mut index, mut value) = (vec![0u32; 45], vec![0.0f32; 45]);
            let count = if simd {
                compact_nonzero::<true>(&x, 100, &mut index, &mut value)
            } else {
                compact_nonzero::<false>(&x, 100, &mut index, &mut value)
            };
            let got: Vec<(u32, u32)> = (0..count).map(|t| (index[t], value[t].to_bits())).collect();
            assert_eq!(got, want, "simd {simd}");
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
