//! Subnormal floats (nonzero and below 1.2e-38 in size) flushed to zero on x86_64. Adam's moments
//! of weights whose gradient is always zero (MNIST's blank border pixels) decay into that range
//! within the first epoch, and x86 CPUs take about a hundred times longer on each operation that
//! meets one. Two switches, both on: FTZ makes a result that would be subnormal zero, and DAZ
//! makes a subnormal input read as zero. A subnormal value itself moves by less than 1.2e-38,
//! but what is computed from it can change completely: 1 / 1e-38 gives infinity instead of 1e38.
//! The same switch as PyTorch's `torch.set_flush_denormal(True)`, which PyTorch leaves off unless
//! called; here the crate's load hook turns it on in every program that links the crate on Linux
//! x86_64 (the kernel's cells, the `mnist` command, the tests), and [`status`] says so where it
//! acts: in the notebooks' environment table and the `mnist` command's training line.

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

/// One line for status output: whether the calling thread flushes subnormal floats, and what
/// that means.
pub fn status() -> &'static str {
    match flushing() {
        true => "subnormal floats flushed to zero (FTZ and DAZ: below 1.2e-38 reads as 0)",
        false => "subnormal floats kept (IEEE arithmetic)",
    }
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
    #[cfg(target_arch = "x86_64")]
    fn with_daz_a_subnormal_input_reads_as_zero() {
        let was = flushing();
        let tiny = std::hint::black_box(1e-38f32); // subnormal: below 1.18e-38
        flush_to_zero(true);
        let inverse = std::hint::black_box(1.0f32) / tiny;
        assert!(
            status().starts_with("subnormal floats flushed"),
            "{}",
            status()
        );
        flush_to_zero(false);
        assert_eq!(inverse, f32::INFINITY, "with DAZ, 1 / 1e-38 = 1 / 0");
        let kept = std::hint::black_box(1.0f32) / tiny;
        assert!(
            (kept - 1e38).abs() < 1e33,
            "without DAZ, 1 / 1e-38 = {kept}"
        );
        assert!(status().ends_with("(IEEE arithmetic)"), "{}", status());
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
