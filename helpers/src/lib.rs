//! MNIST with tch: the helper crate behind the notebooks and the `mnist` command.
//!
//! Data flow: [`data`] (IDX files, verified by [`fetch`]) -> [`model`] -> [`train`] ->
//! [`metrics`] -> [`plot`] -> [`display`], with [`artifacts`] saving what a later notebook needs.

pub mod artifacts;
pub mod augment;
pub mod config;
pub mod data;
pub mod display;
pub mod env_info;
pub mod fetch;
pub mod idx;
pub mod image;
pub mod metrics;
pub mod mlp_step;
pub mod model;
pub mod notebook;
pub mod optim;
pub mod plot;
pub mod raw;
pub mod recipe;
pub mod rng;
pub mod sparse;
pub mod tables;
pub mod train;

/// Everything a notebook needs, in one `use mnist_helpers::prelude::*;`.
pub mod prelude {
    pub use crate::display::{Html, Png};
    pub use crate::metrics::Predictions;
    pub use crate::model::{ModelKind, Network};
    pub use crate::notebook::*;
    pub use crate::train::History;
    pub use crate::{Mnist, Split, TrainConfig};
    pub use anyhow::Result;
    pub use tch::{Device, Kind, Tensor};
}

pub use config::TrainConfig;
pub use data::{load_mnist, Mnist, Split};
pub use display::{Html, Png};
pub use model::{ModelKind, Network};
pub use train::{fit, History};
