//! Evaluation: predictions, accuracy, confusion matrix, per-class scores, misclassified examples.

use crate::data::{Split, LABELS};
use crate::shapes::{check_fits, to_device};
use crate::train::EVAL_BATCH;
use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

/// Number of classes as an array length.
const N: usize = LABELS as usize;

/// What a model said about every example of a split.
#[derive(Debug)]
pub struct Predictions {
    /// True digits.
    pub labels: Vec<i64>,
    /// Predicted digits (argmax of the logits).
    pub predicted: Vec<i64>,
    /// Probability the model gave its prediction.
    pub confidence: Vec<f32>,
    /// All class probabilities: [n, 10].
    pub probabilities: Tensor,
}

/// A test example the model got wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Misclassified {
    /// Index in the split.
    pub index: usize,
    /// The true digit.
    pub true_label: i64,
    /// What the model said.
    pub predicted: i64,
    /// The probability it gave that answer.
    pub confidence: f32,
}

/// Precision, recall, F1 and support of one digit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// The digit.
    pub digit: i64,
    /// Of the examples predicted as this digit, the part that was right.
    pub precision: f64,
    /// Of the examples of this digit, the part that was found.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Examples of this digit.
    pub support: u64,
}

/// Counts of (true digit, predicted digit): rows are true digits, columns predictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// `counts[true][predicted]`.
    pub counts: [[u64; N]; N],
}

/// Runs `net` (whose variables are on `device`: `vs.device()`, or a loaded model's
/// `.device()`) over `split` without dropout or gradients and collects its predictions, as Keras'
/// `predict` does; [`crate::train::evaluate`] gives the loss and accuracy instead.
pub fn predict(
    net: &(impl ModuleT + ?Sized),
    split: &Split,
    device: Device,
) -> Result<Predictions> {
    predict_in_batches(net, split, EVAL_BATCH, device)
}

/// [`predict`] with `batch` images per forward pass; a network that does not fit MNIST or is
/// not on `device` gets an error in one line, before the first batch.
pub fn predict_in_batches(
    net: &(impl ModuleT + ?Sized),
    split: &Split,
    batch: i64,
    device: Device,
) -> Result<Predictions> {
    let n = split.len() as i64;
    let probe = split.images.narrow(0, 0, n.min(2)); // [2, 1, 28, 28]
    check_fits(net, None, &to_device(&probe, device)?)?;
    let stop = crate::stop::listen();
    let batches = (n as usize).div_ceil(batch.max(1) as usize);
    let chunks: Vec<Tensor> = (0..n)
        .step_by(batch as usize)
        .enumerate()
        .map(|(done, s)| {
            stop.check("evaluation", done, batches)?;
            let images = split.images.narrow(0, s, batch.min(n - s)); // [batch, 1, 28, 28]
            let images = to_device(&images, device)?;
            let logits = tch::no_grad(|| net.forward_t(&images, false)); // [batch, 10]
            Ok(logits.softmax(-1, Kind::Float).to_device(tch::Device::Cpu)) // [batch, 10]
        })
        .collect::<Result<_>>()?;
    let probabilities = Tensor::cat(&chunks, 0); // [n, 10]
    let (confidence, predicted) = probabilities.max_dim(-1, false); // [n], [n]
    Ok(Predictions {
        labels: Vec::<i64>::try_from(&split.labels)?,
        predicted: Vec::<i64>::try_from(&predicted)?,
        confidence: Vec::<f32>::try_from(&confidence.to_kind(Kind::Float))?,
        probabilities,
    })
}

impl Predictions {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Percentage of examples predicted right.
    pub fn accuracy(&self) -> f64 {
        let right = self
            .labels
            .iter()
            .zip(&self.predicted)
            .filter(|(a, b)| a == b)
            .count();
        100.0 * right as f64 / self.len().max(1) as f64
    }

    /// The confusion matrix of these predictions.
    pub fn confusion_matrix(&self) -> ConfusionMatrix {
        let mut counts = [[0u64; N]; N];
        for (&t, &p) in self.labels.iter().zip(&self.predicted) {
            counts[t as usize][p as usize] += 1;
        }
        ConfusionMatrix { counts }
    }

