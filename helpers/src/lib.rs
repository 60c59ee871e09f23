//! MNIST with tch: the helper crate behind the notebooks. The lesson (the networks in [`model`],
//! training in [`train`]) is plain tch; the rest is plumbing the notebooks call in one line:
//! [`data`] (IDX files checked by [`checksum`]), [`metrics`], [`plot`], [`tables`], [`display`],
//! and [`artifacts`] for what a later notebook reads. The `mnist` command's faster CPU engine
//! lives in a crate of its own (`helpers/engine`), which this one never compiles.

pub mod artifacts;
pub mod atomic;
pub mod checksum;
pub mod config;
pub mod data;
pub mod display;
pub mod env_info;
pub mod history;
pub mod idx;
pub mod metrics;
pub mod model;
pub mod notebook;
pub mod panics;
pub mod plot;
pub mod png;
pub mod progress;
pub mod rng;
pub mod shapes;
pub mod source;
pub mod stop;
pub mod subnormals;
pub mod tables;
pub mod train;

pub use tch;

/// Everything a notebook needs, in one `use mnist_helpers::prelude::*;`.
pub mod prelude {
    pub use crate::artifacts::{load_trained, Trained};
    pub use crate::config::{Schedule, TrainConfig};
    pub use crate::data::{Mnist, Split};
    pub use crate::device;
    pub use crate::display::{Html, Markdown, Png};
    pub use crate::history::History;
    pub use crate::metrics::Predictions;
    pub use crate::model::{cnn_model, mlp_model, Cnn};
    pub use crate::notebook::*;
    pub use crate::source::show_source;
    pub use crate::train::fit;
    pub use anyhow::{Error, Result};
    pub use tch::nn::{self, ModuleT, OptimizerConfig};
    pub use tch::{self, Device, Kind, Tensor};
}

pub use config::TrainConfig;
pub use data::{load_mnist, Mnist, Split};

/// Where networks run: the first CUDA GPU when there is one, else Apple's GPU (MPS) on a Mac,
/// else the CPU.
pub fn device() -> tch::Device {
    load_cuda_backend();
    match tch::Device::cuda_if_available() {
        tch::Device::Cpu if tch::utils::has_mps() => tch::Device::Mps,
        device => device,
    }
}

/// Runs [`at_load`] as soon as a program or a notebook cell linking this crate is loaded.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static AT_LOAD: extern "C" fn() = {
    extern "C" fn at_start() {
        at_load();
    }
    at_start
};

/// Set by `scripts/kernel.sh` in the project's Jupyter kernel.
pub const KERNEL_ENV: &str = "MNIST_KERNEL";

/// What must happen before anything else: libtorch remembers its first answer to "is there
/// CUDA?" (`tch::manual_seed` asks), so its CUDA library is loaded first; subnormal floats are
/// flushed to zero ([`subnormals`]) before libtorch starts its worker threads, which inherit it;
/// and in the project's kernel, the stop button's handler ([`stop`]) and the two-line panic
/// report ([`panics`]) are installed (each cell's library installs its own: see [`stop`]).
#[cfg(target_os = "linux")]
fn at_load() {
    load_cuda_backend();
    subnormals::flush_to_zero(true);
    if std::env::var_os(KERNEL_ENV).is_some() {
        panics::install(true);
        stop::install_handler();
    }
}

/// Loads libtorch's CUDA half (`libtorch_cuda.so`) when this machine has an NVIDIA driver. Rust's
/// linker drops that library from our binaries and the kernel's cells (nothing names a symbol of
/// it), and without it libtorch reports no GPU. A machine without the driver skips it: no cost.
fn load_cuda_backend() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: dlopen with constant C strings; the handles stay open for the process' life.
        ONCE.call_once(|| unsafe {
            if !libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_LAZY).is_null() {
                libc::dlopen(
                    c"libtorch_cuda.so".as_ptr(),
                    libc::RTLD_NOW | libc::RTLD_GLOBAL,
                );
            }
        });
    }
}
