//! The deep CNN's training precision, chosen by measurement: `auto` times a few training steps
//! in float32 and in bfloat16 on this machine and trains in the faster one. A CPU's flags do not
//! say which is faster (oneDNN's bfloat16 kernels use AMX on some CPUs and fall back on others),
//! so the step times decide. They are measured once per machine and kept in a small JSON file,
//! keyed by the CPU model, the libtorch version, the thread count and the batch size.
//! `MNIST_PRECISION=bf16|f32` forces one.

use anyhow::{bail, Context, Result};
use mnist_helpers::atomic::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Kind};

/// The environment variable that chooses the training precision: `bf16`, `f32` or `auto`.
pub const PRECISION_VAR: &str = "MNIST_PRECISION";

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Measure and take the faster precision.
    Auto,
    /// This precision, whatever the measurement would say.
    Forced(Kind),
}

/// The request in [`PRECISION_VAR`] (unset or empty: `auto`); another value is an error naming
/// the variable.
pub fn requested() -> Result<Request> {
    match std::env::var(PRECISION_VAR) {
        Ok(value) => parse_request(&value),
        Err(std::env::VarError::NotPresent) => Ok(Request::Auto),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{PRECISION_VAR}: value is not valid text"),
    }
}

/// A request written as `bf16`, `f32` or `auto` (any case; empty means `auto`).
fn parse_request(value: &str) -> Result<Request> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(Request::Auto),
        "bf16" | "bfloat16" => Ok(Request::Forced(Kind::BFloat16)),
        "f32" | "float32" => Ok(Request::Forced(Kind::Float)),
        _ => bail!("{PRECISION_VAR}={value:?}: expected bf16, f32 or auto"),
    }
}

/// Seconds per training step in each precision, on one machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepTimes {
    /// Seconds per step in float32.
    pub float32: f64,
    /// Seconds per step with the bfloat16 training pass.
    pub bfloat16: f64,
}

impl StepTimes {
    /// The precision with the shorter step (float32 on a tie).
    pub fn faster(&self) -> Kind {
        match self.bfloat16 < self.float32 {
            true => Kind::BFloat16,
            false => Kind::Float,
        }
    }
}

/// Why a precision was chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// [`PRECISION_VAR`] named it.
    Forced,
    /// Measured now (and written to the cache).
    Measured(StepTimes),
    /// Measured on an earlier run of this machine, read from the cache.
    Cached(StepTimes),
    /// The CPU has no native bfloat16 arithmetic, so float32 without measuring.
    NoNativeBf16,
    /// Not a CPU: float32, as on every GPU so far.
    NotCpu,
}

/// A training precision and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The precision of the training pass.
    pub kind: Kind,
    /// Why it was chosen.
    pub reason: Reason,
}

impl Choice {
    /// One line for the user, e.g. "training pass in bfloat16: 31.2 ms per step against
    /// float32's 47.5 ms (measured now; MNIST_PRECISION=bf16|f32 forces one)".
    pub fn describe(&self) -> String {
        let name = precision_name(self.kind);
        let why = match &self.reason {
            Reason::Forced => format!("{PRECISION_VAR} asks for it"),
            Reason::Measured(t) => format!("{}, measured now", times_text(t)),
            Reason::Cached(t) => format!("{}, measured earlier on this machine", times_text(t)),
            Reason::NoNativeBf16 => "this CPU has no native bfloat16 arithmetic".into(),
            Reason::NotCpu => "the default off the CPU".into(),
        };
        format!("training pass in {name} ({why}; {PRECISION_VAR}=bf16|f32|auto chooses)")
    }
}

/// "float32 47.5 ms, bfloat16 31.2 ms per training step".
fn times_text(t: &StepTimes) -> String {
    format!(
        "float32 {:.1} ms, bfloat16 {:.1} ms per training step",
        1e3 * t.float32,
        1e3 * t.bfloat16
    )
}

/// A training precision as messages and the benchmark name it: `bfloat16` or `float32`.
pub fn precision_name(kind: Kind) -> &'static str {
    match kind {
        Kind::BFloat16 => "bfloat16",
        _ => "float32",
    }
}

/// Whether this CPU multiplies bfloat16 natively (AVX512-BF16; every AMX CPU also has it). Without
/// it libtorch converts every value, so measuring is not worth the seconds.
pub fn cpu_has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Where and under which key the step times of this machine are kept.
#[derive(Debug, Clone)]
pub struct Cache<'a> {
    /// The JSON file (a map from key to [`StepTimes`]).
    pub file: &'a Path,
    /// The machine and setting the times belong to (see [`machine_key`]).
    pub key: String,
}

/// The cache key of this machine for steps of `batch` images: CPU model, libtorch version,
/// thread count and batch size, each of which changes the step times.
pub fn machine_key(batch: usize) -> String {
    let info = mnist_helpers::env_info::collect();
    format!(
        "{} | libtorch {} | {} threads | batch {batch}",
        cpu_model(),
        info.libtorch_version,
        info.threads
    )
}

