//! What the networks look at and how they sort the digits: the pictures around the saliency maps
//! and the PCA that notebook 07 computes in its own cells, and the hidden layers it maps.

use crate::scatter::{scatter_panels, Panel};
use anyhow::{bail, ensure, Result};
use mnist_helpers::artifacts::Trained;
use mnist_helpers::data::Split;
use mnist_helpers::display::Png;
use mnist_helpers::metrics::{predict, Predictions};
use mnist_helpers::model::Cnn;
use mnist_helpers::plot::pixel_grid;
use plotters::style::RGBColor;
use tch::{Device, Kind, Tensor};

/// Test images worth a closer look, in the order of the arguments: `p`'s `mistakes` most
/// confident mistakes, then its first `right` correct answers.
pub fn mistakes_then_right(p: &Predictions, mistakes: usize, right: usize) -> Vec<usize> {
    let mistakes = p
        .misclassified()
        .into_iter()
        .map(|m| m.index)
        .take(mistakes);
    let correct = (0..p.len()).filter(|&i| p.labels[i] == p.predicted[i]);
    mistakes.chain(correct.take(right)).collect()
}

/// One row per test image in `indices`: the digit, then each model's saliency map drawn over it
/// and captioned with the model's answer. `maps` holds, per model, its name and what the
/// notebook's `saliency` returned for those images: (maps [n, 1, 28, 28], predicted [n]).
pub fn saliency_grid(
    test: &Split,
    indices: &[usize],
    maps: &[(&str, &(Tensor, Tensor))],
) -> Result<Png> {
    let mut rows = Vec::new();
    for (name, (map, predicted)) in maps {
        ensure!(
            map.size()[0] == indices.len() as i64,
            "{name}: {} saliency maps for {} images",
            map.size()[0],
            indices.len()
        );
        let predicted = Vec::<i64>::try_from(&predicted.to_device(Device::Cpu))?;
        let map = map.flatten(1, -1); // [n, 784]
        let scaled = &map / map.amax([1], true).clamp_min(1e-12); // each map's largest value: 1
        rows.push((name, pixel_rows(&scaled)?, predicted));
    }
    let digits = pixel_rows(&test.select(indices).images)?;
    let cols = 1 + maps.len();
    let mut captions = Vec::new();
    for (r, &i) in indices.iter().enumerate() {
        let label = test.label(i)?;
        captions.push(format!("digit {label}"));
        for (name, _, predicted) in &rows {
            let verdict = if predicted[r] == label {
                "right"
            } else {
                "wrong"
            };
            captions.push(format!("{name}: {} ({verdict})", predicted[r]));
        }
    }
    let title = "Saliency: |d score / d pixel|";
    pixel_grid(title, indices.len() * cols, &captions, cols, |i, px| {
        let (r, c) = (i / cols, i % cols);
        match c {
            0 => heat_over(digits[r][px], 0.0),
            _ => heat_over(digits[r][px], rows[c - 1].1[r][px]),
        }
    })
}

/// The model's last hidden layer for `images`: the CNN's `features_t`, or an MLP's first layer
/// `fc1` after ReLU. [n, units], on the CPU.
pub fn hidden_layer(model: &Trained, images: &Tensor) -> Result<Tensor> {
    let x = images.to_device(model.vs.device()); // [n, 1, 28, 28], where its variables are
    let hidden = if let Some(cnn) = model.net_as::<Cnn>() {
        tch::no_grad(|| cnn.features_t(&x, false)) // [n, 3136]
    } else {
        let vars = model.vs.variables();
        let (Some(w), Some(b)) = (vars.get("fc1.weight"), vars.get("fc1.bias")) else {
            bail!(
                "{}: hidden_layer reads the CNN's features_t or an MLP's first layer `fc1`; \
                 this model has neither",
                model.name
            );
        };
        tch::no_grad(|| x.flatten(1, -1).linear(w, Some(b)).relu()) // [n, units]
    };
    Ok(hidden.to_device(Device::Cpu))
}

