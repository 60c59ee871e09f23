//! One call per notebook step: each returns something evcxr shows inline (a [`Png`] or an
//! [`Html`] table) or the value the next step needs. The notebooks stay a few lines per cell.

use crate::artifacts;
use crate::config::{project_path, TrainConfig};
use crate::data::{load_mnist, Mnist, Split, DEFAULT_DATA_DIR, IMAGE_PIXELS, LABELS};
use crate::display::{Html, Png};
use crate::fetch::verify;
use crate::metrics::{confused_pairs_dataframe, per_class_dataframe, predict, Predictions};
use crate::model::{ModelKind, Network};
use crate::plot::{
    bar_chart, draw_chart, heatmap, histogram, image_grid, line_chart, line_chart_pair, ColorMap,
    LineChart, Series,
};
use crate::tables::{html_table, key_value_table, model_summary};
use crate::train::{EpochStats, History};

/// Reads one number out of an epoch's statistics.
type Metric = fn(&EpochStats) -> f64;
use crate::{env_info, recipe, rng};
use anyhow::Result;
use polars::prelude::*;
use tch::{Device, Kind, Tensor};

/// Checks that libtorch answers and prints one status line. Called by every notebook's setup
/// cell (its `?` also switches on evcxr's support for `?` in the cells that follow).
pub fn ready() -> Result<()> {
    let info = env_info::collect();
    anyhow::ensure!(info.threads > 0, "libtorch did not start");
    println!(
        "mnist_helpers ready: libtorch {}, {}, {} threads",
        info.libtorch_version, info.device, info.threads
    );
    Ok(())
}

/// The environment as a table: versions, device, threads, seed, data location.
pub fn environment() -> Result<Html> {
    let mut rows = env_info::collect().rows();
    rows.push((
        "seed".into(),
        TrainConfig::for_model(ModelKind::Mlp).seed.to_string(),
    ));
    rows.push((
        "data".into(),
        project_path(DEFAULT_DATA_DIR).display().to_string(),
    ));
    Ok(html_table(&key_value_table(&rows)?, "Environment"))
}

