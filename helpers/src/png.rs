//! Encoding chart bitmaps as PNG.

use anyhow::Result;

/// Encodes an 8-bit RGB buffer (`width * height * 3` bytes) as PNG.
///
/// zlib level 6 (`Compression::Balanced`) with no row filter: charts are flat colours with
/// anti-aliased edges, and unfiltered rows keep their long repeats, which deflate finds. On
/// notebook 07's 1120x520 maps this makes 74 KB and 64 KB where the fast setting (fdeflate,
/// adaptive filters) made 251 KB and 234 KB, and adaptive filters at level 6 120 KB and 99 KB;
/// it takes about 25 ms a map instead of 3 ms.
pub fn encode_rgb_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Balanced);
    // After set_compression, which also picks a filter (adaptive).
    encoder.set_filter(png::Filter::NoFilter);
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

    #[test]
    fn round_trips_and_compresses_a_flat_chart() {
        // A white 600x400 chart with coloured dots: the pixels come back unchanged, in a
        // fraction of the raw 720,000 bytes.
        let (w, h) = (600u32, 400u32);
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        for i in 0..2000u32 {
            let (x, y) = ((i * 7919) % (w - 4), (i * 104_729) % (h - 4));
            let colour = [(i % 10 * 25) as u8, (i % 7 * 36) as u8, 128];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (1, 2)] {
                let at = (((y + dy) * w + x + dx) * 3) as usize;
                rgb[at..at + 3].copy_from_slice(&colour);
            }
        }
        let png = encode_rgb_png(w, h, &rgb).unwrap();
        assert!(png.len() < 60_000, "{} bytes", png.len());
        let mut reader = png::Decoder::new(std::io::Cursor::new(&png))
            .read_info()
            .unwrap();
        let mut back = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut back).unwrap();
        assert_eq!(&back[..info.buffer_size()], &rgb[..]);
    }
}
