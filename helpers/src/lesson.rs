//! What a notebook's cells computed, shown: tensors of ten per-digit values as tables and bars,
//! tensors of images as pictures, a confusion count tensor as a table, and checks that a cell's
//! result is what the crate's own function gives (so that later notebooks may call it instead).

use crate::data::{Split, LABELS};
use crate::display::{Html, Png};
use crate::metrics::{ConfusionMatrix, Predictions};
use crate::plot::{bar_chart, image_grid, ColorMap};
use crate::rng::permutation;
use crate::tables::html_table;
use anyhow::{ensure, Result};
use polars::prelude::*;
use tch::{Device, Kind, Tensor};

/// A tensor's values as f64 on the CPU, flattened.
fn values(t: &Tensor) -> Result<Vec<f64>> {
    let flat = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Double)
        .flatten(0, -1);
    Ok(Vec::<f64>::try_from(&flat)?)
}

/// Ten values, one per digit, from `t` ([10]); an error names `what` otherwise.
fn per_digit(what: &str, t: &Tensor) -> Result<Vec<f64>> {
    let v = values(t)?;
    ensure!(
        v.len() == LABELS as usize,
        "{what}: expected one value per digit (shape [10]), got shape {:?}",
        t.size()
    );
    Ok(v)
}

/// A table with one row per digit and one column per named tensor of ten values ([10] each).
pub fn digit_table(title: &str, columns: &[(&str, &Tensor)]) -> Result<Html> {
    let mut cols = vec![Column::new(
        "digit".into(),
        (0..LABELS).collect::<Vec<i64>>(),
    )];
    for (name, t) in columns {
        let v = per_digit(name, t)?;
        cols.push(if t.is_floating_point() {
            Column::new((*name).into(), v)
        } else {
            Column::new(
                (*name).into(),
                v.iter().map(|&x| x as i64).collect::<Vec<_>>(),
            )
        });
    }
    Ok(html_table(&DataFrame::new_infer_height(cols)?, title))
}

/// Grouped bars, one group per digit, one bar per named tensor of ten values ([10] each).
pub fn digit_bars(title: &str, y_label: &str, groups: &[(&str, &Tensor)]) -> Result<Png> {
    let digits: Vec<String> = (0..LABELS).map(|d| d.to_string()).collect();
    let groups: Vec<(String, Vec<f64>)> = groups
        .iter()
        .map(|(name, t)| Ok((name.to_string(), per_digit(name, t)?)))
        .collect::<Result<_>>()?;
    bar_chart(title, "digit", y_label, &digits, &groups)
}

/// Each image of `images` ([k, 1, 28, 28], [k, 28, 28] or [k, 784]) as 784 values.
fn pictures(images: &Tensor) -> Result<Vec<Vec<f32>>> {
    let v = values(images)?;
    ensure!(
        !v.is_empty() && v.len() % 784 == 0,
        "expected 28x28 images, got a tensor of shape {:?}",
        images.size()
    );
    Ok(v.chunks(784)
        .map(|c| c.iter().map(|&x| x as f32).collect())
        .collect())
}

/// Images in MNIST's gray (values 0-1), captioned, 5 to 8 per row (full rows where it can).
pub fn digit_images(title: &str, images: &Tensor, captions: &[String]) -> Result<Png> {
    let pictures = pictures(images)?;
    let k = pictures.len();
    let cols = (5..=8).find(|c| k % c == 0).unwrap_or(k.min(8));
    image_grid(title, &pictures, captions, cols, ColorMap::Gray)
}

/// Weights drawn as 28x28 pictures ([k, 784] or [k, 1, 28, 28]): red positive, blue negative,
/// each picture on its own scale; captioned "unit 0", "unit 1", ...
pub fn weight_images(title: &str, weights: &Tensor) -> Result<Png> {
    let pictures = pictures(weights)?;
    let captions: Vec<String> = (0..pictures.len()).map(|i| format!("unit {i}")).collect();
    image_grid(title, &pictures, &captions, 8, ColorMap::Diverging)
}

/// A [10, 10] tensor of counts (row: true digit, column: prediction) as a confusion matrix.
pub(crate) fn confusion_from(counts: &Tensor) -> Result<ConfusionMatrix> {
    ensure!(
        counts.size() == [LABELS, LABELS],
        "expected a [10, 10] tensor of counts, got shape {:?}",
        counts.size()
    );
    let v = values(counts)?;
    let mut matrix = ConfusionMatrix {
        counts: [[0; LABELS as usize]; LABELS as usize],
    };
    for (i, &c) in v.iter().enumerate() {
        matrix.counts[i / 10][i % 10] = c as u64;
    }
    Ok(matrix)
}

/// A [10, 10] tensor of counts as a table (rows: true digit, columns: prediction).
pub fn counts_table(title: &str, counts: &Tensor) -> Result<Html> {
    Ok(html_table(&confusion_from(counts)?.to_dataframe()?, title))
}

