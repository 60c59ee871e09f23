//! MNIST with tch: the helper crate behind the notebooks. The lesson (the networks in [`model`],
//! training in [`train`]) is plain tch; the rest is plumbing the notebooks call in one line:
//! [`data`] (IDX files checked by [`checksum`]), [`metrics`], [`plot`], [`tables`], [`display`],
//! and [`artifacts`] for what a later notebook reads. The `mnist` command's faster CPU engine
//! lives in a crate of its own (`engine`), which this one never compiles. Where networks
//! run, and what happens when the crate is loaded: [`device`].
//!
//! Module order: check, notebook, lesson, metrics, train, artifacts, env_info, shapes, tables, plot,
//! progress, checksum, device, display, history, data, stop, panics, atomic, subnormals, model,
//! config, idx, png, rng (each uses only modules after it; `helpers/tests/layers.rs` checks).

pub mod artifacts;
pub mod atomic;
pub mod check;
pub mod checksum;
pub mod config;
pub mod data;
pub mod device;
pub mod display;
pub mod env_info;
pub mod history;
pub mod idx;
pub mod lesson;
pub mod metrics;
pub mod model;
pub mod notebook;
pub mod panics;
pub mod plot;
pub mod png;
pub mod progress;
pub mod rng;
pub mod shapes;
pub mod stop;
pub mod subnormals;
pub mod tables;
pub mod train;

pub use device::device;
pub use plotters;
pub use tch;

/// Everything a notebook needs, in one `use mnist_helpers::prelude::*;`.
pub mod prelude {
    pub use crate::artifacts::{artifacts_dir, load_trained, save_model, Trained};
    pub use crate::check::{self, your_answer};
    pub use crate::config::{Schedule, TrainConfig};
    pub use crate::data::{Mnist, RawMnist, Split};
    pub use crate::device;
    pub use crate::display::{Html, Png};
    pub use crate::history::History;
    pub use crate::lesson::*;
    pub use crate::metrics::{predict, Predictions};
    pub use crate::model::{channels_last, cnn_model, mlp_model, Cnn};
    pub use crate::notebook::*;
    pub use crate::plot::{plot_err, render};
    pub use crate::train::{evaluate, fit};
    pub use anyhow::{Error, Result};
    pub use tch::nn::{self, ModuleT, OptimizerConfig};
    pub use tch::{self, Device, Kind, Tensor};
}

pub use config::TrainConfig;
pub use data::{load_mnist, Mnist, Split};
