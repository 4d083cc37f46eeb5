//! Optional compression of the body before it is sealed.
//!
//! Raw deflate (RFC 1951) from `miniz_oxide`: pure Rust without `unsafe`,
//! maintained as the backend of `flate2` (so most applications already
//! build it), and with a decompressor that takes an output limit. Deflate
//! compresses the small, repetitive payloads of a session (JSON keys,
//! repeated field names, ids) better than the LZ4 family, which trades
//! ratio for speed that a 4 KB cookie does not need; a cookie is about
//! bytes. There is no zlib or gzip wrapper: the seal already authenticates
//! the bytes, so a checksum would only cost room.

use miniz_oxide::deflate::compress_to_vec;
use miniz_oxide::inflate::decompress_to_vec_with_limit;

/// miniz's level 9 ("best"): on payloads of a few kilobytes it costs
/// microseconds more than the default level and saves a few more bytes.
const LEVEL: u8 = 9;

/// When and how far to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compression {
    /// Bodies of at least this many bytes are compressed.
    pub(crate) threshold: usize,
    /// Largest body a compressed cookie may inflate to.
    pub(crate) max_inflated: usize,
}

impl Compression {
    /// The deflated body, when compression applies and actually saves bytes.
    pub(crate) fn try_deflate(&self, body: &[u8]) -> Option<Vec<u8>> {
        // A body over the inflate limit would seal a cookie that never opens
        // again: leave it uncompressed (and most likely too large, which
        // the commit then reports).
        if body.len() < self.threshold || body.len() > self.max_inflated {
            return None;
        }
        let deflated = compress_to_vec(body, LEVEL);
        (deflated.len() < body.len()).then_some(deflated)
    }
}

/// Inflates at most `limit` bytes; `None` for a stream that is broken or
/// would grow beyond the limit, so a crafted payload cannot make us allocate
/// much.
pub(crate) fn inflate(payload: &[u8], limit: usize) -> Option<Vec<u8>> {
    decompress_to_vec_with_limit(payload, limit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: Compression = Compression {
        threshold: 100,
        max_inflated: 64 * 1024,
    };

    #[test]
    fn round_trip_when_it_pays() {
        let body = b"item,".repeat(200);
        let deflated = ON.try_deflate(&body).expect("repetitive data shrinks");
        assert!(deflated.len() < body.len() / 10, "{}", deflated.len());
        assert_eq!(inflate(&deflated, ON.max_inflated).unwrap(), body);
    }

    #[test]
    fn small_incompressible_or_oversized_bodies_stay_raw() {
        assert_eq!(ON.try_deflate(&[7u8; 99]), None);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..400)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert_eq!(ON.try_deflate(&noise), None);
        let tight = Compression {
            threshold: 10,
            max_inflated: 500,
        };
        assert_eq!(tight.try_deflate(&[0u8; 501]), None);
    }

    #[test]
    fn inflating_beyond_the_limit_is_refused() {
        let bomb = compress_to_vec(&vec![0u8; 1 << 20], LEVEL);
        assert!(bomb.len() < 2048, "{}", bomb.len());
        assert_eq!(inflate(&bomb, 64 * 1024), None);
        assert_eq!(inflate(b"not deflate at all", 1024), None);
    }
}
