//! What training leaves for the later notebooks: weights (safetensors) and histories (JSON) under
//! `artifacts/`, written atomically, and read back into a [`Trained`] model.

use crate::atomic::{write_atomic, write_with};
use crate::display::shown;
use crate::history::History;
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// The artifacts directory: `$MNIST_ARTIFACTS` when set, else `artifacts/` in the project.
pub fn artifacts_dir() -> PathBuf {
    match std::env::var_os("MNIST_ARTIFACTS").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => crate::config::project_path("artifacts"),
    }
}

/// The weights file of model `name` in `dir`.
pub fn weights_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.safetensors"))
}

/// The history file of model `name` in `dir`.
pub fn history_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}_history.json"))
}

/// The one message for an artifact that is missing or unreadable.
fn missing(path: &Path, what: &str) -> String {
    format!(
        "{} is {what}: run 04_training.ipynb first (or `./mnist train`)",
        path.display()
    )
}

/// Saves the variables of `vs` to `path` (safetensors), atomically.
pub fn save_weights(vs: &nn::VarStore, path: &Path) -> Result<()> {
    write_with(path, |tmp| vs.save(tmp).map_err(Into::into))
}

/// Loads weights saved by [`save_weights`] into `vs`, checking every name and shape.
pub fn load_weights(vs: &mut nn::VarStore, path: &Path) -> Result<()> {
    copy_weights(vs, &read_weights(path)?, path)
}

/// The named tensors of a weights file; the error says what is wrong and what to do.
pub fn read_weights(path: &Path) -> Result<HashMap<String, Tensor>> {
    ensure!(path.exists(), missing(path, "missing"));
    let named = Tensor::read_safetensors(path).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_string();
        anyhow::anyhow!("{} ({first})", missing(path, "not a readable weights file"))
    })?;
    Ok(named.into_iter().collect())
}

/// Copies `named` (read from `path`) into the variables of `vs`, checking every name and shape.
pub fn copy_weights(
    vs: &mut nn::VarStore,
    named: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<()> {
    for (name, var) in vs.variables().iter_mut() {
        let src = named
            .get(name)
            .with_context(|| format!("{}: tensor {name} is missing", path.display()))?;
        ensure!(
            src.size() == var.size(),
            "{}: tensor {name} has shape {:?}, the model expects {:?}",
            path.display(),
            src.size(),
            var.size()
        );
        tch::no_grad(|| var.copy_(src));
    }
    Ok(())
}

/// Saves the weights in `vs` and the history of the run that trained them in `dir` (the
/// notebooks give [`artifacts_dir`]), under the run's name, and says where. A run that the stop
/// button ended never replaces a finished run of the same name: that is an error that says so.
pub fn save_model(dir: &Path, vs: &nn::VarStore, history: &History) -> Result<()> {
    shown(save_checked(dir, vs, history))
}

/// [`save_model`] without printing the error.
fn save_checked(dir: &Path, vs: &nn::VarStore, history: &History) -> Result<()> {
    let weights = weights_path(dir, &history.name);
    let history_file = history_path(dir, &history.name);
    let (done, planned) = (history.epochs.len(), history.config.epochs);
    let replaces_finished = || load_history(&history_file).is_ok_and(|h| h.finished());
    ensure!(
        history.finished() || !replaces_finished(),
        "{} was stopped after {done} of {planned} epochs and {} holds a finished run: not \
         replaced (to keep both, give the stopped run another name: history.name = ...)",
        history.name,
        history_file.display()
    );
    save_weights(vs, &weights)?;
    save_history(history, &history_file)?;
    println!(
        "saved {} ({done} epochs) to {} and {}",
        history.name,
        weights.display(),
        history_file.display()
    );
    Ok(())
}

/// Saves a training history as JSON, atomically.
pub fn save_history(history: &History, path: &Path) -> Result<()> {
    write_atomic(path, &serde_json::to_vec_pretty(history)?)
}

/// Loads a training history saved by [`save_history`].
pub fn load_history(path: &Path) -> Result<History> {
    ensure!(path.exists(), missing(path, "missing"));
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{} ({e})", missing(path, "not a valid history file")))
}

/// A trained network with its variables and history, as notebooks 05 and 06 use it. It is an
/// `nn::ModuleT` itself, so anything that takes a network takes it.
#[derive(Debug)]
pub struct Trained {
    /// The name its files are saved under ("mlp", "cnn", or a learner's own).
    pub name: String,
    /// Its variables (weights, biases, batch-norm statistics).
    pub vs: nn::VarStore,
    /// The network.
    pub net: Box<dyn AnyModule>,
    /// How training went, epoch by epoch.
    pub history: History,
}

impl ModuleT for Trained {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.net.forward_t(xs, train)
    }
}

