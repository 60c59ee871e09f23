//! Encoding chart bitmaps as PNG.

use anyhow::Result;

/// Encodes an 8-bit RGB buffer (`width * height * 3` bytes) as PNG.
pub fn encode_rgb_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_signature() {
        let png = encode_rgb_png(2, 1, &[0, 0, 0, 255, 255, 255]).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(encode_rgb_png(2, 2, &[0; 3]).is_err(), "too few bytes");
    }
}
