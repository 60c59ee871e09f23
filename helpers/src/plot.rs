//! Charts drawn with plotters on an in-memory bitmap (plotters-bitmap) and returned as PNG.

use crate::display::Png;
use crate::png::encode_rgb_png;
use anyhow::{ensure, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::OnceLock;

/// The font family every chart uses (DejaVu Sans, embedded: no system fonts needed).
pub const FONT: &str = "sans-serif";
/// Pixels per MNIST pixel in image grids.
const IMAGE_SCALE: u32 = 3;

/// One named line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// Legend entry.
    pub name: String,
    /// (x, y) points in order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from a name and its points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// How image values map to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColorMap {
    /// Values in [0, 1], 0 black, 1 white (MNIST's look).
    Gray,
    /// Signed values, scaled by the largest magnitude: blue negative, white zero, red positive.
    Diverging,
}

/// A plotters error as anyhow (their error types borrow backends and are not `Send`).
pub fn plot_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing failed: {e}")
}

/// Registers the embedded font with plotters, once per process; an error says which style failed.
fn register_fonts() -> Result<()> {
    static OUTCOME: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let outcome = OUTCOME.get_or_init(|| {
        let styles = [
            (FontStyle::Normal, "regular", dejavu::sans::regular()),
            (FontStyle::Bold, "bold", dejavu::sans::bold()),
        ];
        for (style, name, bytes) in styles {
            plotters::style::register_font(FONT, style, bytes)
                .map_err(|_| format!("the embedded font {FONT} ({name}) could not be read"))?;
        }
        Ok(())
    });
    outcome.clone().map_err(anyhow::Error::msg)
}

/// Draws on a white `width` x `height` bitmap and returns it as PNG.
pub fn render(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<()>,
) -> Result<Png> {
    register_fonts()?;
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Png(encode_rgb_png(width, height, &rgb)?))
}

/// The range covering `values` with a little room on both sides.
fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.06).max(1e-3);
    (lo - pad)..(hi + pad)
}

/// A chart's title, axis labels and lines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineChart<'a> {
    /// Caption above the chart.
    pub title: &'a str,
    /// Label of the x axis.
    pub x_label: &'a str,
    /// Label of the y axis.
    pub y_label: &'a str,
    /// The lines.
    pub series: Vec<Series>,
}

/// A line chart with markers and a legend, e.g. loss per epoch for train and validation.
pub(crate) fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<Png> {
    draw_chart(&LineChart {
        title,
        x_label,
        y_label,
        series: series.to_vec(),
    })
}

/// A line chart from its description.
pub(crate) fn draw_chart(chart: &LineChart) -> Result<Png> {
    ensure!(
        has_points(chart),
        "line chart {:?} has no points",
        chart.title
    );
    render(760, 440, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        draw_line_chart(root, chart)
    })
}

/// Two line charts side by side in one image (e.g. loss and accuracy).
pub(crate) fn line_chart_pair(left: &LineChart, right: &LineChart) -> Result<Png> {
    ensure!(
        has_points(left) && has_points(right),
        "line charts {:?} and {:?} need points",
        left.title,
        right.title
    );
    render(1200, 420, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        let (a, b) = root.split_horizontally(600);
        draw_line_chart(&a, left)?;
        draw_line_chart(&b, right)
    })
}

/// True when some series of the chart has a point.
fn has_points(chart: &LineChart) -> bool {
    chart.series.iter().any(|s| !s.points.is_empty())
}

