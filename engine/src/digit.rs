//! Turning a user's PNG into an MNIST-like digit, as `mnist predict` reads it.

use anyhow::{bail, Context, Result};
use mnist_helpers::data::{IMAGE_PIXELS, IMAGE_SIDE};
use std::io::Cursor;
use std::path::Path;
use tch::Tensor;

/// The most bytes a decoded PNG may take; larger images are refused before they are decoded.
pub const MAX_DECODED_BYTES: usize = 64 << 20;
/// MNIST digits fit a 20x20 box inside the 28x28 image.
const DIGIT_BOX: usize = 20;

/// A decoded image as gray values in [0, 1], row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` values, 0 black, 1 white.
    pub pixels: Vec<f32>,
}

/// Decodes PNG bytes (gray, RGB, palette, with or without alpha, 8 or 16 bits) to gray.
pub fn decode_png_gray(bytes: &[u8]) -> Result<GrayImage> {
    let limits = png::Limits {
        bytes: MAX_DECODED_BYTES,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(describe_png_error)?;
    let size = reader
        .output_buffer_size()
        .filter(|&n| n <= MAX_DECODED_BYTES);
    let size = size.with_context(|| {
        let info = reader.info();
        format!(
            "image too large: {}x{} pixels (at most {} MiB decoded)",
            info.width,
            info.height,
            MAX_DECODED_BYTES >> 20
        )
    })?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(describe_png_error)?;
    let channels = info.color_type.samples();
    let (width, height) = (info.width as usize, info.height as usize);
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|px| to_gray(px, info.color_type))
        .collect();
    Ok(GrayImage {
        width,
        height,
        pixels,
    })
}

/// One line for a PNG decoding error.
fn describe_png_error(e: png::DecodingError) -> anyhow::Error {
    match e {
        png::DecodingError::LimitsExceeded => {
            anyhow::anyhow!(
                "image too large (over {} MiB decoded)",
                MAX_DECODED_BYTES >> 20
            )
        }
        other => anyhow::anyhow!("not a valid PNG ({other})"),
    }
}

/// One pixel to gray in [0, 1]; transparent parts count as white paper.
fn to_gray(px: &[u8], color: png::ColorType) -> f32 {
    let v = |i: usize| px[i] as f32 / 255.0;
    let (gray, alpha) = match color {
        png::ColorType::Grayscale => (v(0), 1.0),
        png::ColorType::GrayscaleAlpha => (v(0), v(1)),
        png::ColorType::Rgb => (0.299 * v(0) + 0.587 * v(1) + 0.114 * v(2), 1.0),
        _ => (0.299 * v(0) + 0.587 * v(1) + 0.114 * v(2), v(3)),
    };
    gray * alpha + (1.0 - alpha)
}

/// Reads a PNG file and prepares it like an MNIST digit: [1, 1, 28, 28] f32 in [0, 1].
pub fn load_digit_png(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let image = decode_png_gray(&bytes).with_context(|| path.display().to_string())?;
    if image.width == 0 || image.height == 0 {
        bail!("{}: image has no pixels", path.display());
    }
    let pixels = to_mnist_layout(&image);
    Ok(Tensor::from_slice(&pixels).view([1, 1, IMAGE_SIDE, IMAGE_SIDE]))
}

/// White digit on black, cropped to its ink, scaled into a 20x20 box and placed in 28x28 with its
/// centre of mass in the middle, as MNIST's own images were made.
/// A 28x28 image is taken as already laid out like MNIST and only inverted if needed.
pub fn to_mnist_layout(image: &GrayImage) -> Vec<f32> {
    let mean = image.pixels.iter().sum::<f32>() / image.pixels.len() as f32;
    let ink: Vec<f32> = image
        .pixels
        .iter()
        .map(|&p| if mean > 0.5 { 1.0 - p } else { p })
        .collect();
    let side = IMAGE_SIDE as usize;
    if image.width == side && image.height == side {
        return ink;
    }
    let ink = GrayImage {
        width: image.width,
        height: image.height,
        pixels: ink,
    };
    let Some((x0, y0, x1, y1)) = ink_bounds(&ink) else {
        return vec![0.0; IMAGE_PIXELS as usize];
    };
    let (w, h) = (x1 - x0, y1 - y0);
    let scale = DIGIT_BOX as f32 / w.max(h) as f32;
    let (nw, nh) = (
        ((w as f32 * scale).round() as usize).max(1),
        ((h as f32 * scale).round() as usize).max(1),
    );
    let small = resize_area(&crop(&ink, x0, y0, w, h), nw, nh);
    center_by_mass(&paste_centered(&small, side), side)
}

