//! One call per notebook step: each returns something evcxr shows inline (a [`Png`] or an
//! [`Html`] table) or the value the next step needs. The notebooks stay a few lines per cell.

use crate::artifacts::Trained;
use crate::atomic::write_atomic;
use crate::checksum::verify;
use crate::config::{project_path, TrainConfig};
use crate::data::{load_mnist, load_raw_mnist, Mnist, RawMnist, Split, DEFAULT_DATA_DIR, LABELS};
use crate::display::{shown, Html, Png};
use crate::history::{EpochStats, History};
use crate::lesson::mistakes_grid;
use crate::metrics::{confused_pairs_dataframe, per_class_dataframe, Predictions};
use crate::plot::{
    bar_chart, digit_grid, heatmap, histogram, line_chart, line_chart_pair, LineChart, Series,
};
use crate::tables::{html_table, key_value_table, model_summary};
use crate::{env_info, rng};
use anyhow::Result;
use polars::prelude::*;
use std::path::Path;
use tch::nn;
use tch::{Device, Tensor};

/// Reads one number out of an epoch's statistics.
type Metric = fn(&EpochStats) -> f64;

/// Checks that libtorch answers and prints one status line (versions, device, threads, and
/// whether subnormal floats are flushed). Called by every notebook's setup cell (its `?` also
/// switches on evcxr's support for `?` in the cells that follow).
pub fn ready() -> Result<()> {
    let info = env_info::collect();
    anyhow::ensure!(info.threads > 0, "libtorch did not start");
    println!(
        "mnist_helpers ready: libtorch {}, {}, {} threads; {}",
        info.libtorch_version,
        info.device,
        info.threads,
        crate::subnormals::status()
    );
    Ok(())
}

/// The environment as a table: versions, device, threads, seed, data location.
pub fn environment() -> Result<Html> {
    let mut rows = env_info::collect().rows();
    rows.push(("seed".into(), TrainConfig::default().seed.to_string()));
    rows.push((
        "data".into(),
        project_path(DEFAULT_DATA_DIR).display().to_string(),
    ));
    Ok(html_table(&key_value_table(&rows)?, "Environment"))
}

/// Verifies the MNIST files against their MD5s and loads them.
pub fn load_data() -> Result<Mnist> {
    let dir = project_path(DEFAULT_DATA_DIR);
    shown(verify(&dir))?;
    let data = shown(load_mnist(&dir))?;
    println!(
        "MNIST verified and loaded: {} training and {} test images",
        data.train.len(),
        data.test.len()
    );
    Ok(data)
}

/// Verifies the MNIST files against their MD5s and hands their bytes, as notebook 02 prepares
/// them; [`load_data`] does the same preparation in one call.
pub fn load_raw() -> Result<RawMnist> {
    let dir = project_path(DEFAULT_DATA_DIR);
    shown(verify(&dir))?;
    let raw = shown(load_raw_mnist(&dir))?;
    println!("MNIST verified: four files, their bytes loaded");
    Ok(raw)
}

/// The first `n` images of a split with their labels.
pub fn sample_grid(split: &Split, n: usize) -> Result<Png> {
    let n = n.min(split.len());
    let images: Vec<Vec<f32>> = (0..n).map(|i| split.pixels(i)).collect::<Result<_>>()?;
    let captions: Vec<String> = (0..n)
        .map(|i| Ok(format!("label {}", split.label(i)?)))
        .collect::<Result<_>>()?;
    digit_grid(&format!("The first {n} digits"), &images, &captions, 8)
}

/// The pixel values of the first 1,000 images of a split (after normalisation).
pub fn pixel_histogram(split: &Split) -> Result<Png> {
    let n = 1000.min(split.len() as i64);
    let first = split.images.narrow(0, 0, n).flatten(0, -1); // [n * 784]
    let values = Vec::<f32>::try_from(&first)?;
    histogram(
        &format!("Pixel intensities (first {n} images)"),
        "pixel value",
        &values,
        (0.0, 1.0),
        32,
    )
}

/// Keras-style summary of the network whose variables are in `vs`.
pub fn summary(vs: &nn::VarStore, title: &str) -> Result<Html> {
    Ok(html_table(&model_summary(vs)?, &format!("{title} summary")))
}

/// The first `n` images of `split` and their labels, on `device` (a network's `vs.device()`): one
/// mini-batch (all of the split's images when it has fewer, none for `n` below 1).
pub fn first_batch(split: &Split, n: i64, device: Device) -> (Tensor, Tensor) {
    let n = n.clamp(0, split.len() as i64);
    (
        split.images.narrow(0, 0, n).to_device(device), // [n, 1, 28, 28]
        split.labels.narrow(0, 0, n).to_device(device), // [n]
    )
}

/// The history as a table.
pub fn history_table(history: &History) -> Result<Html> {
    Ok(html_table(
        &history.to_dataframe()?,
        &format!("{} training history", history.name),
    ))
}

/// One metric per epoch for each (name, history) pair.
fn metric_series(histories: &[(&str, &History)], metric: fn(&EpochStats) -> f64) -> Vec<Series> {
    histories
        .iter()
        .map(|(name, h)| {
            Series::new(
                *name,
                h.epochs
                    .iter()
                    .map(|e| (e.epoch as f64, metric(e)))
                    .collect(),
            )
        })
        .collect()
}

/// Train and validation curves of one metric, as a chart description.
fn curves_chart<'a>(
    h: &History,
    title: &'a str,
    y_label: &'a str,
    train: Metric,
    val: Metric,
) -> LineChart<'a> {
    let mut series = metric_series(&[("train", h)], train);
    series.extend(metric_series(&[("validation", h)], val));
    LineChart {
        title,
        x_label: "epoch",
        y_label,
        series,
    }
}

