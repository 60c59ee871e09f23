//! What the notebooks run on: tch and libtorch versions, device, threads.

use std::path::PathBuf;
use tch::Device;

/// The tch version this crate is pinned to (Cargo.toml says `=0.26.0`; a test keeps them equal).
pub(crate) const TCH_VERSION: &str = "0.26.0";

/// A description of the running environment.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvInfo {
    /// Version of the tch crate.
    pub tch_version: String,
    /// Version of the libtorch actually loaded, read beside it (e.g. "2.13.0+cu130").
    pub libtorch_version: String,
    /// Where the loaded libtorch lives.
    pub libtorch_dir: String,
    /// The device training uses: "cpu", "cuda:0" or "mps".
    pub device: String,
    /// CUDA devices visible to libtorch.
    pub cuda_devices: i64,
    /// Threads libtorch uses for CPU work.
    pub threads: i32,
}

/// The CPU's model name from /proc/cpuinfo; None where there is none (each caller names its
/// own fallback). The project's one reader in Rust (scripts/course.py is Python's).
pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

/// The directory of the libtorch_cpu library mapped into this process, if any (Linux: read from
/// /proc/self/maps; elsewhere not known).
#[cfg(target_os = "linux")]
fn loaded_libtorch_dir() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.contains("libtorch_cpu."))?;
    let path = PathBuf::from(line.split_whitespace().last()?);
    path.parent().map(PathBuf::from)
}

/// The directory of libtorch off Linux: the first folder on the loader's search path (which
/// `scripts/env.sh` and the kernel set) that holds a `libtorch_cpu` library.
#[cfg(not(target_os = "linux"))]
fn loaded_libtorch_dir() -> Option<PathBuf> {
    let paths = ["DYLD_LIBRARY_PATH", "LD_LIBRARY_PATH", "PATH"]
        .iter()
        .filter_map(std::env::var_os)
        .flat_map(|v| std::env::split_paths(&v).collect::<Vec<_>>());
    paths.into_iter().find(|dir| {
        ["libtorch_cpu.dylib", "libtorch_cpu.so", "torch_cpu.dll"]
            .iter()
            .any(|name| dir.join(name).is_file())
    })
}

/// The version written in the `version.py` of the torch package around `lib_dir`.
fn torch_version_near(lib_dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(lib_dir.parent()?.join("version.py")).ok()?;
    let line = text.lines().find(|l| l.starts_with("__version__"))?;
    Some(
        line.split('=')
            .nth(1)?
            .trim()
            .trim_matches(|c| c == '\'' || c == '"')
            .to_string(),
    )
}

/// Collects the environment description (loads libtorch if it is not loaded yet).
pub fn collect() -> EnvInfo {
    let threads = tch::get_num_threads();
    let dir = loaded_libtorch_dir();
    let device = match crate::device() {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".to_string(),
        _ => "cpu".to_string(),
    };
    EnvInfo {
        tch_version: TCH_VERSION.to_string(),
        libtorch_version: dir
            .as_deref()
            .and_then(torch_version_near)
            .unwrap_or_else(|| "unknown".into()),
        libtorch_dir: dir
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "unknown".into()),
        device,
        cuda_devices: crate::device()
            .is_cuda()
            .then(tch::Cuda::device_count)
            .unwrap_or(0),
        threads,
    }
}

impl EnvInfo {
    /// (name, value) pairs for a table.
    pub fn rows(&self) -> Vec<(String, String)> {
        vec![
            ("tch crate".into(), self.tch_version.clone()),
            ("libtorch".into(), self.libtorch_version.clone()),
            ("libtorch location".into(), self.libtorch_dir.clone()),
            ("device".into(), self.device.clone()),
            ("CUDA devices".into(), self.cuda_devices.to_string()),
            ("CPU threads".into(), self.threads.to_string()),
            (
                "subnormal floats".into(),
                crate::subnormals::status().into(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_tch_version_matches_cargo_toml() {
        let manifest = include_str!("../Cargo.toml");
        assert!(
            manifest.contains(&format!("tch = \"={TCH_VERSION}\"")),
            "update TCH_VERSION"
        );
    }

    #[test]
    fn finds_the_loaded_libtorch() {
        let info = collect();
        assert!(info.threads >= 1);
        // Linux reads the mapped library; elsewhere it is found on the loader's search path,
        // which only the project's scripts set.
        if cfg!(target_os = "linux") || info.libtorch_dir != "unknown" {
            assert!(info.libtorch_version.starts_with("2."), "{info:?}");
        }
    }
}
