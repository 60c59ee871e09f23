//! Scatter maps: points coloured by digit, mistakes marked, one panel per model side by side.

use anyhow::{ensure, Result};
use mnist_helpers::display::Png;
use mnist_helpers::plot::{legend, plot_err, render, FONT};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Ten colours that stay apart (matplotlib's "tab10"), one per digit.
const DIGIT_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
/// Room right of the points for the legend, as a share of their spread: the legend (about 90 of
/// the panel's 500 plotting pixels) never covers a point.
const LEGEND_STRIP: f64 = 0.3;
/// Width and height of one panel, in pixels.
const PANEL: (u32, u32) = (560, 520);

/// One panel of a scatter map.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Caption above the panel.
    pub title: String,
    /// Names of the x and y axes.
    pub axes: [String; 2],
    /// (x, y) of each point.
    pub points: Vec<(f64, f64)>,
    /// The digit of each point (its colour).
    pub labels: Vec<i64>,
    /// Whether the model got each point wrong (marked with a black ring).
    pub wrong: Vec<bool>,
}

/// The panels side by side in one PNG, each with a legend of the digits.
pub fn scatter_panels(panels: &[Panel]) -> Result<Png> {
    ensure!(!panels.is_empty(), "scatter map has no panels");
    for p in panels {
        ensure!(
            p.points.len() == p.labels.len() && p.points.len() == p.wrong.len(),
            "scatter panel {:?}: points, labels and marks differ in number",
            p.title
        );
    }
    let width = PANEL.0 * panels.len() as u32;
    render(width, PANEL.1, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        let areas = root.split_evenly((1, panels.len()));
        for (area, panel) in areas.iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        Ok(())
    })
}

/// One panel: the points by digit, rings on the mistakes, a legend.
fn draw_panel(area: &DrawingArea<BitMapBackend, Shift>, panel: &Panel) -> Result<()> {
    // `right`: room beyond the points, as a share of their spread (the legend's strip).
    let range = |f: fn(&(f64, f64)) -> f64, right: f64| {
        let (lo, hi) = panel
            .points
            .iter()
            .map(f)
            .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.05).max(1e-6);
        (lo - pad)..(hi + pad + (hi - lo) * right)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(range(|p| p.0, LEGEND_STRIP), range(|p| p.1, 0.0))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&panel.axes[0])
        .y_desc(&panel.axes[1])
        .label_style((FONT, 12))
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|_| String::new())
        .draw()
        .map_err(plot_err)?;
    for (digit, &color) in DIGIT_COLORS.iter().enumerate() {
        let mine = panel.points.iter().zip(&panel.labels);
        let dots = mine
            .filter(|(_, &l)| l == digit as i64)
            .map(|(&p, _)| Circle::new(p, 2, color.filled()));
        chart
            .draw_series(dots)
            .map_err(plot_err)?
            .label(digit.to_string())
            .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
    }
    let mistakes = panel.points.iter().zip(&panel.wrong).filter(|(_, &w)| w);
    chart
        .draw_series(mistakes.map(|(&p, _)| Circle::new(p, 4, BLACK.stroke_width(1))))
        .map_err(plot_err)?
        .label("mistake")
        .legend(|(x, y)| Circle::new((x + 6, y), 4, BLACK.stroke_width(1)));
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_render_side_by_side_and_mismatches_are_refused() {
        let panel = Panel {
            title: "map".into(),
            axes: ["PCA 1".into(), "PCA 2".into()],
            points: vec![(0.0, 0.0), (1.0, 2.0), (-1.0, 0.5)],
            labels: vec![0, 3, 9],
            wrong: vec![false, true, false],
        };
        let png = scatter_panels(&[panel.clone(), panel.clone()]).unwrap();
        let reader = png::Decoder::new(std::io::Cursor::new(png.0))
            .read_info()
            .unwrap();
        assert_eq!(reader.info().width, 2 * PANEL.0);
        let bad = Panel {
            wrong: vec![],
            ..panel
        };
        assert!(scatter_panels(&[bad]).is_err());
    }
}