/// A map of `sample` per model: `points` ([n, 2], its hidden layer flattened by `method`, say
/// "PCA" or "t-SNE", which names the axes) coloured by digit, with the model's mistakes ringed.
pub fn digit_map(sample: &Split, method: &str, models: &[(&Trained, &Tensor)]) -> Result<Png> {
    let labels = Vec::<i64>::try_from(&sample.labels)?;
    let mut panels = Vec::new();
    for (model, points) in models {
        let points = Vec::<Vec<f32>>::try_from(&points.to_device(Device::Cpu))?;
        let predicted = predict(*model, sample, model.device())?.predicted;
        panels.push(Panel {
            title: format!(
                "{}: {} test images, {method}",
                model.name.to_uppercase(),
                with_thousands(labels.len())
            ),
            axes: [format!("{method} 1"), format!("{method} 2")],
            points: points.iter().map(|p| (p[0] as f64, p[1] as f64)).collect(),
            labels: labels.clone(),
            wrong: labels.iter().zip(&predicted).map(|(l, p)| l != p).collect(),
        });
    }
    scatter_panels(&panels)
}

/// `n` with commas between thousands: 2,000.
fn with_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Each picture of `t` ([n, ...]) as 784 floats.
fn pixel_rows(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    let flat = t
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .reshape([-1, 784]); // [n, 784]
    Ok(Vec::<Vec<f32>>::try_from(&flat)?)
}

/// A digit pixel dimmed, with `heat` (0-1) in black-red-yellow over it; no heat: the digit.
fn heat_over(digit: f32, heat: f32) -> RGBColor {
    let digit = digit.clamp(0.0, 1.0);
    if heat == 0.0 {
        let g = (digit * 255.0) as u8;
        return RGBColor(g, g, g);
    }
    let h = heat.clamp(0.0, 1.0);
    let channel = |v: f32| ((0.45 * digit).max(v.clamp(0.0, 1.0)) * 255.0) as u8;
    RGBColor(
        channel(2.5 * h),
        channel(2.5 * h - 1.0),
        channel(2.5 * h - 2.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(with_thousands(2000), "2,000");
        assert_eq!(with_thousands(999), "999");
        assert_eq!(with_thousands(1_234_567), "1,234,567");
    }

    fn split(n: i64) -> Split {
        Split {
            images: Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu)), // [n, 1, 28, 28]
            labels: Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(10), // [n]
        }
    }

    #[test]
    fn saliency_grid_has_a_column_per_model_and_checks_counts() {
        let test = split(12);
        let maps = (
            Tensor::rand([3, 1, 28, 28], (Kind::Float, Device::Cpu)),
            Tensor::from_slice(&[1i64, 2, 3]),
        );
        let png = saliency_grid(&test, &[1, 5, 7], &[("MLP", &maps), ("CNN", &maps)]).unwrap();
        assert!(png.0.starts_with(b"\x89PNG"));
        let err = saliency_grid(&test, &[1, 5], &[("MLP", &maps)]).unwrap_err();
        assert!(
            err.to_string().contains("3 saliency maps for 2 images"),
            "{err}"
        );
    }

    #[test]
    fn heat_covers_the_dimmed_digit() {
        assert_eq!(heat_over(1.0, 0.0), RGBColor(255, 255, 255));
        assert_eq!(
            heat_over(0.0, 1.0),
            RGBColor(255, 255, 127),
            "hottest: light yellow"
        );
        let cold = heat_over(1.0, 1e-9);
        assert!(cold.0 < 120 && cold.0 == cold.2, "dimmed digit {cold:?}");
        let warm = heat_over(0.0, 0.2);
        assert!(
            warm.0 > warm.1 && warm.1 >= warm.2,
            "red before yellow {warm:?}"
        );
    }
}
