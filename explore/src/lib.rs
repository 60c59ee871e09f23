//! Notebook 07's pictures, on top of the notebooks' crate (`mnist_helpers`): the draw-a-digit
//! page in [`canvas`] (both networks answer in the page's JavaScript while the learner draws),
//! saliency grids and maps of hidden layers in [`explore`], drawn by [`scatter`], and the t-SNE
//! maps of [`tsne`]. Notebook 07 computes the saliency (tch autograd) and the PCA (tch's SVD) in
//! its own cells.
//!
//! Module order: explore, tsne, canvas, scatter (each uses only modules after it;
//! `helpers/tests/layers.rs` checks).

pub mod canvas;
pub mod explore;
pub mod scatter;
pub mod tsne;

/// What notebook 07 uses, in one `use mnist_explore::prelude::*;`.
pub mod prelude {
    pub use crate::canvas::draw_a_digit;
    pub use crate::explore::{digit_map, hidden_layer, mistakes_then_right, saliency_grid};
    pub use crate::tsne::tsne_2d;
}
