//! The crate's side of the draw-a-digit browser test (e2e/canvas_checks.mjs): reads JSON on
//! stdin, `{"inputs": [[784 floats], ...], "raw": {"width", "height", "pixels"} | null}`, and
//! prints `{"mlp": [[10]...], "cnn": [[10]...], "layout": [784] | null}`: the probabilities of
//! the trained models in `$MNIST_ARTIFACTS` (else artifacts/) for each input, and the raw drawing
//! prepared as `mnist predict` prepares a PNG.
//!
//! The models compute with the weights the page holds: every weight matrix and filter bank
//! rounded to int8 per row (explore/src/canvas.rs, `quantise`), biases and batch norm as trained.
//! `page_check --effect` prints instead what that rounding changes on the 10,000 test digits:
//! predictions that differ, the largest probability difference, and both accuracies.
//! Usage: page_check < request.json | page_check --effect

use anyhow::{ensure, Context, Result};
use mnist_engine::digit::{to_mnist_layout, GrayImage};
use mnist_helpers::artifacts::{artifacts_dir, load_trained, Trained};
use mnist_helpers::config::project_path;
use mnist_helpers::data::{load_split, DEFAULT_DATA_DIR};
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

/// Rounds `model`'s weights as the page holds them: each weight of two or more dimensions
/// ([rows, ...]: a unit's inputs or a filter per row) becomes `round(w / s) * s` with
/// `s = largest |w| of its row / 127`, the int8 values times their row's scale. The same
/// steps as explore/src/canvas.rs `quantise` (this crate does not depend on that one).
fn as_in_the_page(model: &Trained) {
    for (name, mut w) in model.vs.variables() {
        if !name.ends_with(".weight") || w.dim() < 2 {
            continue;
        }
        let rows = w.size()[0];
        let flat = w.to_kind(Kind::Float).reshape([rows, -1]); // [rows, cols]
        let scale = (flat.abs().amax([1i64].as_slice(), false) / 127.0).clamp_min(1e-12); // [rows]
        let q = (&flat / scale.unsqueeze(1)).round().clamp(-127, 127); // [rows, cols]
        let rounded = (q * scale.unsqueeze(1)).view_as(&w).to_kind(w.kind());
        tch::no_grad(|| w.copy_(&rounded));
    }
}

/// Both models as trained and as the page holds them, on the 10,000 test digits.
fn effect() -> Result<Value> {
    let dir = project_path(DEFAULT_DATA_DIR);
    let test = load_split(
        &dir.join("t10k-images-idx3-ubyte"),
        &dir.join("t10k-labels-idx1-ubyte"),
    )?;
    let labels = test.labels.to_device(tch::Device::Cpu);
    let mut report = json!({ "images": test.len() });
    for (name, model) in [
        ("mlp", load(mlp_model, "mlp")),
        ("cnn", load(cnn_model, "cnn")),
    ] {
        let model = model?;
        let probs = |m: &Trained| {
            let x = test.images.to_device(m.device());
            tch::no_grad(|| m.forward_t(&x, false))
                .softmax(-1, Kind::Float)
                .to_device(tch::Device::Cpu) // [n, 10]
        };
        let trained = probs(&model);
        as_in_the_page(&model);
        let page = probs(&model);
        let (a, b) = (trained.argmax(-1, false), page.argmax(-1, false)); // [n]
        let count = |t: Tensor| t.sum(Kind::Int64).int64_value(&[]);
        report[name] = json!({
            "changed_predictions": count(a.ne_tensor(&b)),
            "largest_probability_difference": (&trained - &page).abs().max().double_value(&[]),
            "mean_probability_difference": (&trained - &page).abs().mean(Kind::Float).double_value(&[]),
            "accuracy_trained": count(a.eq_tensor(&labels)) as f64 / test.len() as f64,
            "accuracy_page": count(b.eq_tensor(&labels)) as f64 / test.len() as f64,
        });
    }
    Ok(report)
}

/// Model `name` from the artifacts folder.
fn load<M: ModuleT + 'static>(build: fn(&tch::nn::Path) -> M, name: &str) -> Result<Trained> {
    load_trained(&artifacts_dir(), name, build)
}

fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--effect") {
        println!("{}", serde_json::to_string_pretty(&effect()?)?);
        return Ok(());
    }
    let request: Value = serde_json::from_reader(std::io::stdin()).context("request JSON")?;
    let inputs: Vec<Vec<f32>> = serde_json::from_value(request["inputs"].clone())?;
    ensure!(
        inputs.iter().all(|i| i.len() == 784),
        "every input needs 784 pixels"
    );
    let (mlp, cnn) = (load(mlp_model, "mlp")?, load(cnn_model, "cnn")?);
    as_in_the_page(&mlp);
    as_in_the_page(&cnn);
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
