//! Data augmentation for the best CNN recipe: every training image gets its own small random
//! rotation, scale and shift, drawn from libtorch's seeded generator, in two tensor operations.

use std::f64::consts::PI;
use tch::{Kind, Tensor};

/// How far the random affine transform may move an image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Largest rotation either way, in degrees.
    pub max_degrees: f64,
    /// Largest relative change of size either way (0.1 = 90% to 110%).
    pub max_scale: f64,
    /// Largest shift either way, in pixels.
    pub max_shift_pixels: f64,
}

impl Default for Affine {
    /// ±10°, ±10% size, ±2 pixels: digits stay readable and inside the frame.
    fn default() -> Self {
        Affine {
            max_degrees: 10.0,
            max_scale: 0.1,
            max_shift_pixels: 2.0,
        }
    }
}

impl Affine {
    /// The batch with a different random transform applied to each image: [n, 1, 28, 28] in and out.
    pub fn apply(&self, images: &Tensor) -> Tensor {
        let size = images.size(); // [n, 1, 28, 28]
        let theta = self.random_matrices(size[0], images); // [n, 2, 3]
        let grid = Tensor::affine_grid_generator(&theta, &size, false); // [n, 28, 28, 2]
                                                                        // bilinear sampling (0), zeros outside the image (0)
        images.grid_sampler(&grid, 0, 0, false) // [n, 1, 28, 28]
    }

    /// One 2x3 sampling matrix per image: rotation and scale, then a shift in grid units.
    fn random_matrices(&self, n: i64, like: &Tensor) -> Tensor {
        let options = (Kind::Float, like.device());
        let uniform = |limit: f64| (Tensor::rand([n], options) * 2.0 - 1.0) * limit; // [n]
        let angle = uniform(self.max_degrees * PI / 180.0);
        let scale = uniform(self.max_scale) + 1.0;
        let side = like.size()[3] as f64;
        let shift_x = uniform(2.0 * self.max_shift_pixels / side);
        let shift_y = uniform(2.0 * self.max_shift_pixels / side);
        let (cos, sin) = (angle.cos() / &scale, angle.sin() / &scale);
        let row0 = Tensor::stack(&[&cos, &(-&sin), &shift_x], 1); // [n, 3]
        let row1 = Tensor::stack(&[&sin, &cos, &shift_y], 1); // [n, 3]
        Tensor::stack(&[row0, row1], 1) // [n, 2, 3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_movement_keeps_the_image() {
        let still = Affine {
            max_degrees: 0.0,
            max_scale: 0.0,
            max_shift_pixels: 0.0,
        };
        let x = Tensor::rand([4, 1, 28, 28], (Kind::Float, tch::Device::Cpu));
        let diff = (still.apply(&x) - &x).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "identity transform changed pixels by {diff}");
    }

    #[test]
    fn moves_each_image_differently_and_keeps_shape() {
        tch::manual_seed(3);
        let one = Tensor::zeros([1, 1, 28, 28], (Kind::Float, tch::Device::Cpu));
        let _ = one.narrow(2, 10, 8).narrow(3, 10, 8).fill_(1.0);
        let batch = one.repeat([2, 1, 1, 1]); // [2, 1, 28, 28]
        let out = Affine::default().apply(&batch);
        assert_eq!(out.size(), vec![2, 1, 28, 28]);
        let between = (out.get(0) - out.get(1))
            .abs()
            .sum(Kind::Float)
            .double_value(&[]);
        assert!(between > 1.0, "both images got the same transform");
        let ink = out.sum(Kind::Float).double_value(&[]) / 2.0;
        assert!(
            (40.0..90.0).contains(&ink),
            "a small move keeps most of the ink, got {ink}"
        );
    }
}
