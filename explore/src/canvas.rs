//! The draw-a-digit page: a canvas whose drawing both networks classify while it is drawn. The
//! inference runs in the page's JavaScript (`draw_digit.html`) from the trained weights written
//! into the page, so it needs no server and works in an HTML file opened from disk.
//!
//! The weight matrices travel as int8, one f32 scale per row (an output unit, or a filter):
//! 0.2 MB of base64 instead of 0.8 MB of f32. [`as_in_the_page`] is that rounding; the page's
//! probabilities equal libtorch's for the rounded weights (e2e/canvas_checks.mjs, whose crate
//! side, engine/examples/page_check.rs, rounds the same way and also measures what the rounding
//! changes on the test digits).

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
        "w1": encode_int8(&w1, None)?,
        "b1": encode(&variable(mlp, "fc1.bias", &[hidden])?)?,
        "w2": encode_int8(&variable(mlp, "fc2.weight", &[10, hidden])?, None)?,
        "b2": encode(&variable(mlp, "fc2.bias", &[10])?)?,
    }))
}

/// The CNN's two convolutions with their batch normalisation folded in (a weight and a bias
/// each: the filters are rounded to int8 before batch norm's factor joins their scales), and its
/// dense layer.
fn cnn_weights(cnn: &Trained) -> Result<Value> {
    let conv = |name: &str, bn: &str, shape: &[i64]| -> Result<Value> {
        let w = variable(cnn, &format!("{name}.weight"), shape)?; // [out, in, k, k]
        let filters = shape[0];
        let bn_var = |v: &str| variable(cnn, &format!("{bn}.{v}"), &[filters]);
        let scale = bn_var("weight")? / (bn_var("running_var")? + BN_EPS).sqrt(); // [out]
        let bias = bn_var("bias")? - bn_var("running_mean")? * &scale; // [out]
        Ok(json!({
            "w": encode_int8(&w, Some(&scale))?,
            "b": encode(&bias)?,
            "shape": shape,
        }))
    };
    Ok(json!({
        "conv1": conv("conv1", "bn1", &[32, 1, 5, 5])?,
        "conv2": conv("conv2", "bn2", &[64, 32, 3, 3])?,
        "fc": { "w": encode_int8(&variable(cnn, "fc.weight", &[10, 3136])?, None)?,
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

/// Weight `w` ([rows, ...]) rounded to int8 per row: `(q, scale)`, whole numbers in [-127, 127]
/// shaped like `w` and one scale per row ([rows]), the row's largest magnitude / 127, so that
/// `q * scale` is the weight the page computes with. engine/examples/page_check.rs rounds the
/// same way (the e2e check fails if the two differ).
pub fn quantise(w: &Tensor) -> (Tensor, Tensor) {
    let rows = w.size()[0];
    let flat = w.reshape([rows, -1]); // [rows, cols]
    let scale = (flat.abs().amax([1i64].as_slice(), false) / 127.0).clamp_min(1e-12); // [rows]
    let q = (&flat / scale.unsqueeze(1)).round().clamp(-127, 127); // [rows, cols]
    (q.view_as(w), scale)
}

/// Weight `w` as the page holds it: int8 per row times the row's scale ([`quantise`]).
pub fn as_in_the_page(w: &Tensor) -> Tensor {
    let (q, scale) = quantise(w);
    let rows = scale.size()[0];
    (q.reshape([rows, -1]) * scale.unsqueeze(1)).view_as(w)
}

/// Weight `w` for the page: `{"q": base64 of int8 bytes, row by row, "scale": base64 of one f32
/// per row}`; the scales times `factor` ([rows]) when there is one (folded batch norm).
fn encode_int8(w: &Tensor, factor: Option<&Tensor>) -> Result<Value> {
    let (q, scale) = quantise(w);
    let scale = match factor {
        Some(f) => scale * f,
        None => scale,
    };
    let q = Vec::<i8>::try_from(&q.to_kind(Kind::Int8).flatten(0, -1).contiguous())?;
    let bytes: Vec<u8> = q.iter().map(|&v| v as u8).collect();
    Ok(json!({
        "q": base64::engine::general_purpose::STANDARD.encode(bytes),
        "scale": encode(&scale)?,
    }))
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
        // 152,224 int8 weights, 244 biases and 244 scales as f32, base64: about 0.21 MB.
        assert!(a.len() > 200_000 && a.len() < 240_000, "{}", a.len());
    }

    #[test]
    fn int8_rows_stay_within_half_a_step_and_keep_each_rows_largest() {
        let w = Tensor::randn([6, 2, 3, 3], (Kind::Float, Device::Cpu)); // [6, 18] as rows
        let _ = w.get(2).zero_(); // a row of zeros stays zeros
        let (q, scale) = quantise(&w);
        assert_eq!(q.size(), w.size());
        assert_eq!(scale.size(), [6]);
        let ints = Vec::<f32>::try_from(&q.flatten(0, -1)).unwrap();
        assert!(ints.iter().all(|v| v.fract() == 0.0 && v.abs() <= 127.0));
        let largest =
            Vec::<f32>::try_from(&q.reshape([6, -1]).abs().amax([1i64].as_slice(), false)).unwrap();
        assert_eq!(largest, [127.0, 127.0, 0.0, 127.0, 127.0, 127.0]);
        let error = (as_in_the_page(&w) - &w).abs().reshape([6, -1]); // [6, 18]
        let half_step = (&scale / 2.0 * (1.0 + 1e-6)).unsqueeze(1); // [6, 1]
        assert!(bool::try_from(error.le_tensor(&half_step).all()).unwrap());
    }

    #[test]
    fn the_page_gets_the_int8_weights_and_scales_that_make_its_weights() {
        let mlp = trained("mlp", mlp_model);
        let weights = mlp_weights(&mlp).unwrap();
        let b64 = |v: &Value| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap()
        };
        let q = b64(&weights["w2"]["q"]);
        let scale: Vec<f32> = b64(&weights["w2"]["scale"])
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!((q.len(), scale.len()), (1280, 10));
        // What the page decodes: q as i8 times its row's scale, in f32.
        let decoded: Vec<f32> = q
            .iter()
            .enumerate()
            .map(|(i, &b)| b as i8 as f32 * scale[i / 128])
            .collect();
        let expected = as_in_the_page(&variable(&mlp, "fc2.weight", &[10, 128]).unwrap());
        assert_eq!(
            decoded,
            Vec::<f32>::try_from(&expected.flatten(0, -1)).unwrap()
        );
    }

    #[test]
    fn the_wrong_models_are_refused_by_name() {
        let cnn = trained("cnn", cnn_model);
        let err = draw_a_digit(&cnn, &cnn).unwrap_err().to_string();
        assert!(err.contains("has no `fc1.weight`"), "{err}");
    }
}