/// Draws a line chart on `area`.
fn draw_line_chart(area: &DrawingArea<BitMapBackend, Shift>, c: &LineChart) -> Result<()> {
    let xs = padded_range(c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let ys = padded_range(c.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let mut chart = ChartBuilder::on(area)
        .caption(c.title, (FONT, 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(xs.clone(), ys.clone())
        .map_err(plot_err)?;
    // Whole x values (epochs) get whole ticks only: 1, 2, 3, never 1.5.
    let whole_x = c
        .series
        .iter()
        .flat_map(|s| &s.points)
        .all(|p| p.0.fract() == 0.0);
    let x_text = |x: &f64| match (whole_x, (x - x.round()).abs() < 1e-9) {
        (true, true) => format!("{}", x.round()),
        (true, false) => String::new(),
        (false, _) => format!("{x:.2}"),
    };
    let x_ticks = if whole_x {
        (xs.end - xs.start).ceil() as usize + 1
    } else {
        10
    };
    chart
        .configure_mesh()
        .x_desc(c.x_label)
        .y_desc(c.y_label)
        .x_labels(x_ticks.clamp(2, 12))
        .x_label_formatter(&x_text)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style((FONT, 13))
        .draw()
        .map_err(plot_err)?;
    for (i, s) in c.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(plot_err)?;
    }
    let lines: Vec<&[(f64, f64)]> = c.series.iter().map(|s| s.points.as_slice()).collect();
    legend(&mut chart, free_corner(&lines, &xs, &ys))
}

/// A chart on f64 axes, as every chart here has.
pub(crate) type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The corner of the plotting area (`xs` by `ys`) that the lines, drawn through their points,
/// cross least: where the legend goes (a box of 40% of the width and 45% of the height). Upper
/// right on a tie.
fn free_corner(
    lines: &[&[(f64, f64)]],
    xs: &std::ops::Range<f64>,
    ys: &std::ops::Range<f64>,
) -> SeriesLabelPosition {
    let (width, height) = (xs.end - xs.start, ys.end - ys.start);
    let unit = |x: f64, y: f64| ((x - xs.start) / width, (y - ys.start) / height);
    // Each line's points, and 15 more along each of its segments.
    let samples: Vec<(f64, f64)> = (lines.iter().flat_map(|l| l.windows(2)))
        .flat_map(|w| (0..16).map(move |k| (w[0], w[1], f64::from(k) / 16.0)))
        .map(|(a, b, t)| unit(a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)))
        .chain(
            lines
                .iter()
                .filter_map(|l| l.last())
                .map(|p| unit(p.0, p.1)),
        )
        .collect();
    let crossings = |right: bool, upper: bool| {
        let in_x = |u: f64| if right { u >= 0.6 } else { u <= 0.4 };
        let in_y = |v: f64| if upper { v >= 0.55 } else { v <= 0.45 };
        samples.iter().filter(|p| in_x(p.0) && in_y(p.1)).count()
    };
    [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ]
    .into_iter()
    .min_by_key(|c| crossings(c.1, c.2))
    .map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

/// The legend of the series that have labels, boxed in the corner `position`.
pub fn legend<'a>(chart: &mut Chart<'a, 'a>, position: SeriesLabelPosition) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)
}

/// Grouped bars: one group per category, one bar per (name, values) entry.
pub fn bar_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    categories: &[String],
    groups: &[(String, Vec<f64>)],
) -> Result<Png> {
    ensure!(
        !categories.is_empty() && !groups.is_empty(),
        "bar chart {title:?} has no data"
    );
    // Room above the tallest bar for the legend (about 20 of the plot's 330 pixels per entry).
    let headroom = match groups.len() {
        1 => 0.1,
        k => 0.1 + (20.0 * k as f64 + 16.0) / 330.0,
    };
    let top = groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .fold(0.0, f64::max)
        * (1.0 + headroom);
    let n = categories.len();
    let width = 0.8 / groups.len() as f64;
    render(760, 420, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        let label = |x: &f64| category_label(categories, *x);
        let value = |y: &f64| {
            if top > 20.0 {
                format!("{y:.0}")
            } else {
                format!("{y:.2}")
            }
        };
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..top.max(1e-9))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label)
            .y_label_formatter(&value)
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style((FONT, 13))
            .draw()
            .map_err(plot_err)?;
        for (g, (name, values)) in groups.iter().enumerate() {
            let color = Palette99::pick(g).to_rgba();
            let left = |i: usize| i as f64 - 0.4 + g as f64 * width;
            let bars = values.iter().enumerate().map(|(i, &v)| {
                Rectangle::new([(left(i), 0.0), (left(i) + width, v)], color.filled())
            });
            chart
                .draw_series(bars)
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        match groups.len() {
            1 => Ok(()),
            _ => legend(&mut chart, SeriesLabelPosition::UpperRight),
        }
    })
}

/// The category name at whole-number position `x`, or nothing between categories.
fn category_label(categories: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < categories.len() {
        categories[i as usize].clone()
    } else {
        String::new()
    }
}

