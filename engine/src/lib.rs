//! The `mnist` command's CPU speed engine, fenced off from the notebooks (their kernel compiles
//! only `mnist_helpers`). On the CPU the seed MLP trains without autograd: a hand-written step
//! ([`mlp_step`]) whose first layer touches only the nonzero pixels ([`sparse`]), and Adam as one
//! Rust loop per parameter ([`optim`]). The CNNs are the notebooks' tch code ([`network`]); the
//! best recipe adds augmentation ([`augment`]). Also here: downloading MNIST ([`fetch`]), reading
//! a user's PNG ([`digit`]) and the weights files ([`weights`]).

//!
//! Module order: run, trainer, recipe, weights, network, mlp_step, load, optim, digit, fetch,
//! augment, precision, deep_cnn, sparse, raw (each uses only modules after it;
//! `helpers/tests/layers.rs` checks).

pub mod augment;
pub mod deep_cnn;
pub mod digit;
pub mod fetch;
pub mod load;
pub mod mlp_step;
pub mod network;
pub mod optim;
pub mod precision;
pub mod raw;
pub mod recipe;
pub mod run;
pub mod sparse;
pub mod trainer;
pub mod weights;

pub use network::{ModelKind, Network};
pub use recipe::Recipe;