/// The CPU's model name (Linux: /proc/cpuinfo; elsewhere the architecture).
pub fn cpu_model() -> String {
    mnist_helpers::env_info::cpu_model().unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Chooses the precision for `request` on `device`: forced, or the faster of the two step times
/// that `measure(kind)` returns (seconds per step), read from `cache` when it holds them.
/// `native_bf16` says whether the CPU multiplies bfloat16 natively ([`cpu_has_bf16`]).
pub fn choose(
    request: Request,
    device: Device,
    native_bf16: bool,
    cache: &Cache,
    measure: impl FnOnce() -> Result<StepTimes>,
) -> Result<Choice> {
    let (kind, reason) = match request {
        Request::Forced(kind) => (kind, Reason::Forced),
        Request::Auto if device != Device::Cpu => (Kind::Float, Reason::NotCpu),
        Request::Auto if !native_bf16 => (Kind::Float, Reason::NoNativeBf16),
        Request::Auto => match read_cache(cache.file).remove(&cache.key) {
            Some(times) => (times.faster(), Reason::Cached(times)),
            None => {
                let times = measure()?;
                if let Err(e) = write_cache(cache, times) {
                    eprintln!("warning: {e:#}; the next run measures again");
                }
                (times.faster(), Reason::Measured(times))
            }
        },
    };
    Ok(Choice { kind, reason })
}

/// The cached step times; an unreadable or damaged file counts as empty (it is measured again
/// and rewritten).
fn read_cache(file: &Path) -> BTreeMap<String, StepTimes> {
    std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Adds `times` under the cache's key, keeping the other machines' entries.
fn write_cache(cache: &Cache, times: StepTimes) -> Result<()> {
    let mut all = read_cache(cache.file);
    all.insert(cache.key.clone(), times);
    let text = serde_json::to_string_pretty(&all)?;
    write_atomic(cache.file, text.as_bytes()).with_context(|| {
        format!(
            "{}: cannot keep the measured step times",
            cache.file.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn times(float32: f64, bfloat16: f64) -> StepTimes {
        StepTimes { float32, bfloat16 }
    }

    #[test]
    fn the_choice_follows_the_measured_step_times_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/precision.json");
        // A stubbed timer: the Intel Xeon of the report (bfloat16 slower), then a machine where
        // bfloat16 is faster; each key is measured once, then read back.
        for (key, stub, want) in [
            ("xeon", times(0.070, 0.085), Kind::Float),
            ("epyc", times(0.116, 0.087), Kind::BFloat16),
        ] {
            let cache = Cache {
                file: &file,
                key: key.into(),
            };
            let calls = Cell::new(0);
            let measure = || {
                calls.set(calls.get() + 1);
                Ok(stub)
            };
            let first = choose(Request::Auto, Device::Cpu, true, &cache, measure).unwrap();
            assert_eq!(first.kind, want, "{key}");
            assert_eq!(first.reason, Reason::Measured(stub));
            let again = choose(Request::Auto, Device::Cpu, true, &cache, || {
                calls.set(calls.get() + 1);
                Ok(times(1.0, 0.001)) // would choose bfloat16 if it were called
            })
            .unwrap();
            assert_eq!((again.kind, again.reason), (want, Reason::Cached(stub)));
            assert_eq!(calls.get(), 1, "{key}: measured once");
        }
        assert_eq!(read_cache(&file).len(), 2, "both machines kept");
    }

    #[test]
    fn forced_no_native_bf16_and_gpu_do_not_measure() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        let cache = Cache {
            file: &file,
            key: "k".into(),
        };
        let never = || -> Result<StepTimes> { panic!("measured") };
        let cpu = Device::Cpu;
        let forced = Request::Forced(Kind::BFloat16);
        let c = choose(forced, cpu, false, &cache, never).unwrap();
        assert_eq!((c.kind, c.reason), (Kind::BFloat16, Reason::Forced));
        let c = choose(Request::Auto, cpu, false, &cache, never).unwrap();
        assert_eq!((c.kind, c.reason), (Kind::Float, Reason::NoNativeBf16));
        let c = choose(Request::Auto, Device::Cuda(0), true, &cache, never).unwrap();
        assert_eq!((c.kind, c.reason), (Kind::Float, Reason::NotCpu));
        assert!(!file.exists());
    }

    #[test]
    fn a_damaged_cache_is_measured_again_and_a_failed_measurement_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, b"{ not json").unwrap();
        let cache = Cache {
            file: &file,
            key: "k".into(),
        };
        let c = choose(Request::Auto, Device::Cpu, true, &cache, || {
            Ok(times(0.05, 0.03))
        })
        .unwrap();
        assert_eq!(c.kind, Kind::BFloat16);
        assert_eq!(read_cache(&file)["k"], times(0.05, 0.03));
        let other = Cache {
            file: &file,
            key: "other".into(),
        };
        let err = choose(Request::Auto, Device::Cpu, true, &other, || {
            bail!("no data")
        });
        assert!(err.unwrap_err().to_string().contains("no data"));
    }

    #[test]
    fn requests_and_a_bad_value() {
        assert_eq!(parse_request("").unwrap(), Request::Auto);
        assert_eq!(parse_request(" AUTO").unwrap(), Request::Auto);
        assert_eq!(
            parse_request("bf16").unwrap(),
            Request::Forced(Kind::BFloat16)
        );
        assert_eq!(
            parse_request(" F32 ").unwrap(),
            Request::Forced(Kind::Float)
        );
        let err = parse_request("half").unwrap_err().to_string();
        assert!(
            err.contains(PRECISION_VAR) && err.contains("\"half\""),
            "{err}"
        );
    }

    #[test]
    fn descriptions_give_both_times_and_the_variable() {
        let c = Choice {
            kind: Kind::Float,
            reason: Reason::Measured(times(0.0475, 0.0612)),
        };
        let text = c.describe();
        for part in [
            "in float32",
            "float32 47.5 ms",
            "bfloat16 61.2 ms",
            PRECISION_VAR,
        ] {
            assert!(text.contains(part), "{text}");
        }
    }
}