/// `result`, with its error also printed on stdout. evcxr forwards the error of a cell's `?` from
/// stderr on a separate thread, which can arrive after the cell has finished and be dropped;
/// stdout reaches the cell in order. Used by the steps that read or write files.
fn shown<T>(result: Result<T>) -> Result<T> {
    if let Err(e) = &result {
        println!("Error: {e:#}");
    }
    result
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

/// Shapes and dtypes of the four tensors.
pub fn shapes_table(data: &Mnist) -> Result<Html> {
    let tensors = [
        ("train images", &data.train.images),
        ("train labels", &data.train.labels),
        ("test images", &data.test.images),
        ("test labels", &data.test.labels),
    ];
    let df = df!(
        "tensor" => tensors.iter().map(|t| t.0).collect::<Vec<_>>(),
        "shape" => tensors.iter().map(|t| format!("{:?}", t.1.size())).collect::<Vec<_>>(),
        "dtype" => tensors.iter().map(|t| format!("{:?}", t.1.kind())).collect::<Vec<_>>(),
    )?;
    Ok(html_table(&df, "Tensors"))
}

/// The first `n` images of a split with their labels.
pub fn sample_grid(split: &Split, n: usize) -> Result<Png> {
    let n = n.min(split.len());
    let images: Vec<Vec<f32>> = (0..n).map(|i| split.pixels(i)).collect();
    let captions: Vec<String> = (0..n)
        .map(|i| format!("label {}", split.label(i)))
        .collect();
    image_grid(
        "Sample training digits",
        &images,
        &captions,
        8,
        ColorMap::Gray,
    )
}

/// Images per digit in the training and test sets, as grouped bars.
pub fn class_count_chart(data: &Mnist) -> Result<Png> {
    let digits: Vec<String> = (0..LABELS).map(|d| d.to_string()).collect();
    let counts = |s: &Split| {
        s.class_counts()
            .iter()
            .map(|&c| c as f64)
            .collect::<Vec<_>>()
    };
    let groups = [
        ("train".to_string(), counts(&data.train)),
        ("test".to_string(), counts(&data.test)),
    ];
    bar_chart("Images per digit", "digit", "images", &digits, &groups)
}

/// The pixel values of the first 1,000 images of a split (after normalisation).
pub fn pixel_histogram(split: &Split) -> Result<Png> {
    let first = split
        .images
        .narrow(0, 0, 1000.min(split.len() as i64))
        .flatten(0, -1); // [n * 784]
    let values = Vec::<f32>::try_from(&first)?;
    histogram(
        "Pixel intensities (first 1,000 training images)",
        "pixel value",
        &values,
        (0.0, 1.0),
        32,
    )
}

/// The average image of each digit.
pub fn mean_digits(split: &Split) -> Result<Png> {
    let mut images = Vec::new();
    for d in 0..LABELS {
        let mask = split.labels.eq(d); // [n]
        let mean = split
            .images
            .index(&[Some(mask)])
            .mean_dim(0, false, Kind::Float); // [1, 28, 28]
        images.push(Vec::<f32>::try_from(&mean.flatten(0, -1))?);
    }
    let captions: Vec<String> = (0..LABELS).map(|d| format!("mean {d}")).collect();
    image_grid(
        "Mean image of each digit",
        &images,
        &captions,
        5,
        ColorMap::Gray,
    )
}

/// Pixel statistics before (bytes 0-255) and after (floats 0-1) normalisation.
pub fn normalisation_table(split: &Split) -> Result<Html> {
    let after = &split.images;
    let before = (after * 255.0).round().to_kind(Kind::Uint8);
    let stats = |t: &Tensor| {
        let f = t.to_kind(Kind::Double);
        [
            f.min().double_value(&[]),
            f.max().double_value(&[]),
            f.mean(Kind::Double).double_value(&[]),
            f.std(true).double_value(&[]),
        ]
    };
    let (b, a) = (stats(&before), stats(after));
    let df = df!(
        "" => ["before (raw bytes)", "after (divided by 255)"],
        "dtype" => [format!("{:?}", before.kind()), format!("{:?}", after.kind())],
        "min" => [b[0], a[0]], "max" => [b[1], a[1]], "mean" => [b[2], a[2]], "std" => [b[3], a[3]],
    )?;
    Ok(html_table(&df, "Normalisation"))
}

/// The training set cut into train and validation parts as the training recipe does it.
pub fn train_validation(data: &Mnist, kind: ModelKind) -> Result<(Split, Split)> {
    let cfg = TrainConfig::from_env(kind)?;
    data.train
        .train_validation(cfg.validation_fraction, cfg.seed)
}

/// Sizes of the train, validation and test parts.
pub fn split_table(train: &Split, val: &Split, test: &Split) -> Result<Html> {
    let df = df!(
        "part" => ["train", "validation", "test"],
        "images" => [train.len() as u64, val.len() as u64, test.len() as u64],
    )?;
    Ok(html_table(&df, "Splits"))
}

/// A freshly initialised model of `kind`, seeded like training does.
pub fn new_model(kind: ModelKind) -> Result<Network> {
    let cfg = TrainConfig::from_env(kind)?;
    Ok(Network::seeded(
        kind,
        cfg.dropout,
        Device::cuda_if_available(),
        cfg.seed,
    ))
}

/// Keras-style summary table of a model.
pub fn summary(net: &Network) -> Result<Html> {
    Ok(html_table(
        &model_summary(net)?,
        &format!("{} summary", net.kind()),
    ))
}

/// One batch through an (untrained) model: shapes, and the probabilities of the first example.
pub fn forward_pass(net: &Network, split: &Split, batch: i64) -> Result<Html> {
    let images = split.images.narrow(0, 0, batch); // [batch, 1, 28, 28]
    let logits = net.logits(&images); // [batch, 10]
    let probs = logits.softmax(-1, Kind::Float); // [batch, 10]
    let first: Vec<f32> = Vec::try_from(&probs.get(0))?;
    let rows = vec![
        ("input shape".to_string(), format!("{:?}", images.size())),
        ("logits shape".to_string(), format!("{:?}", logits.size())),
        (
            "probabilities of example 0".to_string(),
            format!("{:.3?}", first),
        ),
        (
            "sum of those".to_string(),
            format!("{:.4}", first.iter().sum::<f32>()),
        ),
    ];
    Ok(html_table(
        &key_value_table(&rows)?,
        &format!("{} forward pass", net.kind()),
    ))
}

/// Trains `kind` with its recipe (environment overrides applied), showing progress, and saves
/// weights and history under `artifacts/`.
pub fn train_and_save(kind: ModelKind, data: &Mnist) -> Result<(Network, History)> {
    let cfg = shown(TrainConfig::from_env(kind))?;
    let run = shown(recipe::train_and_save(
        &cfg,
        data,
        &artifacts::artifacts_dir(),
    ))?;
    println!(
        "saved {} and {}",
        run.weights.display(),
        run.history_file.display()
    );
    Ok((run.net, run.history))
}

/// The history as a table.
pub fn history_table(history: &History) -> Result<Html> {
    Ok(html_table(
        &history.to_dataframe()?,
        &format!("{} training history", history.model()),
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

/// Train and validation loss per epoch, as a chart description.
fn loss_chart<'a>(h: &History, title: &'a str) -> LineChart<'a> {
    curves_chart(h, title, "cross-entropy", |e| e.train_loss, |e| e.val_loss)
}

/// Train and validation accuracy per epoch, as a chart description.
fn accuracy_chart<'a>(h: &History, title: &'a str) -> LineChart<'a> {
    curves_chart(
        h,
        title,
        "accuracy (%)",
        |e| e.train_accuracy,
        |e| e.val_accuracy,
    )
}

