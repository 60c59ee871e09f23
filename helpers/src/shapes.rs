//! A learner's network that does not fit MNIST, explained in one line (which layer, what it
//! expects, what it gets) instead of a panic with libtorch's C++ frames.

use anyhow::{anyhow, bail, Result};
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

/// Runs `net` once on `images` ([batch, 1, 28, 28]) and checks that it gives ten scores per
/// image. `vs`, when given, lets the message name the layer that does not fit.
pub(crate) fn check_fits(
    net: &(impl ModuleT + ?Sized),
    vs: Option<&nn::VarStore>,
    images: &Tensor,
) -> Result<()> {
    let explained = |e: String| anyhow!(explain(&e, vs, images.device()));
    let logits = forward_quietly(net, images).map_err(explained)?;
    let size = logits.size(); // [batch, 10] when it fits
    if size.len() != 2 || size[1] != 10 {
        let layer = size
            .last()
            .and_then(|&out| layer_with(vs, |s| s.len() == 2 && s[0] == out))
            .map(|name| format!(" (layer `{name}`)"))
            .unwrap_or_default();
        bail!(
            "the network's output is {size:?} for {} images; MNIST needs [{}, 10], ten scores \
             per image (one per digit): give the last layer{layer} 10 outputs",
            images.size()[0],
            images.size()[0]
        );
    }
    Ok(())
}

/// `tensor` on `device`: an error in one line that names the device (libtorch's own reason)
/// instead of a panic, for a device this machine does not have.
pub fn to_device(tensor: &Tensor, device: Device) -> Result<Tensor> {
    tensor.f_to_device(device).map_err(|e| {
        let reason = crate::panics::first_line(&e.to_string());
        anyhow!("cannot put tensors on device {device:?}: {reason}")
    })
}

/// Whether a libtorch message is about tensors on different devices (not about shapes).
fn mentions_devices(message: &str) -> bool {
    ["same device", "two devices", "should be the same"]
        .iter()
        .any(|m| message.contains(m))
}

/// `net.forward_t(images, false)` without gradients; a libtorch error comes back as its first
/// line instead of a panic (and nothing is printed on stderr). The guard gives gradients back as
/// the panic unwinds (`tch::no_grad` would not: the kernel would train nothing afterwards).
fn forward_quietly(net: &(impl ModuleT + ?Sized), images: &Tensor) -> Result<Tensor, String> {
    crate::panics::quietly(|| {
        let _no_grad = tch::no_grad_guard();
        net.forward_t(images, false)
    })
    .map_err(|text| crate::panics::first_line(&text))
}

/// One line for a libtorch error: for a matrix product that does not fit, the layer by name with
/// the inputs it expects and the inputs it gets.
fn explain(message: &str, vs: Option<&nn::VarStore>, images: Device) -> String {
    if mentions_devices(message) {
        return format!(
            "the network's variables are not on {images:?}, where its images were sent: give \
             the function its own device (`vs.device()`, or a loaded model's `.device()`), \
             e.g. `evaluate_on(&net, &split, vs.device())`"
        );
    }
    let Some((got, expected, outputs)) = matmul_shapes(message) else {
        return format!("the network does not fit MNIST's [batch, 1, 28, 28] images: {message}");
    };
    let layer = layer_with(vs, |s| s == [outputs, expected])
        .map(|name| format!("layer `{name}`"))
        .unwrap_or_else(|| "a linear layer".to_string());
    format!(
        "{layer} expects {expected} inputs per image but gets {got}: make it \
         nn::linear(.., {got}, {outputs}, ..), or change the layer before it to give {expected}"
    )
}

/// (inputs given, inputs expected, outputs) from "mat1 and mat2 shapes cannot be multiplied
/// (AxB and CxD)".
fn matmul_shapes(message: &str) -> Option<(i64, i64, i64)> {
    let inner = message.split_once("cannot be multiplied (")?.1;
    let inner = inner.split(')').next()?;
    let (mat1, mat2) = inner.split_once(" and ")?;
    let dims = |m: &str| -> Option<(i64, i64)> {
        let (a, b) = m.split_once('x')?;
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    };
    let ((_, got), (expected, outputs)) = (dims(mat1)?, dims(mat2)?);
    Some((got, expected, outputs))
}

/// The layer (variable name without `.weight`) whose weight's shape satisfies `fits`.
fn layer_with(vs: Option<&nn::VarStore>, fits: impl Fn(&[i64]) -> bool) -> Option<String> {
    let mut names: Vec<(String, Tensor)> = vs?.variables().into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    names
        .into_iter()
        .find(|(name, t)| name.ends_with(".weight") && fits(&t.size()))
        .map(|(name, _)| name.trim_end_matches(".weight").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn images() -> Tensor {
        Tensor::rand([2, 1, 28, 28], (Kind::Float, Device::Cpu)) // [2, 1, 28, 28]
    }

    #[test]
    fn a_layer_with_the_wrong_inputs_is_named_in_one_line() {
        let vs = nn::VarStore::new(Device::Cpu);
        let p = vs.root();
        let net = nn::seq_t()
            .add_fn(|xs| xs.flatten(1, -1))
            .add(nn::linear(&p / "hidden", 100, 64, Default::default()))
            .add(nn::linear(&p / "out", 64, 10, Default::default()));
        let err = check_fits(&net, Some(&vs), &images())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("layer `hidden` expects 100 inputs per image but gets 784"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn a_wrong_number_of_outputs_names_the_last_layer() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = nn::seq_t().add_fn(|xs| xs.flatten(1, -1)).add(nn::linear(
            vs.root() / "last",
            784,
            7,
            Default::default(),
        ));
        let err = check_fits(&net, Some(&vs), &images())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[2, 7]") && err.contains("layer `last`"),
            "{err}"
        );
    }

    #[test]
    fn other_libtorch_errors_keep_only_their_first_line() {
        let vs = nn::VarStore::new(Device::Cpu);
        let conv = nn::conv2d(vs.root() / "c", 3, 8, 3, Default::default());
        let err = check_fits(&conv, Some(&vs), &images())
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 channels") && !err.contains('\n'), "{err}");
        assert!(!err.contains("Exception raised"), "{err}");
    }

    #[test]
    fn images_on_another_device_are_named_and_an_absent_device_is_an_error() {
        let message = "Expected all tensors to be on the same device, but found at least two \
                       devices, cuda:0 and cpu!";
        let err = explain(message, None, Device::Cuda(0));
        assert!(
            err.starts_with("the network's variables are not on Cuda(0)"),
            "{err}"
        );
        let err = to_device(&images(), Device::Mps).unwrap_err().to_string();
        assert!(err.starts_with("cannot put tensors on device Mps"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn a_fitting_network_passes() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = crate::model::mlp_model(&vs.root());
        check_fits(&net, Some(&vs), &images()).unwrap();
    }
}
