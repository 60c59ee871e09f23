//! The crate's side of the draw-a-digit browser test (e2e/canvas_checks.mjs): reads JSON on
//! stdin, `{"inputs": [[784 floats], ...], "raw": {"width", "height", "pixels"} | null}`, and
//! prints `{"mlp": [[10]...], "cnn": [[10]...], "layout": [784] | null}`: the probabilities of
//! the trained models in `$MNIST_ARTIFACTS` (else artifacts/) for each input, and the raw drawing
//! prepared as `mnist predict` prepares a PNG.
//! Usage: page_check < request.json

use anyhow::{ensure, Context, Result};
use mnist_engine::digit::{to_mnist_layout, GrayImage};
use mnist_helpers::artifacts::{artifacts_dir, load_trained};
use mnist_helpers::model::{cnn_model, mlp_model};
use serde_json::{json, Value};
use tch::nn::ModuleT;
use tch::{Kind, Tensor};

/// Softmax probabilities of `net` for each 784-pixel input.
fn probabilities(net: &dyn ModuleT, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
    let flat: Vec<f32> = inputs.concat();
    let x = Tensor::from_slice(&flat).view([-1, 1, 28, 28]); // [n, 1, 28, 28]
    let probs = tch::no_grad(|| net.forward_t(&x, false)).softmax(-1, Kind::Float); // [n, 10]
    Ok(Vec::<Vec<f32>>::try_from(&probs)?)
}

fn main() -> Result<()> {
    let request: Value = serde_json::from_reader(std::io::stdin()).context("request JSON")?;
    let inputs: Vec<Vec<f32>> = serde_json::from_value(request["inputs"].clone())?;
    ensure!(
        inputs.iter().all(|i| i.len() == 784),
        "every input needs 784 pixels"
    );
    let dir = artifacts_dir();
    let mlp = load_trained(&dir, "mlp", mlp_model)?;
    let cnn = load_trained(&dir, "cnn", cnn_model)?;
    let layout = match &request["raw"] {
        Value::Null => None,
        raw => Some(to_mnist_layout(&GrayImage {
            width: raw["width"].as_u64().context("raw.width")? as usize,
            height: raw["height"].as_u64().context("raw.height")? as usize,
            pixels: serde_json::from_value(raw["pixels"].clone())?,
        })),
    };
    let answer = json!({
        "mlp": if inputs.is_empty() { vec![] } else { probabilities(&mlp, &inputs)? },
        "cnn": if inputs.is_empty() { vec![] } else { probabilities(&cnn, &inputs)? },
        "layout": layout,
    });
    println!("{answer}");
    Ok(())
}