    /// The wrong predictions, most confident first.
    pub fn misclassified(&self) -> Vec<Misclassified> {
        let mut wrong: Vec<Misclassified> = (0..self.len())
            .filter(|&i| self.labels[i] != self.predicted[i])
            .map(|i| Misclassified {
                index: i,
                true_label: self.labels[i],
                predicted: self.predicted[i],
                confidence: self.confidence[i],
            })
            .collect();
        wrong.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        wrong
    }

    /// The probabilities of example `index` for the digits 0-9.
    pub(crate) fn probabilities_of(&self, index: usize) -> Result<Vec<f32>> {
        Ok(Vec::<f32>::try_from(&self.probabilities.get(index as i64))?)
    }
}

impl ConfusionMatrix {
    /// Precision, recall, F1 and support for each digit.
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        (0..N).map(|d| self.class_metrics(d)).collect()
    }

    /// The scores of digit `d`.
    fn class_metrics(&self, d: usize) -> ClassMetrics {
        let tp = self.counts[d][d] as f64;
        let support: u64 = self.counts[d].iter().sum();
        let predicted: u64 = (0..N).map(|t| self.counts[t][d]).sum();
        let ratio = |a: f64, b: u64| if b == 0 { 0.0 } else { a / b as f64 };
        let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        ClassMetrics {
            digit: d as i64,
            precision,
            recall,
            f1,
            support,
        }
    }

    /// The `k` most frequent mistakes as (true digit, predicted digit, count), most frequent first.
    pub fn most_confused(&self, k: usize) -> Vec<(i64, i64, u64)> {
        let mut pairs: Vec<(i64, i64, u64)> = (0..N)
            .flat_map(|t| (0..N).map(move |p| (t, p)))
            .filter(|&(t, p)| t != p && self.counts[t][p] > 0)
            .map(|(t, p)| (t as i64, p as i64, self.counts[t][p]))
            .collect();
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        pairs.truncate(k);
        pairs
    }

    /// The matrix as a table: a `true` column, then one column per predicted digit.
    pub(crate) fn to_dataframe(&self) -> Result<DataFrame> {
        let mut columns = vec![Column::new(
            "true".into(),
            (0..N as u32).collect::<Vec<u32>>(),
        )];
        for p in 0..N {
            let counts: Vec<u64> = (0..N).map(|t| self.counts[t][p]).collect();
            columns.push(Column::new(format!("pred {p}").into(), counts));
        }
        Ok(DataFrame::new_infer_height(columns)?)
    }
}

/// Per-class scores as a table: digit, precision, recall, f1, support.
pub(crate) fn per_class_dataframe(metrics: &[ClassMetrics]) -> Result<DataFrame> {
    Ok(df!(
        "digit" => metrics.iter().map(|m| m.digit).collect::<Vec<_>>(),
        "precision" => metrics.iter().map(|m| m.precision).collect::<Vec<_>>(),
        "recall" => metrics.iter().map(|m| m.recall).collect::<Vec<_>>(),
        "f1" => metrics.iter().map(|m| m.f1).collect::<Vec<_>>(),
        "support" => metrics.iter().map(|m| m.support).collect::<Vec<_>>(),
    )?)
}

/// The most-confused pairs as a table: true, predicted, count.
pub(crate) fn confused_pairs_dataframe(pairs: &[(i64, i64, u64)]) -> Result<DataFrame> {
    Ok(df!(
        "true" => pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
        "predicted" => pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
        "count" => pairs.iter().map(|p| p.2).collect::<Vec<_>>(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(labels: Vec<i64>, predicted: Vec<i64>) -> Predictions {
        let n = labels.len();
        Predictions {
            labels,
            predicted,
            confidence: vec![0.5; n],
            probabilities: Tensor::zeros([n as i64, 10], tch::kind::FLOAT_CPU),
        }
    }

    #[test]
    fn accuracy_and_confusion() {
        let p = preds(vec![1, 1, 2, 3], vec![1, 7, 2, 3]);
        assert_eq!(p.accuracy(), 75.0);
        let cm = p.confusion_matrix();
        assert_eq!(cm.counts[1][7], 1);
        assert_eq!(cm.most_confused(5), vec![(1, 7, 1)]);
        let m = cm.per_class();
        assert_eq!((m[1].precision, m[1].recall, m[1].support), (1.0, 0.5, 2));
        assert!((m[1].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m[7].precision, 0.0);
        assert_eq!(p.misclassified()[0].index, 1);
        assert_eq!(cm.to_dataframe().unwrap().shape(), (10, 11));
    }
}
