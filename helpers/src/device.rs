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
pub(crate) const KERNEL_ENV: &str = "MNIST_KERNEL";

/// What must run when the library is loaded, before any code of a cell or a program, and why an
/// explicit call (say, in the setup cell) cannot do it:
/// - the CUDA half of libtorch is loaded: libtorch remembers its first answer to "is there
///   CUDA?", and any call may ask first (`tch::manual_seed` does), so [`device`] alone would come
///   too late once something else has asked; on a machine without NVIDIA's driver it costs nothing;
/// - subnormal floats are flushed to zero ([`subnormals`]): the setting is per thread and libtorch's
///   worker threads inherit it when they start, which the first tensor operation of any cell does;
/// - in the project's kernel only ([`KERNEL_ENV`]): the stop button's handler ([`stop`]) and the
///   two-line panic report ([`panics`]). evcxr compiles every cell into a library of its own, and
///   each library carries its own copy of this crate's statics (a `static` written in a cell is
///   compiled again into each later cell), so each copy must install its own handler when its
///   library is opened: a call in the setup cell would install the first copy only, and the
///   libraries of later cells, whose loops listen, would never hear a press.
///
/// The `mnist` command and the tests get the first two the same way; they are not kernels, so the
/// handler and the report stay out of them.
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
