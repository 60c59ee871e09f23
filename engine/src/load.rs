//! Loading MNIST faster than the notebooks' crate does: the same files and checks
//! ([`mnist_helpers::data::load_mnist_with`]), with the bytes converted straight into the
//! tensor's memory in one pass, on up to four threads, into huge pages where Linux has them.

use crate::raw::{advise_huge_pages, f32_slice_mut};
use anyhow::Result;
use mnist_helpers::data::{load_mnist_with, Mnist, IMAGE_SIDE};
use mnist_helpers::idx::IdxArray;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Loads MNIST from `dir` (the four files, raw or gzipped), checked as the notebooks load it.
pub fn load_mnist(dir: &Path) -> Result<Mnist> {
    load_mnist_with(dir, images_to_tensor)
}

/// Bytes to normalised pixels: [n, 1, 28, 28] f32 in [0, 1], written straight into the tensor's
/// memory in one pass (on up to four threads for large sets).
pub fn images_to_tensor(arr: &IdxArray) -> Tensor {
    let n = arr.dims[0] as i64;
    let mut images = Tensor::empty([n, 1, IMAGE_SIDE, IMAGE_SIDE], (Kind::Float, Device::Cpu));
    advise_huge_pages(&images);
    // SAFETY: a new contiguous f32 CPU tensor that nothing else refers to yet.
    normalise_pixels(arr.data(), unsafe { f32_slice_mut(&mut images) });
    images
}

/// `dst[i] = src[i] / 255`, split across threads when there is enough work.
fn normalise_pixels(src: &[u8], dst: &mut [f32]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let threads = if src.len() < 1 << 20 { 1 } else { threads };
    let chunk = src.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (s, d) in src.chunks(chunk).zip(dst.chunks_mut(chunk)) {
            scope.spawn(move || {
                for (d, &s) in d.iter_mut().zip(s) {
                    *d = f32::from(s) / 255.0;
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use mnist_helpers::idx::{encode_idx, parse_idx};

    #[test]
    fn fast_conversion_equals_the_plain_one() {
        // 2,000 images: more than 1 MiB of bytes, so the threaded path runs
        let bytes: Vec<u8> = (0..2000 * 784).map(|i| (i * 7919 % 256) as u8).collect();
        let arr = parse_idx(&encode_idx(&[2000, 28, 28], &bytes)).unwrap();
        let fast = images_to_tensor(&arr); // [2000, 1, 28, 28]
        let plain = mnist_helpers::data::images_to_tensor(&arr);
        assert_eq!(fast.size(), vec![2000, 1, 28, 28]);
        assert!(fast.equal(&plain));
    }
}
