//! MNIST as tensors: loading the four IDX files, checking them, normalising, splitting.

use crate::idx::{read_idx, IdxArray};
use crate::rng::permutation;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Side of a square MNIST image in pixels.
pub const IMAGE_SIDE: i64 = 28;
/// Pixels in one image.
pub const IMAGE_PIXELS: i64 = IMAGE_SIDE * IMAGE_SIDE;
/// Number of classes (the digits 0-9).
pub const LABELS: i64 = 10;
/// Where the data lives unless told otherwise, relative to the project root.
pub const DEFAULT_DATA_DIR: &str = "data/mnist";
/// The standard file names: train images, train labels, test images, test labels.
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Images and their labels.
#[derive(Debug)]
pub struct Split {
    /// Pixel values in [0, 1]: [n, 1, 28, 28], f32.
    pub images: Tensor,
    /// Digits 0-9: [n], i64.
    pub labels: Tensor,
}

/// The MNIST training and test sets.
#[derive(Debug)]
pub struct Mnist {
    /// The 60,000 training images.
    pub train: Split,
    /// The 10,000 test images.
    pub test: Split,
}

/// MNIST's four files as the bytes they hold, checked: what notebook 02 turns into a network's
/// input.
#[derive(Debug)]
pub struct RawMnist {
    /// The training images' bytes 0-255: [60000, 28, 28], u8.
    pub train_images: Tensor,
    /// The training labels' bytes 0-9: [60000], u8.
    pub train_labels: Tensor,
    /// The test images' bytes: [10000, 28, 28], u8.
    pub test_images: Tensor,
    /// The test labels' bytes: [10000], u8.
    pub test_labels: Tensor,
}

/// Turns a checked image file ([n, 28, 28] bytes) into [n, 1, 28, 28] f32 in [0, 1].
pub type ToTensor = fn(&IdxArray) -> Tensor;

/// Loads MNIST from `dir`, which holds the four standard files, raw or with a `.gz` suffix.
pub fn load_mnist(dir: &Path) -> Result<Mnist> {
    load_mnist_with(dir, images_to_tensor)
}

/// [`load_mnist`] with `to_tensor` converting the images (the engine has a faster one).
pub fn load_mnist_with(dir: &Path, to_tensor: ToTensor) -> Result<Mnist> {
    let [(train_x, train_y), (test_x, test_y)] = read_files(dir)?;
    let split = |images: &IdxArray, labels: &IdxArray| Split {
        images: to_tensor(images),
        labels: labels_to_tensor(labels),
    };
    Ok(Mnist {
        train: split(&train_x, &train_y),
        test: split(&test_x, &test_y),
    })
}

/// The four standard files in `dir` read and checked: (images, labels) of training, then test.
fn read_files(dir: &Path) -> Result<[(IdxArray, IdxArray); 2]> {
    ensure!(
        dir.is_dir(),
        "{}: no such data directory (run `./mnist fetch`)",
        dir.display()
    );
    let [train_x, train_y, test_x, test_y] = FILE_NAMES.map(|name| find_file(dir, name));
    Ok([
        read_checked(&train_x?, &train_y?)?,
        read_checked(&test_x?, &test_y?)?,
    ])
}

/// Loads the four files in `dir` as their bytes, with the same checks as [`load_mnist`].
pub(crate) fn load_raw_mnist(dir: &Path) -> Result<RawMnist> {
    let [(train_x, train_y), (test_x, test_y)] = read_files(dir)?;
    let bytes = |arr: &IdxArray| {
        let dims: Vec<i64> = arr.dims.iter().map(|&d| d as i64).collect();
        Tensor::from_slice(arr.data()).view(dims.as_slice()) // [n, 28, 28] or [n], u8
    };
    Ok(RawMnist {
        train_images: bytes(&train_x),
        train_labels: bytes(&train_y),
        test_images: bytes(&test_x),
        test_labels: bytes(&test_y),
    })
}