/// A histogram of `values` in [lo, hi) with `bins` bars; the y axis counts values.
pub fn histogram(
    title: &str,
    x_label: &str,
    values: &[f32],
    (lo, hi): (f32, f32),
    bins: usize,
) -> Result<Png> {
    ensure!(
        bins > 0 && hi > lo,
        "histogram {title:?} needs bins and a range"
    );
    let mut counts = vec![0.0f64; bins];
    let step = (hi - lo) / bins as f32;
    for &v in values.iter().filter(|v| (lo..=hi).contains(*v)) {
        counts[(((v - lo) / step) as usize).min(bins - 1)] += 1.0;
    }
    let labels: Vec<String> = (0..bins)
        .map(|b| format!("{:.2}", lo + step * (b as f32 + 0.5)))
        .collect();
    let shown: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i % (bins / 8).max(1) == 0 {
                l.clone()
            } else {
                String::new()
            }
        })
        .collect();
    bar_chart(
        title,
        x_label,
        "count",
        &shown,
        &[("values".to_string(), counts)],
    )
}

/// A heatmap of a square count matrix with the counts written in the cells (rows from the top).
pub fn heatmap(title: &str, x_label: &str, y_label: &str, counts: &[Vec<u64>]) -> Result<Png> {
    let n = counts.len();
    ensure!(
        n > 0 && counts.iter().all(|r| r.len() == n),
        "heatmap {title:?} needs a square matrix"
    );
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    render(640, 620, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        let digits: Vec<String> = (0..n).map(|d| d.to_string()).collect();
        let reversed: Vec<String> = digits.iter().rev().cloned().collect();
        let x_label_of = |x: &f64| category_label(&digits, *x);
        let y_label_of = |y: &f64| category_label(&reversed, *y);
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(54)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, -0.5..n as f64 - 0.5)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&x_label_of)
            .y_label_formatter(&y_label_of)
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style((FONT, 13))
            .draw()
            .map_err(plot_err)?;
        for (t, row) in counts.iter().enumerate() {
            for (p, &c) in row.iter().enumerate() {
                let (x, y) = (p as f64, (n - 1 - t) as f64);
                let level = (1.0 + c as f64).ln() / (1.0 + max).ln(); // log scale: small errors stay visible
                let fill = RGBColor(
                    255 - (level * 200.0) as u8,
                    255 - (level * 140.0) as u8,
                    255,
                );
                chart
                    .draw_series([Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        fill.filled(),
                    )])
                    .map_err(plot_err)?;
                let ink = if level > 0.6 { WHITE } else { BLACK };
                let style = (FONT, 13)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                chart
                    .draw_series([Text::new(c.to_string(), (x, y), style)])
                    .map_err(plot_err)?;
            }
        }
        Ok(())
    })
}

/// A grid of 28x28 images with a caption above each, `cols` per row, under a title.
pub(crate) fn image_grid(
    title: &str,
    images: &[Vec<f32>],
    captions: &[String],
    cols: usize,
    palette: ColorMap,
) -> Result<Png> {
    ensure!(
        images.iter().all(|im| im.len() == 784),
        "image grid {title:?}: every image needs 784 pixels"
    );
    let scales: Vec<f32> = images
        .iter()
        .map(|im| im.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6))
        .collect();
    pixel_grid(title, images.len(), captions, cols, |i, px| {
        pixel_color(images[i][px], scales[i], palette)
    })
}

/// [`image_grid`] of digits in MNIST's gray.
pub(crate) fn digit_grid(
    title: &str,
    images: &[Vec<f32>],
    captions: &[String],
    cols: usize,
) -> Result<Png> {
    image_grid(title, images, captions, cols, ColorMap::Gray)
}

/// A grid of `n` 28x28 pictures whose pixel `px` of picture `i` has colour `color(i, px)`, each
/// with a caption above it, `cols` per row, under a title.
pub fn pixel_grid(
    title: &str,
    n: usize,
    captions: &[String],
    cols: usize,
    color: impl Fn(usize, usize) -> RGBColor,
) -> Result<Png> {
    ensure!(n > 0 && cols > 0, "image grid {title:?} has no images");
    let rows = n.div_ceil(cols);
    let longest = captions
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0) as u32;
    let (cell_w, cell_h) = (
        (28 * IMAGE_SCALE + 40).max(longest * 7 + 14),
        28 * IMAGE_SCALE + 24,
    );
    let (width, height) = (cols as u32 * cell_w, rows as u32 * cell_h + 40);
    render(width, height, |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        let body = root.titled(title, (FONT, 20)).map_err(plot_err)?;
        let cells = body.split_evenly((rows, cols));
        for (i, cell) in cells.iter().enumerate().take(n) {
            let caption = captions.get(i).map(String::as_str).unwrap_or("");
            draw_picture(cell, caption, |px| color(i, px))?;
        }
        Ok(())
    })
}