/// Loss and accuracy curves side by side in one figure.
pub fn training_curves(h: &History) -> Result<Png> {
    anyhow::ensure!(
        !h.epochs.is_empty(),
        "{} has no completed epoch to plot (its run was stopped in the first epoch)",
        h.name
    );
    let (loss_title, acc_title) = (format!("{} loss", h.name), format!("{} accuracy", h.name));
    let loss = curves_chart(
        h,
        &loss_title,
        "cross-entropy",
        |e| e.train_loss,
        |e| e.val_loss,
    );
    let accuracy = |e: &EpochStats| e.train_accuracy;
    let val_accuracy = |e: &EpochStats| e.val_accuracy;
    line_chart_pair(
        &loss,
        &curves_chart(h, &acc_title, "accuracy (%)", accuracy, val_accuracy),
    )
}

/// The validation accuracy of several models per epoch, on one chart.
pub fn compare_curves(histories: &[&History]) -> Result<Png> {
    let named: Vec<(String, &History)> =
        histories.iter().map(|h| (h.name.to_string(), *h)).collect();
    let pairs: Vec<(&str, &History)> = named.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    line_chart(
        "Validation accuracy by model",
        "epoch",
        "accuracy (%)",
        &metric_series(&pairs, |e| e.val_accuracy),
    )
}

/// Precision, recall, F1 and support per digit.
pub fn per_class_table(p: &Predictions) -> Result<Html> {
    Ok(html_table(
        &per_class_dataframe(&p.confusion_matrix().per_class())?,
        "Per-class scores",
    ))
}

/// Side-by-side comparison of trained models: parameters, test accuracy, errors, training time.
pub fn comparison_table(models: &[(&Trained, &Predictions)]) -> Result<Html> {
    let df = df!(
        "model" => models.iter().map(|m| m.0.name.clone()).collect::<Vec<_>>(),
        "parameters" => models.iter().map(|m| m.0.param_count()).collect::<Vec<_>>(),
        "test accuracy (%)" => models.iter().map(|m| m.1.accuracy()).collect::<Vec<_>>(),
        "test errors" => models.iter().map(|m| m.1.misclassified().len() as u64).collect::<Vec<_>>(),
        "epochs" => models.iter().map(|m| m.0.history.epochs.len() as u64).collect::<Vec<_>>(),
        "training seconds" => models.iter().map(|m| m.0.history.train_seconds()).collect::<Vec<_>>(),
    )?;
    Ok(html_table(&df, "Model comparison"))
}

/// Writes the test accuracies to `evaluation.json` in `dir` ([`artifacts_dir`]) for the report.
pub fn save_evaluation(dir: &Path, models: &[(&Trained, &Predictions)]) -> Result<()> {
    let map: serde_json::Map<String, serde_json::Value> = models
        .iter()
        .map(|(t, p)| {
            let value = serde_json::json!({"test_accuracy": p.accuracy()});
            (t.name.clone(), value)
        })
        .collect();
    shown(write_atomic(
        &dir.join("evaluation.json"),
        &serde_json::to_vec_pretty(&map)?,
    ))
}

/// The confusion matrix as a heatmap.
pub fn confusion_heatmap(p: &Predictions, name: &str) -> Result<Png> {
    let counts: Vec<Vec<u64>> = p
        .confusion_matrix()
        .counts
        .iter()
        .map(|r| r.to_vec())
        .collect();
    heatmap(
        &format!("{name} confusion matrix (test set)"),
        "predicted digit",
        "true digit",
        &counts,
    )
}

/// The `n` most confident mistakes, titled "pred X / true Y (p=0.93)".
pub fn misclassified_grid(p: &Predictions, test: &Split, n: usize) -> Result<Png> {
    let wrong: Vec<i64> = p
        .misclassified()
        .iter()
        .take(n)
        .map(|m| m.index as i64)
        .collect();
    anyhow::ensure!(!wrong.is_empty(), "no misclassified test images to show");
    mistakes_grid(p, test, &Tensor::from_slice(&wrong))
}

/// The `k` most frequent (true, predicted) mistakes.
pub fn confused_pairs_table(p: &Predictions, k: usize) -> Result<Html> {
    Ok(html_table(
        &confused_pairs_dataframe(&p.confusion_matrix().most_confused(k))?,
        "Most-confused pairs",
    ))
}

/// `n` test digits picked by `seed`, with their images.
pub fn pick_examples(test: &Split, n: usize, seed: u64) -> Vec<usize> {
    rng::permutation(test.len(), seed)[..n.min(test.len())].to_vec()
}

/// The chosen test digits as images, captioned with their true labels.
pub fn example_digits(test: &Split, indices: &[usize]) -> Result<Png> {
    let images: Vec<Vec<f32>> = indices
        .iter()
        .map(|&i| test.pixels(i))
        .collect::<Result<_>>()?;
    let captions: Vec<String> = indices
        .iter()
        .map(|&i| Ok(format!("#{i}: true {}", test.label(i)?)))
        .collect::<Result<_>>()?;
    digit_grid("Test digits", &images, &captions, indices.len().max(1))
}

/// The predicted probability of each digit for the chosen test digits, one bar group per digit.
pub fn probability_chart(p: &Predictions, indices: &[usize]) -> Result<Png> {
    let digits: Vec<String> = (0..LABELS).map(|d| d.to_string()).collect();
    let groups: Vec<(String, Vec<f64>)> = indices
        .iter()
        .map(|&i| {
            let probabilities = p.probabilities_of(i)?.iter().map(|&v| v as f64).collect();
            Ok((format!("#{i} (true {})", p.labels[i]), probabilities))
        })
        .collect::<Result<_>>()?;
    bar_chart(
        "Predicted probabilities",
        "digit",
        "probability",
        &digits,
        &groups,
    )
}
