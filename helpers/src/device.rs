//! Where networks run, and what must happen as soon as the crate is loaded. Kept apart from what a
//! learner reads first: none of it is part of the lesson.

use crate::{panics, stop, subnormals};

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
