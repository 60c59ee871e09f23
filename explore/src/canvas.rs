//! The draw-a-digit page: a canvas whose drawing both networks classify while it is drawn. The
//! inference runs in the page's JavaScript (`draw_digit.html`) from the trained weights written
//! into the page, so it needs no server and works in an HTML file opened from disk.

use anyhow::{ensure, Context, Result};
use base64::Engine;
use mnist_helpers::artifacts::Trained;
use mnist_helpers::display::Html;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use tch::{Device, Kind, Tensor};

/// The page's markup, style and script, with `__ID__` and `__WEIGHTS__` to fill in.
const TEMPLATE: &str = include_str!("draw_digit.html");
/// Batch normalisation's epsilon (tch's default, which the CNN uses).
const BN_EPS: f64 = 1e-5;

/// The canvas, the 28x28 input it makes, and ten probability bars for each model.
pub fn draw_a_digit(mlp: &Trained, cnn: &Trained) -> Result<Html> {
    let weights = json!({ "mlp": mlp_weights(mlp)?, "cnn": cnn_weights(cnn)? });
    static PAGES: AtomicUsize = AtomicUsize::new(0);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let id = format!(
        "mnist-draw-{stamp}-{}",
        PAGES.fetch_add(1, Ordering::Relaxed)
    );
    Ok(Html(
        TEMPLATE
            .replace("__ID__", &id)
            .replace("__WEIGHTS__", &weights.to_string()),
    ))
}

/// The MLP's two layers: `fc1` [hidden, 784] and `fc2` [10, hidden] with their biases.
fn mlp_weights(mlp: &Trained) -> Result<Value> {
    let w1 = variable(mlp, "fc1.weight", &[-1, 784])?;
    let hidden = w1.size()[0];
    Ok(json!({
        "hidden": hidden,
        "w1": encode(&w1)?,
        "b1": encode(&variable(mlp, "fc1.bias", &[hidden])?)?,
        "w2": encode(&variable(mlp, "fc2.weight", &[10, hidden])?)?,
        "b2": encode(&variable(mlp, "fc2.bias", &[10])?)?,
    }))
}

/// The CNN's two convolutions with their batch normalisation folded in (a weight and a bias
/// each), and its dense layer.
fn cnn_weights(cnn: &Trained) -> Result<Value> {
    let conv = |name: &str, bn: &str, shape: &[i64]| -> Result<Value> {
        let w = variable(cnn, &format!("{name}.weight"), shape)?; // [out, in, k, k]
        let filters = shape[0];
        let bn_var = |v: &str| variable(cnn, &format!("{bn}.{v}"), &[filters]);
        let scale = bn_var("weight")? / (bn_var("running_var")? + BN_EPS).sqrt(); // [out]
        let bias = bn_var("bias")? - bn_var("running_mean")? * &scale; // [out]
        Ok(json!({
            "w": encode(&(w * scale.view([-1, 1, 1, 1])))?,
            "b": encode(&bias)?,
            "shape": shape,
        }))
    };
    Ok(json!({
        "conv1": conv("conv1", "bn1", &[32, 1, 5, 5])?,
        "conv2": conv("conv2", "bn2", &[64, 32, 3, 3])?,
        "fc": { "w": encode(&variable(cnn, "fc.weight", &[10, 3136])?)?,
                "b": encode(&variable(cnn, "fc.bias", &[10])?)? },
    }))
}

/// Variable `name` of `model` as f32 on the CPU, checked against `shape` (-1: any size).
fn variable(model: &Trained, name: &str, shape: &[i64]) -> Result<Tensor> {
    let vars = model.vs.variables();
    let t = vars.get(name).with_context(|| {
        format!(
            "{}: draw_a_digit needs the course's MLP and CNN; this model has no `{name}`",
            model.name
        )
    })?;
    let size = t.size();
    let fits = size.len() == shape.len() && size.iter().zip(shape).all(|(a, b)| *b < 0 || a == b);
    ensure!(
        fits,
        "{}: `{name}` is {size:?}, draw_a_digit expects {shape:?}",
        model.name
    );
    Ok(t.detach().to_device(Device::Cpu).to_kind(Kind::Float))
}

/// A tensor's values as base64 of little-endian f32 bytes (what the page's `Float32Array` reads).
fn encode(t: &Tensor) -> Result<String> {
    let values = Vec::<f32>::try_from(&t.flatten(0, -1).contiguous())?;
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mnist_helpers::history::History;
    use mnist_helpers::model::{cnn_model, mlp_model};
    use tch::nn;

    fn trained<M: nn::ModuleT + 'static>(name: &str, build: fn(&nn::Path) -> M) -> Trained {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Box::new(build(&vs.root()));
        let history = History {
            name: name.into(),
            config: Default::default(),
            epochs: vec![],
        };
        Trained {
            name: name.into(),
            vs,
            net,
            history,
        }
    }

    #[test]
    fn the_page_carries_both_models_and_a_fresh_id() {
        let (mlp, cnn) = (trained("mlp", mlp_model), trained("cnn", cnn_model));
        let a = draw_a_digit(&mlp, &cnn).unwrap().0;
        let b = draw_a_digit(&mlp, &cnn).unwrap().0;
        assert!(!a.contains("__ID__") && !a.contains("__WEIGHTS__"));
        assert!(a.contains("<canvas") && a.contains("\"conv2\""));
        assert_ne!(a, b, "two pages on one notebook page need their own ids");
        // 101,770 + 50,794 floats (less the folded batch norms), base64: about 0.8 MB.
        assert!(a.len() > 750_000 && a.len() < 900_000, "{}", a.len());
    }

    #[test]
    fn the_wrong_models_are_refused_by_name() {
        let cnn = trained("cnn", cnn_model);
        let err = draw_a_digit(&cnn, &cnn).unwrap_err().to_string();
        assert!(err.contains("has no `fc1.weight`"), "{err}");
    }
}