/// The path of a standard file in `dir`, raw or gzipped; an error names what is missing.
pub(crate) fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let candidates = [dir.join(name), dir.join(format!("{name}.gz"))];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .with_context(|| {
            format!(
                "{}: missing (nor {name}.gz); run `./mnist fetch`",
                dir.join(name).display()
            )
        })
}

/// Loads one image file and its label file, checking that they belong together.
pub fn load_split(images_path: &Path, labels_path: &Path) -> Result<Split> {
    load_split_with(images_path, labels_path, images_to_tensor)
}

/// [`load_split`] with `to_tensor` converting the images.
pub(crate) fn load_split_with(
    images_path: &Path,
    labels_path: &Path,
    to_tensor: ToTensor,
) -> Result<Split> {
    let (images, labels) = read_checked(images_path, labels_path)?;
    Ok(Split {
        images: to_tensor(&images),
        labels: labels_to_tensor(&labels),
    })
}

/// Reads an image file and its label file, checking each and that they belong together.
fn read_checked(images_path: &Path, labels_path: &Path) -> Result<(IdxArray, IdxArray)> {
    let images = read_idx(images_path)?;
    let labels = read_idx(labels_path)?;
    check_images(&images).with_context(|| images_path.display().to_string())?;
    check_labels(&labels).with_context(|| labels_path.display().to_string())?;
    if images.dims[0] != labels.dims[0] {
        bail!(
            "{} holds {} images but {} holds {} labels",
            images_path.display(),
            images.dims[0],
            labels_path.display(),
            labels.dims[0]
        );
    }
    Ok((images, labels))
}

/// Checks an image array: three dimensions, 28x28 each.
fn check_images(arr: &IdxArray) -> Result<()> {
    let side = IMAGE_SIDE as usize;
    ensure!(
        arr.dims.len() == 3 && arr.dims[1] == side && arr.dims[2] == side,
        "expected images of shape [n, 28, 28], found dimensions {:?}",
        arr.dims
    );
    Ok(())
}

/// Checks a label array: one dimension, every value a digit.
fn check_labels(arr: &IdxArray) -> Result<()> {
    ensure!(
        arr.dims.len() == 1,
        "expected labels of shape [n], found dimensions {:?}",
        arr.dims
    );
    if let Some(pos) = arr.data().iter().position(|&l| l as i64 >= LABELS) {
        bail!(
            "label {} at index {pos} is not a digit 0-9",
            arr.data()[pos]
        );
    }
    Ok(())
}

/// Bytes to normalised pixels: [n, 1, 28, 28] f32 in [0, 1].
pub fn images_to_tensor(arr: &IdxArray) -> Tensor {
    let n = arr.dims[0] as i64;
    Tensor::from_slice(arr.data())
        .view([n, 1, IMAGE_SIDE, IMAGE_SIDE]) // [n, 1, 28, 28], bytes
        .to_kind(Kind::Float)
        .divide_scalar_(255.0)
}