/// One 28x28 picture with its caption inside a grid cell.
fn draw_picture(
    cell: &DrawingArea<BitMapBackend, Shift>,
    caption: &str,
    color: impl Fn(usize) -> RGBColor,
) -> Result<()> {
    let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    let (w, _) = cell.dim_in_pixel();
    cell.draw(&Text::new(caption, (w as i32 / 2, 2), style))
        .map_err(plot_err)?;
    let left = (w as i32 - 28 * IMAGE_SCALE as i32) / 2;
    let s = IMAGE_SCALE as i32;
    for px in 0..784 {
        let (x, y) = (left + (px % 28) as i32 * s, 20 + (px / 28) as i32 * s);
        cell.draw(&Rectangle::new(
            [(x, y), (x + s, y + s)],
            color(px).filled(),
        ))
        .map_err(plot_err)?;
    }
    Ok(())
}

/// The colour of one pixel value.
fn pixel_color(v: f32, scale: f32, palette: ColorMap) -> RGBColor {
    match palette {
        ColorMap::Gray => {
            let g = (v.clamp(0.0, 1.0) * 255.0) as u8;
            RGBColor(g, g, g)
        }
        ColorMap::Diverging => {
            let t = (v / scale).clamp(-1.0, 1.0);
            let fade = (255.0 * (1.0 - t.abs())) as u8;
            if t >= 0.0 {
                RGBColor(255, fade, fade)
            } else {
                RGBColor(fade, fade, 255)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_goes_where_no_line_runs() {
        let epochs = |f: fn(f64) -> f64| (1..=10).map(|e| (e as f64, f(e as f64))).collect();
        let rising: Vec<(f64, f64)> = epochs(|e| 90.0 + e); // accuracy: empty lower right
        let falling: Vec<(f64, f64)> = epochs(|e| 1.0 / e); // loss: empty upper right
        let (xs, ys) = (0.5..10.5, 90.0..101.0);
        let corner = free_corner(&[&rising, &rising], &xs, &ys);
        assert_eq!(format!("{corner:?}"), "LowerRight");
        let corner = free_corner(&[&falling], &xs, &(0.0..1.1));
        assert_eq!(format!("{corner:?}"), "UpperRight");
        // A line through the lower right and the upper left: one of the other corners.
        let diagonal = [(0.5, 101.0), (10.5, 90.0)];
        let corner = format!("{:?}", free_corner(&[&diagonal], &xs, &ys));
        assert!(corner == "UpperRight" || corner == "LowerLeft", "{corner}");
    }

    /// Width, height and whether any pixel is dark, of an RGB PNG.
    fn decode(png: &[u8]) -> (u32, u32, bool) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info.width, info.height, buf.iter().any(|&b| b < 128))
    }

    #[test]
    fn charts_are_pngs_of_the_right_size() {
        let s = vec![Series::new("train", vec![(1.0, 0.5), (2.0, 0.3)])];
        let png = line_chart("Loss", "epoch", "loss", &s).unwrap();
        assert_eq!(decode(&png.0), (760, 440, true), "something was drawn");
    }

    #[test]
    fn grid_and_heatmap_render() {
        let images = vec![vec![0.5f32; 784]; 3];
        let grid = image_grid(
            "digits",
            &images,
            &["a".into(), "b".into(), "c".into()],
            2,
            ColorMap::Gray,
        )
        .unwrap();
        assert_eq!(decode(&grid.0).0, 2 * (28 * IMAGE_SCALE + 40));
        let counts: Vec<Vec<u64>> = (0..10)
            .map(|i| (0..10).map(|j| (i * j) as u64).collect())
            .collect();
        heatmap("cm", "predicted", "true", &counts).unwrap();
        assert!(line_chart("empty", "x", "y", &[]).is_err());
    }
}