/// Train and validation loss per epoch.
pub fn loss_curves(h: &History) -> Result<Png> {
    draw_chart(&loss_chart(h, &format!("{} loss", h.model())))
}

/// Train and validation accuracy per epoch.
pub fn accuracy_curves(h: &History) -> Result<Png> {
    draw_chart(&accuracy_chart(h, &format!("{} accuracy", h.model())))
}

/// Loss and accuracy curves side by side in one figure.
pub fn training_curves(h: &History) -> Result<Png> {
    let (loss_title, acc_title) = (
        format!("{} loss", h.model()),
        format!("{} accuracy", h.model()),
    );
    line_chart_pair(&loss_chart(h, &loss_title), &accuracy_chart(h, &acc_title))
}

/// The validation accuracy of several models per epoch, on one chart.
pub fn compare_curves(histories: &[&History]) -> Result<Png> {
    let named: Vec<(String, &History)> = histories
        .iter()
        .map(|h| (h.model().to_string(), *h))
        .collect();
    let pairs: Vec<(&str, &History)> = named.iter().map(|(n, h)| (n.as_str(), *h)).collect();
    line_chart(
        "Validation accuracy by model",
        "epoch",
        "accuracy (%)",
        &metric_series(&pairs, |e| e.val_accuracy),
    )
}

/// A trained model and its history from `artifacts/`; if they are missing, the error says in one
/// sentence which notebook to run first.
pub fn load_trained(kind: ModelKind) -> Result<(Network, History)> {
    shown(load_trained_from(&artifacts::artifacts_dir(), kind))
}

/// [`load_trained`] from `dir`, without printing the error.
fn load_trained_from(dir: &std::path::Path, kind: ModelKind) -> Result<(Network, History)> {
    for path in [
        artifacts::weights_path(dir, kind),
        artifacts::history_path(dir, kind),
    ] {
        anyhow::ensure!(
            path.exists(),
            "{} is missing: run 04_training.ipynb first",
            path.display()
        );
    }
    artifacts::load_trained(dir, kind)
}

/// The model's predictions on the test set.
pub fn evaluate(net: &Network, test: &Split) -> Predictions {
    predict(net, test)
}

/// The confusion matrix as a table (rows: true digit, columns: prediction).
pub fn confusion_table(p: &Predictions) -> Result<Html> {
    Ok(html_table(
        &p.confusion_matrix().to_dataframe()?,
        "Confusion matrix (rows: true digit)",
    ))
}

/// Precision, recall, F1 and support per digit.
pub fn per_class_table(p: &Predictions) -> Result<Html> {
    Ok(html_table(
        &per_class_dataframe(&p.confusion_matrix().per_class())?,
        "Per-class scores",
    ))
}

/// Side-by-side comparison of models: parameters, test accuracy, errors, training time.
pub fn comparison_table(models: &[(&Network, &Predictions, &History)]) -> Result<Html> {
    let df = df!(
        "model" => models.iter().map(|m| m.0.kind().to_string()).collect::<Vec<_>>(),
        "parameters" => models.iter().map(|m| m.0.param_count()).collect::<Vec<_>>(),
        "test accuracy (%)" => models.iter().map(|m| m.1.accuracy()).collect::<Vec<_>>(),
        "test errors" => models.iter().map(|m| m.1.misclassified().len() as u64).collect::<Vec<_>>(),
        "epochs" => models.iter().map(|m| m.2.epochs.len() as u64).collect::<Vec<_>>(),
        "training seconds" => models.iter().map(|m| m.2.train_seconds()).collect::<Vec<_>>(),
    )?;
    Ok(html_table(&df, "Model comparison"))
}

