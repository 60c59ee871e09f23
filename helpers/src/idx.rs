//! The IDX file format of MNIST (raw or gzip-compressed): parsing and validation.

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// The data type byte of unsigned-byte IDX files, the only kind MNIST uses.
const UBYTE: u8 = 0x08;
/// The two bytes that open every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The most bytes a gzip file may expand to (MNIST's largest file is 47 MB).
pub const MAX_GUNZIPPED: u64 = 256 << 20;

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The size of each dimension, outermost first.
    pub dims: Vec<usize>,
    /// The file's bytes, header included (kept as read: no copy of 47 MB to drop 16 bytes).
    bytes: Vec<u8>,
    /// Where the values start in `bytes`.
    offset: usize,
}

impl IdxArray {
    /// The values in row-major order.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.offset..]
    }
}

/// Reads an IDX file, decompressing it first when it is gzip data. Errors name the file.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bytes = read_maybe_gz(path)?;
    parse_idx_vec(bytes).with_context(|| format!("{}", path.display()))
}

/// The bytes of a file, gunzipped when they start with the gzip magic number.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        bail!("{}: is a directory, expected a file", path.display());
    }
    let raw = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    gunzip_if_gzip(raw).with_context(|| path.display().to_string())
}

/// Gunzips bytes that start with the gzip magic number; returns other bytes as they are.
pub fn gunzip_if_gzip(raw: Vec<u8>) -> Result<Vec<u8>> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    GzDecoder::new(raw.as_slice())
        .take(MAX_GUNZIPPED + 1)
        .read_to_end(&mut out)
        .context("corrupt or truncated gzip data")?;
    if out.len() as u64 > MAX_GUNZIPPED {
        bail!(
            "gzip data expands beyond {} MiB, far more than any MNIST file",
            MAX_GUNZIPPED >> 20
        );
    }
    Ok(out)
}

/// Parses IDX bytes: magic number, dimensions, and exactly as many data bytes as they promise.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray> {
    parse_idx_vec(bytes.to_vec())
}

/// [`parse_idx`] taking ownership: the values stay in the buffer they were read into.
pub(crate) fn parse_idx_vec(bytes: Vec<u8>) -> Result<IdxArray> {
    let (dims, offset) = check_header(&bytes)?;
    Ok(IdxArray {
        dims,
        bytes,
        offset,
    })
}

/// Validates magic number, dimensions and length; returns the dimensions and the header's size.
fn check_header(bytes: &[u8]) -> Result<(Vec<usize>, usize)> {
    if bytes.len() < 4 {
        bail!(
            "not an IDX file: {} bytes, shorter than the 4-byte header",
            bytes.len()
        );
    }
    let (zeros, kind, ndims) = (&bytes[..2], bytes[2], bytes[3] as usize);
    if zeros != [0, 0] || kind != UBYTE || ndims == 0 {
        bail!(
            "not an IDX file of bytes: wrong magic number {:02x?}",
            &bytes[..4]
        );
    }
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        bail!(
            "truncated header: {ndims} dimensions need {header_len} bytes, file has {}",
            bytes.len()
        );
    }
    let dims = read_dims(&bytes[4..header_len]);
    let expected = expected_data_len(&dims)?;
    let actual = bytes.len() - header_len;
    if actual != expected {
        bail!("dimensions {dims:?} need {expected} data bytes, file has {actual} (truncated or padded)");
    }
    Ok((dims, header_len))
}

/// Big-endian u32 dimension sizes.
fn read_dims(header: &[u8]) -> Vec<usize> {
    header
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect()
}

/// The number of data bytes that `dims` describe, refusing sizes that overflow.
fn expected_data_len(dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("dimensions {dims:?} are impossibly large"))
}

/// Encodes bytes as an IDX file (used by tests and tools that write MNIST-like data).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = encode_idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let arr = parse_idx(&bytes).unwrap();
        assert_eq!(arr.dims, vec![2, 3]);
        assert_eq!(arr.data(), &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_bad_headers_and_lengths() {
        let good = encode_idx(&[2, 2], &[0; 4]);
        let cases: Vec<(&[u8], &str)> = vec![
            (&[], "shorter than"),
            (&[0, 0, 8], "shorter than"),
            (&[0, 0, 9, 1, 0, 0, 0, 0], "magic"),
            (&[0, 0, 8, 0], "magic"),
            (&good[..6], "truncated header"),
            (&good[..good.len() - 1], "truncated"),
        ];
        for (bytes, msg) in cases {
            let err = parse_idx(bytes).unwrap_err().to_string();
            assert!(err.contains(msg), "{err:?} should mention {msg:?}");
        }
    }

    #[test]
    fn rejects_overflowing_dims() {
        let bytes = encode_idx(
            &[u32::MAX as usize, u32::MAX as usize, u32::MAX as usize],
            &[],
        );
        let err = parse_idx(&bytes).unwrap_err().to_string();
        assert!(err.contains("large") || err.contains("need"), "{err}");
    }
}