/// Shifts a `side` x `side` image so that its centre of mass lands on the middle pixel.
fn center_by_mass(pixels: &[f32], side: usize) -> Vec<f32> {
    let total: f32 = pixels.iter().sum();
    if total <= 0.0 {
        return pixels.to_vec();
    }
    let moment = |axis: fn(usize, usize) -> usize| {
        pixels
            .iter()
            .enumerate()
            .map(|(i, &p)| p * axis(i, side) as f32)
            .sum::<f32>()
            / total
    };
    let (cx, cy) = (moment(|i, s| i % s), moment(|i, s| i / s));
    let middle = (side as f32 - 1.0) / 2.0;
    let (dx, dy) = (
        (middle - cx).round() as isize,
        (middle - cy).round() as isize,
    );
    let mut out = vec![0.0; side * side];
    for (i, &p) in pixels.iter().enumerate() {
        let (x, y) = ((i % side) as isize + dx, (i / side) as isize + dy);
        if (0..side as isize).contains(&x) && (0..side as isize).contains(&y) {
            out[y as usize * side + x as usize] = p;
        }
    }
    out
}

/// The box (x0, y0, x1, y1), end exclusive, holding every pixel brighter than a faint threshold.
fn ink_bounds(img: &GrayImage) -> Option<(usize, usize, usize, usize)> {
    let mut bounds: Option<(usize, usize, usize, usize)> = None;
    for (i, _) in img.pixels.iter().enumerate().filter(|(_, &p)| p > 0.2) {
        let (x, y) = (i % img.width, i / img.width);
        let b = bounds.get_or_insert((x, y, x + 1, y + 1));
        *b = (b.0.min(x), b.1.min(y), b.2.max(x + 1), b.3.max(y + 1));
    }
    bounds
}

/// The `w` x `h` part of `img` starting at (x0, y0).
fn crop(img: &GrayImage, x0: usize, y0: usize, w: usize, h: usize) -> GrayImage {
    let pixels = (y0..y0 + h).flat_map(|y| (x0..x0 + w).map(move |x| (x, y)));
    GrayImage {
        width: w,
        height: h,
        pixels: pixels.map(|(x, y)| img.pixels[y * img.width + x]).collect(),
    }
}

/// Resizes by averaging the source area under each target pixel (good for shrinking).
pub fn resize_area(img: &GrayImage, nw: usize, nh: usize) -> GrayImage {
    let (sx, sy) = (img.width as f32 / nw as f32, img.height as f32 / nh as f32);
    let mut pixels = Vec::with_capacity(nw * nh);
    for ty in 0..nh {
        let (ya, yb) = span(ty, sy, img.height);
        for tx in 0..nw {
            let (xa, xb) = span(tx, sx, img.width);
            let sum: f32 = (ya..yb)
                .flat_map(|y| (xa..xb).map(move |x| (x, y)))
                .map(|(x, y)| img.pixels[y * img.width + x])
                .sum();
            pixels.push(sum / ((yb - ya) * (xb - xa)) as f32);
        }
    }
    GrayImage {
        width: nw,
        height: nh,
        pixels,
    }
}

/// The source index range under target index `t` at scale `s`, at least one pixel wide.
fn span(t: usize, s: f32, limit: usize) -> (usize, usize) {
    let a = ((t as f32 * s) as usize).min(limit - 1);
    let b = (((t + 1) as f32 * s).ceil() as usize).clamp(a + 1, limit);
    (a, b)
}

/// Places `img` in the middle of a black `side` x `side` canvas.
fn paste_centered(img: &GrayImage, side: usize) -> Vec<f32> {
    let mut canvas = vec![0.0; side * side];
    let (ox, oy) = ((side - img.width) / 2, (side - img.height) / 2);
    for y in 0..img.height {
        let row = &img.pixels[y * img.width..(y + 1) * img.width];
        canvas[(oy + y) * side + ox..(oy + y) * side + ox + img.width].copy_from_slice(row);
    }
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    use mnist_helpers::png::encode_rgb_png;

    #[test]
    fn png_round_trip_through_gray() {
        let rgb: Vec<u8> = (0..4 * 2).flat_map(|i| [i as u8 * 30; 3]).collect();
        let png = encode_rgb_png(4, 2, &rgb).unwrap();
        let gray = decode_png_gray(&png).unwrap();
        assert_eq!((gray.width, gray.height), (4, 2));
        assert!((gray.pixels[1] - 30.0 / 255.0).abs() < 1e-3);
    }

    #[test]
    fn rejects_non_png() {
        let err = decode_png_gray(b"hello, not a png")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid PNG"), "{err}");
    }

    #[test]
    fn black_on_white_digit_becomes_centred_white_on_black() {
        let (w, h) = (100, 60);
        let mut pixels = vec![1.0; w * h];
        for y in 10..50 {
            for x in 5..25 {
                pixels[y * w + x] = 0.0;
            }
        }
        let out = to_mnist_layout(&GrayImage {
            width: w,
            height: h,
            pixels,
        });
        assert_eq!(out.len(), 784);
        assert_eq!(out[0], 0.0);
        assert!(out[14 * 28 + 14] > 0.9, "centre should hold ink");
        let ink_rows = (0..28).filter(|y| out[y * 28 + 14] > 0.5).count();
        assert_eq!(ink_rows, 20);
    }
}