/// Writes the test accuracies to `artifacts/evaluation.json` for the report.
pub fn save_evaluation(models: &[(&Network, &Predictions)]) -> Result<()> {
    let map: serde_json::Map<String, serde_json::Value> = models
        .iter()
        .map(|(n, p)| {
            (
                n.kind().to_string(),
                serde_json::json!({"test_accuracy": p.accuracy()}),
            )
        })
        .collect();
    shown(artifacts::write_atomic(
        &artifacts::artifacts_dir().join("evaluation.json"),
        &serde_json::to_vec_pretty(&map)?,
    ))
}

/// The confusion matrix as a heatmap.
pub fn confusion_heatmap(p: &Predictions, kind: ModelKind) -> Result<Png> {
    let counts: Vec<Vec<u64>> = p
        .confusion_matrix()
        .counts
        .iter()
        .map(|r| r.to_vec())
        .collect();
    heatmap(
        &format!("{kind} confusion matrix (test set)"),
        "predicted digit",
        "true digit",
        &counts,
    )
}

/// The `n` most confident mistakes, titled "pred X / true Y (p=0.93)".
pub fn misclassified_grid(p: &Predictions, test: &Split, n: usize) -> Result<Png> {
    let wrong: Vec<_> = p.misclassified().into_iter().take(n).collect();
    anyhow::ensure!(!wrong.is_empty(), "no misclassified test images to show");
    let images: Vec<Vec<f32>> = wrong.iter().map(|m| test.pixels(m.index)).collect();
    let captions: Vec<String> = wrong
        .iter()
        .map(|m| {
            format!(
                "pred {} / true {} (p={:.2})",
                m.predicted, m.true_label, m.confidence
            )
        })
        .collect();
    image_grid(
        "Misclassified test digits, most confident first",
        &images,
        &captions,
        6,
        ColorMap::Gray,
    )
}

/// The `k` most frequent (true, predicted) mistakes.
pub fn confused_pairs_table(p: &Predictions, k: usize) -> Result<Html> {
    Ok(html_table(
        &confused_pairs_dataframe(&p.confusion_matrix().most_confused(k))?,
        "Most-confused pairs",
    ))
}

/// The MLP's first-layer weights, one 28x28 template per hidden unit (the first `n`).
pub fn first_layer_weights(net: &Network, n: usize) -> Result<Png> {
    let weights = net
        .first_layer_weights()
        .ok_or_else(|| anyhow::anyhow!("only the MLP has a dense first layer"))?; // [128, 784]
    let n = n.min(weights.size()[0] as usize);
    let images: Vec<Vec<f32>> = (0..n)
        .map(|i| Vec::<f32>::try_from(&weights.get(i as i64)))
        .collect::<Result<_, _>>()?;
    debug_assert!(images.iter().all(|im| im.len() == IMAGE_PIXELS as usize));
    let captions: Vec<String> = (0..n).map(|i| format!("unit {i}")).collect();
    image_grid(
        "MLP first-layer weights (red +, blue -)",
        &images,
        &captions,
        8,
        ColorMap::Diverging,
    )
}

/// `n` test digits picked by `seed`, with their images.
pub fn pick_examples(test: &Split, n: usize, seed: u64) -> Vec<usize> {
    rng::permutation(test.len(), seed)
        .into_iter()
        .take(n)
        .collect()
}

/// The chosen test digits as images, captioned with their true labels.
pub fn example_digits(test: &Split, indices: &[usize]) -> Result<Png> {
    let images: Vec<Vec<f32>> = indices.iter().map(|&i| test.pixels(i)).collect();
    let captions: Vec<String> = indices
        .iter()
        .map(|&i| format!("#{i}: true {}", test.label(i)))
        .collect();
    image_grid(
        "Test digits",
        &images,
        &captions,
        indices.len().max(1),
        ColorMap::Gray,
    )
}

/// The predicted probability of each digit for the chosen test digits, one bar group per digit.
pub fn probability_chart(p: &Predictions, indices: &[usize]) -> Result<Png> {
    let digits: Vec<String> = (0..LABELS).map(|d| d.to_string()).collect();
    let groups: Vec<(String, Vec<f64>)> = indices
        .iter()
        .map(|&i| {
            (
                format!("#{i} (true {})", p.labels[i]),
                p.probabilities_of(i).iter().map(|&v| v as f64).collect(),
            )
        })
        .collect();
    bar_chart(
        "Predicted probabilities",
        "digit",
        "probability",
        &digits,
        &groups,
    )
}
