//! The two deflaters: libdeflate for entries in hand, zlib-rs (`flate2`) for entries that stream.

/// libdeflate level 1 for the entries deflated whole (each `data.json`, the report's pages,
/// `export_details.json`): as small as zlib's level 2 on these files at twice its speed (the
/// export is CPU-bound without images, and zlib spent more time clearing its tables between two
/// 1 kB entries than compressing them). Previews estimate with the same [`Deflater`].
pub const DEFLATE_LEVEL: i32 = 1;

/// zlib level 2 for the entries deflated as they stream (`all_data.csv`, `report.html`), which
/// libdeflate cannot do: they still shrink about sixfold at a fraction of level 6's CPU time.
pub const STREAM_DEFLATE_LEVEL: u32 = 2;

/// Deflates an entry whose bytes are all in hand, in one call.
pub struct Deflater(libdeflater::Compressor);

impl Default for Deflater {
    fn default() -> Self {
        Self(libdeflater::Compressor::new(
            libdeflater::CompressionLvl::new(DEFLATE_LEVEL).unwrap_or_else(|_| libdeflater::CompressionLvl::fastest()),
        ))
    }
}

impl Deflater {
    /// `data` deflated into `out` (replacing what it held), when that is smaller than `data`;
    /// `false` (and `out` empty) when it is not, and the entry is better stored as it is.
    pub fn deflate(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        // libdeflate stops, answering 0, as soon as its output would not fit: a buffer one byte
        // shorter than the input asks exactly "does it shrink?".
        out.resize(data.len().saturating_sub(1), 0);
        let written = self.0.deflate_compress(data, out).unwrap_or(0);
        out.truncate(written);
        written > 0
    }
}

/// A streaming deflater at [`STREAM_DEFLATE_LEVEL`] into `out`.
pub fn stream_encoder<W: std::io::Write>(out: W) -> flate2::write::DeflateEncoder<W> {
    flate2::write::DeflateEncoder::new(out, flate2::Compression::new(STREAM_DEFLATE_LEVEL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deflated_entries_inflate_back_and_what_would_not_shrink_is_left_alone() {
        let mut deflater = Deflater::default();
        let mut out = vec![1, 2, 3];
        let text = "{\"observation\": {\"platform\": \"FACEBOOK\"}}\n".repeat(40);
        assert!(deflater.deflate(text.as_bytes(), &mut out));
        assert!(out.len() < text.len() / 10, "{} bytes", out.len());
        let mut back = vec![0; text.len()];
        let n = libdeflater::Decompressor::new().deflate_decompress(&out, &mut back).unwrap();
        assert_eq!(&back[..n], text.as_bytes());
        // Bytes that do not shrink (a short or random-looking entry), and nothing at all.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        for data in [&b"x"[..], &noise, &[]] {
            assert!(!deflater.deflate(data, &mut out), "{} bytes", data.len());
            assert!(out.is_empty());
        }
    }
}