/// Bytes to class indices: [n] i64.
fn labels_to_tensor(arr: &IdxArray) -> Tensor {
    Tensor::from_slice(arr.data()).to_kind(Kind::Int64)
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Split {
        let idx: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let idx = Tensor::from_slice(&idx);
        Split {
            images: self.images.index_select(0, &idx),
            labels: self.labels.index_select(0, &idx),
        }
    }

    /// The first `n` examples (all of them when `n` is larger).
    pub fn head(&self, n: usize) -> Split {
        let n = n.min(self.len()) as i64;
        Split {
            images: self.images.narrow(0, 0, n),
            labels: self.labels.narrow(0, 0, n),
        }
    }

    /// A seeded shuffle cut into (train, validation), the validation part `fraction` of the whole.
    pub fn train_validation(&self, fraction: f64, seed: u64) -> Result<(Split, Split)> {
        ensure!(
            (0.0..1.0).contains(&fraction),
            "validation fraction must be in [0, 1), got {fraction}"
        );
        let order = permutation(self.len(), seed);
        let n_val = (self.len() as f64 * fraction).round() as usize;
        Ok((self.select(&order[n_val..]), self.select(&order[..n_val])))
    }

    /// One image as 784 pixel values in [0, 1], row by row.
    pub fn pixels(&self, index: usize) -> Result<Vec<f32>> {
        self.check_index(index)?;
        let image = self.images.get(index as i64).flatten(0, -1); // [784]
        Ok(Vec::<f32>::try_from(&image)?)
    }

    /// The label of one example.
    pub fn label(&self, index: usize) -> Result<i64> {
        self.check_index(index)?;
        Ok(self.labels.int64_value(&[index as i64]))
    }

    /// An error naming the valid range when `index` is past the end.
    pub(crate) fn check_index(&self, index: usize) -> Result<()> {
        if index >= self.len() {
            bail!(
                "index {index} is out of range: this split has {} images (0 to {})",
                self.len(),
                self.len().saturating_sub(1)
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx;

    fn write_pair(dir: &Path, n_images: usize, labels: &[u8]) -> (PathBuf, PathBuf) {
        let (xp, yp) = (dir.join("x"), dir.join("y"));
        std::fs::write(
            &xp,
            encode_idx(&[n_images, 28, 28], &vec![255; n_images * 784]),
        )
        .unwrap();
        std::fs::write(&yp, encode_idx(&[labels.len()], labels)).unwrap();
        (xp, yp)
    }

    #[test]
    fn loads_and_normalises() {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = write_pair(dir.path(), 3, &[0, 9, 4]);
        let split = load_split(&x, &y).unwrap();
        assert_eq!(split.images.size(), vec![3, 1, 28, 28]);
        assert_eq!(split.images.max().double_value(&[]), 1.0);
        assert_eq!(split.label(1).unwrap(), 9);
        let err = split.label(99).unwrap_err().to_string();
        assert!(err.contains("index 99 is out of range"), "{err}");
    }

    #[test]
    fn rejects_mismatch_and_bad_labels() {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = write_pair(dir.path(), 3, &[0, 1]);
        assert!(format!("{:#}", load_split(&x, &y).unwrap_err()).contains("3 images but"));
        let (x, y) = write_pair(dir.path(), 2, &[0, 10]);
        assert!(format!("{:#}", load_split(&x, &y).unwrap_err()).contains("label 10 at index 1"));
    }

    #[test]
    fn raw_files_load_as_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let images = |n: usize| encode_idx(&[n, 28, 28], &vec![7; n * 784]);
        std::fs::write(dir.path().join(FILE_NAMES[0]), images(3)).unwrap();
        std::fs::write(dir.path().join(FILE_NAMES[1]), encode_idx(&[3], &[0, 9, 4])).unwrap();
        std::fs::write(dir.path().join(FILE_NAMES[2]), images(2)).unwrap();
        std::fs::write(dir.path().join(FILE_NAMES[3]), encode_idx(&[2], &[5, 11])).unwrap();
        let err = format!("{:#}", load_raw_mnist(dir.path()).unwrap_err());
        assert!(err.contains("label 11 at index 1"), "{err}");
        std::fs::write(dir.path().join(FILE_NAMES[3]), encode_idx(&[2], &[5, 1])).unwrap();
        let raw = load_raw_mnist(dir.path()).unwrap();
        assert_eq!(raw.train_images.size(), vec![3, 28, 28]);
        assert_eq!(raw.train_images.kind(), Kind::Uint8);
        assert_eq!(raw.train_images.max().int64_value(&[]), 7);
        assert_eq!(
            Vec::<u8>::try_from(&raw.train_labels).unwrap(),
            vec![0, 9, 4]
        );
        assert_eq!(raw.test_labels.size(), vec![2]);
    }

    #[test]
    fn split_is_seeded_and_disjoint() {
        let labels: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
        let split = Split {
            images: Tensor::zeros([100, 1, 28, 28], (Kind::Float, tch::Device::Cpu)),
            labels: Tensor::from_slice(&labels).to_kind(Kind::Int64),
        };
        let (train, val) = split.train_validation(0.2, 1).unwrap();
        assert_eq!((train.len(), val.len()), (80, 20));
        let (_, val2) = split.train_validation(0.2, 1).unwrap();
        assert!(val.labels.equal(&val2.labels));
    }
}