/// A network that can also be seen as its own type (say, the [`crate::model::Cnn`] behind a
/// [`Trained`], for its hidden layer).
pub trait AnyModule: ModuleT {
    /// The network as `Any`, for `downcast_ref`.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<M: ModuleT + 'static> AnyModule for M {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Trained {
    /// The network as its own type `M`, when it is one.
    pub fn net_as<M: 'static>(&self) -> Option<&M> {
        self.net.as_any().downcast_ref::<M>()
    }

    /// Where its variables are: the device to give `evaluate_on` and the like.
    pub fn device(&self) -> tch::Device {
        self.vs.device()
    }

    /// Trainable parameters in total.
    pub fn param_count(&self) -> i64 {
        crate::tables::param_count(&self.vs)
    }
}

/// Model `name` as 04 saved it in `dir` (the notebooks give [`artifacts_dir`]), on
/// [`crate::device()`]: `build` makes the architecture (e.g. `mlp_model`); an error is also
/// printed on stdout (see [`shown`]).
pub fn load_trained<M: ModuleT + 'static>(
    dir: &Path,
    name: &str,
    build: impl FnOnce(&nn::Path) -> M,
) -> Result<Trained> {
    shown(load_from(dir, name, build, crate::device()))
}

/// [`load_trained`] with the variables on `device`; the [`Trained`] it gives knows it
/// ([`Trained::device`]). A device this machine does not have is an error, not a panic.
fn load_from<M: ModuleT + 'static>(
    dir: &Path,
    name: &str,
    build: impl FnOnce(&nn::Path) -> M,
    device: tch::Device,
) -> Result<Trained> {
    let mut vs = nn::VarStore::new(device);
    let net = crate::panics::quietly(|| Box::new(build(&vs.root()))).map_err(|text| {
        let reason = crate::panics::first_line(&text);
        anyhow::anyhow!("cannot build {name} on device {device:?}: {reason}")
    })?;
    load_weights(&mut vs, &weights_path(dir, name))?;
    let history = load_history(&history_path(dir, name))?;
    Ok(Trained {
        name: name.to_string(),
        vs,
        net,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mlp_model;

    #[test]
    fn missing_and_corrupt_weights_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = format!(
            "{:#}",
            load_trained(dir.path(), "mlp", mlp_model).unwrap_err()
        );
        assert!(
            err.contains("mlp.safetensors is missing: run 04_training.ipynb first"),
            "{err}"
        );
        std::fs::write(weights_path(dir.path(), "mlp"), b"garbage").unwrap();
        let err = format!(
            "{:#}",
            load_trained(dir.path(), "mlp", mlp_model).unwrap_err()
        );
        assert!(err.contains("not a readable weights file: run 04"), "{err}");
    }

    #[test]
    fn weights_of_another_model_name_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _cnn = crate::model::cnn_model(&vs.root());
        save_weights(&vs, &weights_path(dir.path(), "mlp")).unwrap();
        let err = format!(
            "{:#}",
            load_trained(dir.path(), "mlp", mlp_model).unwrap_err()
        );
        // The CNN's file has none of the MLP's tensors (fc1.*, fc2.*); whichever is looked up
        // first is named.
        let named = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
            .iter()
            .any(|t| err.contains(&format!("mlp.safetensors: tensor {t} is missing")));
        assert!(named, "{err}");
    }

    #[test]
    fn a_stopped_run_never_replaces_a_finished_one() {
        let dir = tempfile::tempdir().unwrap();
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _mlp = mlp_model(&vs.root());
        let config = crate::config::TrainConfig {
            epochs: 2,
            ..Default::default()
        };
        let stats = |epoch| crate::history::EpochStats {
            epoch,
            ..Default::default()
        };
        let mut history = History {
            name: "mlp".into(),
            config,
            epochs: vec![stats(1)],
        };
        save_model(dir.path(), &vs, &history).unwrap(); // stopped, nothing to replace: saved
        history.epochs.push(stats(2));
        save_model(dir.path(), &vs, &history).unwrap(); // finished: saved over the stopped one
        history.epochs.pop();
        let err = format!("{:#}", save_model(dir.path(), &vs, &history).unwrap_err());
        assert!(err.contains("stopped after 1 of 2 epochs"), "{err}");
        let kept = load_trained(dir.path(), "mlp", mlp_model).unwrap();
        assert_eq!(kept.history.epochs.len(), 2);
    }
}
