//! Killing a save at random moments never leaves a broken weights file: it is always the old or
//! the new complete file, and it loads.

use mnist_engine::weights::{load_network, save_network};
use mnist_engine::{ModelKind, Network};
use mnist_helpers::rng::SplitMix64;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tch::Device;

/// The `save_loop` example, built next to the test binaries.
fn save_loop_exe() -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    deps.parent().unwrap().join("examples").join("save_loop")
}

/// The first-layer weights of a saved network, to tell which version is on disk.
fn fingerprint(path: &Path) -> Vec<f32> {
    let net = load_network(path, Device::Cpu).unwrap_or_else(|e| panic!("{e:#}"));
    let kernel = &net.vs.variables()["fc1.kernel"]; // [784, 128], input-major
    Vec::<f32>::try_from(kernel.narrow(1, 0, 1).flatten(0, -1).contiguous()).unwrap()
}

/// Temporary files (of writers that were killed) in `dir`.
fn temp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .count()
}

#[test]
#[ignore = "full tier: kills processes mid-save (./scripts/test.sh)"]
fn sigkill_during_saves_leaves_old_or_new_complete_file() {
    let exe = save_loop_exe();
    assert!(
        exe.is_file(),
        "{} missing: cargo test builds examples",
        exe.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.safetensors");
    save_network(&Network::seeded(ModelKind::Mlp, Device::Cpu, 100), &path).unwrap();
    let known: Vec<Vec<f32>> = [100, 101]
        .iter()
        .map(|&s| {
            let p = dir.path().join(format!("ref{s}.safetensors"));
            save_network(&Network::seeded(ModelKind::Mlp, Device::Cpu, s), &p).unwrap();
            fingerprint(&p)
        })
        .collect();
    let mut rng = SplitMix64::new(1);
    let (kills, mut mid_write) = (40, 0);
    for _ in 0..kills {
        let mut child = Command::new(&exe)
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(60_000) as u64));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        mid_write += usize::from(temp_files(dir.path()) > 0);
        let now = fingerprint(&path);
        assert!(
            known.contains(&now),
            "weights on disk are neither the old nor the new version"
        );
    }
    save_network(&Network::seeded(ModelKind::Mlp, Device::Cpu, 100), &path).unwrap();
    assert_eq!(
        temp_files(dir.path()),
        0,
        "temporary files of killed writers are cleaned up"
    );
    assert!(
        mid_write > 0,
        "no kill landed during a write: the test proves nothing"
    );
    println!("{kills} kills survived, {mid_write} of them in the middle of a write");
}
