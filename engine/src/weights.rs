//! Saving and loading the engine's networks in the notebooks' file format, atomically. The
//! engine's MLP keeps its first layer input-major ([784, 128], `fc1.kernel`) for the sparse CPU
//! path; files hold it as the notebooks' `nn::linear` does (`fc1.weight`, [128, 784]), so that
//! either side reads what the other trained.

use crate::network::{ModelKind, Network};
use anyhow::{Context, Result};
use mnist_helpers::artifacts::{copy_weights, read_weights};
use mnist_helpers::atomic::write_with;
use std::path::Path;
use tch::{Device, Tensor};

/// The engine's name of the MLP's input-major first layer, and the file's name of its transpose.
const KERNEL: (&str, &str) = ("fc1.kernel", "fc1.weight");

/// Saves the weights of `net` to `path` (safetensors), atomically.
pub fn save_network(net: &Network, path: &Path) -> Result<()> {
    let named: Vec<(String, Tensor)> = net
        .vs
        .variables()
        .into_iter()
        .map(|(name, t)| match name == KERNEL.0 {
            true => (KERNEL.1.to_string(), t.detach().tr().contiguous()), // [128, 784]
            false => (name, t.detach()),
        })
        .collect();
    write_with(path, |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(Into::into)
    })
    .with_context(|| format!("{}: cannot save weights", path.display()))
}

/// Loads a network saved by [`save_network`] or by the notebooks, recognising its architecture
/// from its tensors.
pub fn load_network(path: &Path, device: Device) -> Result<Network> {
    let mut tensors = read_weights(path)?;
    let kind = if tensors.contains_key("conv3.weight") {
        ModelKind::DeepCnn
    } else if tensors.contains_key("conv1.weight") {
        ModelKind::Cnn
    } else {
        ModelKind::Mlp
    };
    if let Some(weight) = tensors.get(KERNEL.1).filter(|_| kind == ModelKind::Mlp) {
        let kernel = weight.tr(); // [784, 128]
        tensors.insert(KERNEL.0.to_string(), kernel);
    }
    let mut net = Network::new(kind, device);
    copy_weights(&mut net.vs, &tensors, path).with_context(|| {
        format!("not {kind} weights; run `./mnist train --model {kind}` to create them again")
    })?;
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mnist_helpers::model::mlp_model;
    use tch::nn::{self, ModuleT};

    #[test]
    fn missing_and_corrupt_weights_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mlp.safetensors");
        let err = format!("{:#}", load_network(&path, Device::Cpu).unwrap_err());
        assert!(err.contains("missing") && err.contains("train"), "{err}");
        std::fs::write(&path, b"garbage").unwrap();
        let err = format!("{:#}", load_network(&path, Device::Cpu).unwrap_err());
        assert!(err.contains("not a readable weights file"), "{err}");
    }

    #[test]
    fn the_notebooks_mlp_and_the_engines_read_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mlp.safetensors");
        let engine = Network::seeded(ModelKind::Mlp, Device::Cpu, 5);
        save_network(&engine, &path).unwrap();
        let mut vs = nn::VarStore::new(Device::Cpu);
        let notebook = mlp_model(&vs.root());
        mnist_helpers::artifacts::load_weights(&mut vs, &path).unwrap();
        let x = Tensor::rand([4, 1, 28, 28], (tch::Kind::Float, Device::Cpu)); // [4, 1, 28, 28]
        let want = engine.logits(&x); // [4, 10]
        let got = tch::no_grad(|| notebook.forward_t(&x, false));
        assert!(got.allclose(&want, 1e-4, 1e-5, false));
        let back = load_network(&path, Device::Cpu).unwrap();
        assert!(back.logits(&x).allclose(&want, 1e-5, 1e-6, false));
    }
}
