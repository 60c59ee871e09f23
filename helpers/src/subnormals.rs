//! Subnormal floats (below 1.2e-38) flushed to zero on x86_64. Adam's moments of weights whose
//! gradient is always zero (MNIST's blank border pixels) decay into that range within the first
//! epoch, and x86 CPUs take about a hundred times longer on each operation that meets one. No
//! value a network computes is changed by more than 1.2e-38. The same switch as PyTorch's
//! `torch.set_flush_denormal(True)`.

/// Turns flushing on or off for the calling thread (the MXCSR register's FTZ and DAZ bits);
/// threads started afterwards by this thread inherit it. Does nothing off x86_64.
pub fn flush_to_zero(on: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        /// Flush-to-zero (results) and denormals-are-zero (inputs).
        const FTZ_DAZ: u32 = 0x8040;
        #[allow(deprecated)] // the intrinsics are deprecated in favour of inline assembly only
        // SAFETY: SSE is part of x86_64; only the two rounding-mode bits above change.
        unsafe {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            let csr = _mm_getcsr();
            _mm_setcsr(if on { csr | FTZ_DAZ } else { csr & !FTZ_DAZ });
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = on;
}

/// Whether the calling thread flushes subnormal floats to zero (always false off x86_64).
pub fn flushing() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(deprecated)]
        // SAFETY: reading MXCSR has no effect.
        let csr = unsafe { std::arch::x86_64::_mm_getcsr() };
        csr & 0x8040 == 0x8040
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1e-30 * 1e-10 = 1e-40, a subnormal, computed anew on each call (the compiler would
    /// otherwise reuse one product: it does not know that the register changes arithmetic).
    fn subnormal_product() -> f32 {
        std::hint::black_box(1e-30f32) * std::hint::black_box(1e-10f32)
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn flushing_turns_a_subnormal_result_into_zero_and_back() {
        let was = flushing();
        flush_to_zero(true);
        assert!(flushing());
        assert_eq!(subnormal_product(), 0.0, "1e-40 is subnormal: flushed");
        flush_to_zero(false);
        assert!(!flushing());
        assert!(subnormal_product() > 0.0, "kept when not flushing");
        flush_to_zero(was);
    }

    #[test]
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn threads_started_after_the_crate_loaded_flush() {
        // The crate's load hook turned flushing on in the main thread; this test's thread and the
        // one it starts inherit it, as libtorch's worker threads do.
        assert!(std::thread::spawn(flushing).join().unwrap());
    }
}
