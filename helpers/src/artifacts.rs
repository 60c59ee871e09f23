//! Saving and loading what training produces (weights, histories), atomically, under `artifacts/`.

use crate::model::{ModelKind, Network};
use crate::train::History;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// Where artifacts go unless told otherwise, relative to the project root.
pub const DEFAULT_DIR: &str = "artifacts";

/// The artifacts directory: `$MNIST_ARTIFACTS` when set, else `artifacts/` in the project.
pub fn artifacts_dir() -> PathBuf {
    match std::env::var_os("MNIST_ARTIFACTS").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => crate::config::project_path(DEFAULT_DIR),
    }
}

/// The weights file of `kind` in `dir`.
pub fn weights_path(dir: &Path, kind: ModelKind) -> PathBuf {
    dir.join(format!("{kind}.safetensors"))
}

/// The history file of `kind` in `dir`.
pub fn history_path(dir: &Path, kind: ModelKind) -> PathBuf {
    dir.join(format!("{kind}_history.json"))
}

/// A temporary sibling of `path` that keeps its extension (tch picks the format by extension).
fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".tmp-{}-{name}", std::process::id()))
}

/// Makes a finished temporary file durable and moves it over `path` in one step.
fn commit(tmp: &Path, path: &Path) -> Result<()> {
    fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: cannot sync", tmp.display()))?;
    fs::rename(tmp, path).with_context(|| format!("{}: cannot move into place", path.display()))?;
    remove_stale_temps(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(())
}

/// Removes temporary siblings of `path` left by writers that were killed (their process is gone).
fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let suffix = format!("-{name}");
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file
            .strip_prefix(".tmp-")
            .and_then(|rest| rest.strip_suffix(&suffix));
        if pid.is_some_and(|p| !Path::new("/proc").join(p).exists()) {
            fs::remove_file(entry.path()).ok();
        }
    }
}

/// Creates the parent directory of `path` if needed.
fn ensure_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))
        }
        None => Ok(()),
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    ensure_parent(path)?;
    let tmp = temp_sibling(path);
    let written = fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written {
        fs::remove_file(&tmp).ok();
        return Err(e).with_context(|| format!("{}: cannot write", tmp.display()));
    }
    commit(&tmp, path)
}

/// Saves the weights of `net` to `path` (safetensors), atomically.
pub fn save_network(net: &Network, path: &Path) -> Result<()> {
    ensure_parent(path)?;
    let tmp = temp_sibling(path);
    if let Err(e) = net.vs.save(&tmp) {
        fs::remove_file(&tmp).ok();
        return Err(e).with_context(|| format!("{}: cannot save weights", path.display()));
    }
    commit(&tmp, path)
}

/// Loads a network saved by [`save_network`], recognising its architecture from its tensors.
pub fn load_network(path: &Path, device: Device) -> Result<Network> {
    let tensors = read_tensors(path)?;
    let kind = if tensors.contains_key("conv3.weight") {
        ModelKind::DeepCnn
    } else if tensors.contains_key("conv1.weight") {
        ModelKind::Cnn
    } else {
        ModelKind::Mlp
    };
    let mut net = Network::new(kind, 0.0, device);
    copy_into(&mut net, &tensors)
        .with_context(|| format!("{}: {}", path.display(), regenerate_hint(kind)))?;
    Ok(net)
}

/// How to make a missing or broken artifact of `kind` again.
pub fn regenerate_hint(kind: ModelKind) -> String {
    if kind == ModelKind::DeepCnn {
        return format!("run `./mnist train --model {kind}` to create it again");
    }
    format!("run notebooks/04_training.ipynb or `./mnist train --model {kind}` to create it again")
}

/// The named tensors of a safetensors file, with errors that say what to do.
fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        bail!(
            "{}: missing; run notebooks/04_training.ipynb or `./mnist train` first",
            path.display()
        );
    }
    let named = Tensor::read_safetensors(path).map_err(|e| {
        let first_line = e.to_string().lines().next().unwrap_or_default().to_string();
        anyhow::anyhow!(
            "{}: not a readable weights file ({first_line}); delete it and retrain",
            path.display()
        )
    })?;
    Ok(named.into_iter().collect())
}

/// Copies `tensors` into the variables of `net`, checking that names and shapes match.
fn copy_into(net: &mut Network, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let mut vars = net.vs.variables();
    for (name, var) in vars.iter_mut() {
        let src = tensors
            .get(name)
            .with_context(|| format!("tensor {name} is missing"))?;
        if src.size() != var.size() {
            bail!(
                "tensor {name} has shape {:?}, expected {:?}",
                src.size(),
                var.size()
            );
        }
        tch::no_grad(|| var.copy_(src));
    }
    Ok(())
}

/// Saves a training history as JSON, atomically.
pub fn save_history(history: &History, path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(history)?;
    write_atomic(path, &json)
}

/// Loads a training history saved by [`save_history`].
pub fn load_history(path: &Path) -> Result<History> {
    if !path.exists() {
        bail!(
            "{}: missing; run notebooks/04_training.ipynb or `./mnist train` first",
            path.display()
        );
    }
    let bytes = fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a valid history file ({e}); delete it and retrain",
            path.display()
        )
    })
}

/// Loads the weights and history of `kind` from `dir`, with one message if either is missing.
pub fn load_trained(dir: &Path, kind: ModelKind) -> Result<(Network, History)> {
    let net = load_network(&weights_path(dir, kind), Device::cuda_if_available())?;
    let history = load_history(&history_path(dir, kind))?;
    Ok((net, history))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.txt");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(
            fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn missing_and_corrupt_weights_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mlp.safetensors");
        let err = format!("{:#}", load_network(&path, Device::Cpu).unwrap_err());
        assert!(err.contains("missing") && err.contains("train"), "{err}");
        fs::write(&path, b"garbage").unwrap();
        let err = format!("{:#}", load_network(&path, Device::Cpu).unwrap_err());
        assert!(err.contains("not a readable weights file"), "{err}");
    }
}