/// The numbers `0..n` as an i64 tensor ([n]) in the order that `seed` shuffles them: the same on
/// every machine and libtorch version, and the order the crate's validation split uses.
pub fn shuffled_indices(n: usize, seed: u64) -> Tensor {
    let order: Vec<i64> = permutation(n, seed).into_iter().map(|i| i as i64).collect();
    Tensor::from_slice(&order)
}

/// Checks that a tensor a cell computed equals the crate's (same shape, same values) and says so.
pub fn check_same(what: &str, cells: &Tensor, crates: &Tensor) -> Result<()> {
    let (a, b) = (cells.to_device(Device::Cpu), crates.to_device(Device::Cpu));
    ensure!(
        a.size() == b.size(),
        "{what}: the cell's shape {:?} differs from the crate's {:?}",
        a.size(),
        b.size()
    );
    // Compared in their own kind where they share it: no copy of 47 million pixels.
    let same = match a.kind() == b.kind() {
        true => a.equal(&b),
        false => a.to_kind(Kind::Double).equal(&b.to_kind(Kind::Double)),
    };
    ensure!(same, "{what}: the cell's values differ from the crate's");
    println!("{what}: the same as the crate's ({} values)", a.numel());
    Ok(())
}

/// Checks that the crate's predictions are the digits a cell predicted ([n]) and says so.
pub fn check_same_predictions(preds: &Predictions, predicted: &Tensor) -> Result<()> {
    let crates = Tensor::from_slice(&preds.predicted);
    check_same("predicted digits", predicted, &crates)?;
    println!("accuracy {:.2}%, as the cells computed", preds.accuracy());
    Ok(())
}

/// The test digits at `indices` ([k]) with what `p` predicted for them, as pictures captioned
/// "pred X / true Y (p=0.93)".
pub fn mistakes_grid(p: &Predictions, test: &Split, indices: &Tensor) -> Result<Png> {
    let picked: Vec<usize> = values(indices)?.iter().map(|&i| i as usize).collect();
    ensure!(!picked.is_empty(), "no test digits to show");
    let mut images = Vec::new();
    let mut captions = Vec::new();
    for &i in &picked {
        images.push(test.pixels(i)?);
        ensure!(
            i < p.len(),
            "index {i}: the predictions cover {} images",
            p.len()
        );
        let (predicted, label) = (p.predicted[i], p.labels[i]);
        captions.push(format!(
            "pred {predicted} / true {label} (p={:.2})",
            p.confidence[i]
        ));
    }
    let title = "Misclassified test digits, most confident first";
    image_grid(title, &images, &captions, 6, ColorMap::Gray)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ten(kind: Kind) -> Tensor {
        Tensor::arange(10, (kind, Device::Cpu))
    }

    #[test]
    fn per_digit_tables_and_bars_take_ten_values() {
        let t = digit_table(
            "t",
            &[("count", &ten(Kind::Int64)), ("p", &ten(Kind::Float))],
        );
        assert!(t
            .unwrap()
            .0
            .contains("<td style=\"padding:2px 8px;text-align:right\">9</td>"));
        let err = digit_table("t", &[("bad", &ten(Kind::Int64).narrow(0, 0, 3))]).unwrap_err();
        assert!(
            err.to_string()
                .contains("bad: expected one value per digit"),
            "{err}"
        );
        assert!(digit_bars("b", "n", &[("train", &ten(Kind::Int64))]).is_ok());
    }

    #[test]
    fn counts_become_a_confusion_matrix() {
        let counts = Tensor::arange(100, (Kind::Int64, Device::Cpu)).view([10, 10]);
        let m = confusion_from(&counts).unwrap();
        assert_eq!(
            (m.counts[0][9], m.counts[9][0], m.counts[4][2]),
            (9, 90, 42)
        );
        assert!(confusion_from(&counts.narrow(0, 0, 9)).is_err());
        assert!(counts_table("c", &counts).is_ok());
    }

    #[test]
    fn check_same_passes_equal_values_and_names_a_difference() {
        let a = ten(Kind::Int64);
        check_same("x", &a, &ten(Kind::Uint8)).unwrap();
        let err = check_same("x", &a, &(ten(Kind::Int64) + 1)).unwrap_err();
        assert!(
            err.to_string().contains("x: the cell's values differ"),
            "{err}"
        );
        let err = check_same("x", &a, &a.view([2, 5])).unwrap_err();
        assert!(err
            .to_string()
            .contains("shape [10] differs from the crate's [2, 5]"));
    }

    #[test]
    fn shuffled_indices_are_the_crates_permutation() {
        let t = shuffled_indices(50, 3);
        let expected: Vec<i64> = permutation(50, 3).iter().map(|&i| i as i64).collect();
        assert_eq!(Vec::<i64>::try_from(&t).unwrap(), expected);
    }

    #[test]
    fn pictures_need_28x28_images() {
        let images = Tensor::zeros([2, 1, 28, 28], (Kind::Float, Device::Cpu));
        assert!(digit_images("d", &images, &[]).is_ok());
        assert!(weight_images("w", &images.view([2, 784])).is_ok());
        let err = digit_images("d", &ten(Kind::Float), &[]).unwrap_err();
        assert!(err.to_string().contains("expected 28x28 images"), "{err}");
    }
}
