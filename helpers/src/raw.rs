//! Direct access to the memory of CPU tensors, for the few loops that are faster in plain Rust
//! than as a chain of tensor operations (Adam's update, the MLP step, loading IDX pixels).

use tch::{Device, Kind, Tensor};

/// True when `t` lives on the CPU as contiguous f32, so its memory can be used directly.
pub fn is_plain_cpu_f32(t: &Tensor) -> bool {
    t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous()
}

/// A tensor's memory as a mutable f32 slice.
///
/// # Safety
/// `t` must satisfy [`is_plain_cpu_f32`], and nothing else may read or write its storage (no
/// other tensor sharing it, no other thread) while the slice lives.
pub unsafe fn f32_slice_mut(t: &mut Tensor) -> &mut [f32] {
    debug_assert!(is_plain_cpu_f32(t));
    std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, t.numel())
}
