//! Whole-buffer raw DEFLATE decoding with libdeflate: the fast path for gzip members.
//!
//! libdeflate decodes a complete DEFLATE stream in one call, much faster than a streaming
//! inflater, and reports how many input bytes the stream used — exactly what stepping from
//! one gzip member to the next needs. It needs room for the whole output; when the caller's
//! buffer is too small it says so, and the caller grows the buffer or falls back to the
//! streaming decoder.

use std::ptr::NonNull;

use libdeflate_sys as sys;

/// What one [`Inflater::inflate`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inflated {
    /// The stream ended: `consumed` input bytes were used, its output appended.
    Done { consumed: usize },
    /// The output does not fit in the buffer's spare capacity; nothing was appended.
    NoRoom,
    /// The data is not a valid DEFLATE stream (or it is cut short); nothing was appended.
    Bad,
}

/// A libdeflate decompressor.
pub struct Inflater {
    raw: NonNull<sys::libdeflate_decompressor>,
}

// SAFETY: a libdeflate decompressor is plain memory with no thread affinity; `&mut self`
// on every use keeps it from being used by two threads at once.
unsafe impl Send for Inflater {}

impl Inflater {
    /// A new decompressor, or `None` if libdeflate cannot allocate one.
    pub fn new() -> Option<Inflater> {
        // SAFETY: no preconditions; a null return means allocation failed.
        NonNull::new(unsafe { sys::libdeflate_alloc_decompressor() }).map(|raw| Inflater { raw })
    }

    /// Decodes the DEFLATE stream at the start of `input`, appending its output to `out`
    /// if it fits in `out`'s spare capacity.
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) -> Inflated {
        let spare = out.spare_capacity_mut();
        let (mut consumed, mut produced) = (0usize, 0usize);
        // SAFETY: `input` is valid for reads of `input.len()` bytes and `spare` for writes of
        // `spare.len()` bytes; libdeflate writes at most that many bytes and reports, in
        // `produced`, how many it wrote. The decompressor is live and used by no one else.
        let result = unsafe {
            sys::libdeflate_deflate_decompress_ex(
                self.raw.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                &mut consumed,
                &mut produced,
            )
        };
        match result {
            sys::libdeflate_result_LIBDEFLATE_SUCCESS => {
                let produced = produced.min(spare.len());
                // SAFETY: libdeflate initialized the first `produced` spare bytes.
                unsafe { out.set_len(out.len() + produced) };
                Inflated::Done {
                    consumed: consumed.min(input.len()),
                }
            }
            sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Inflated::NoRoom,
            _ => Inflated::Bad,
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `libdeflate_alloc_decompressor` and is freed once.
        unsafe { sys::libdeflate_free_decompressor(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn whole_streams_report_their_length() {
        let text = b"the quick brown fox ".repeat(50);
        let mut input = deflate(&text);
        let len = input.len();
        input.extend_from_slice(b"trailing bytes");
        let mut inflater = Inflater::new().unwrap();
        let mut out = b"kept".to_vec();
        out.reserve(text.len());
        assert_eq!(
            inflater.inflate(&input, &mut out),
            Inflated::Done { consumed: len }
        );
        assert_eq!(&out[4..], &text[..]);
        assert_eq!(&out[..4], b"kept");
    }

    #[test]
    fn no_room_and_bad_data_append_nothing() {
        let text = b"abcdefgh".repeat(100);
        let input = deflate(&text);
        let mut inflater = Inflater::new().unwrap();
        let mut out = Vec::with_capacity(10);
        assert_eq!(inflater.inflate(&input, &mut out), Inflated::NoRoom);
        assert!(out.is_empty());
        let mut out = Vec::with_capacity(4096);
        assert_eq!(
            inflater.inflate(&input[..input.len() / 2], &mut out),
            Inflated::Bad
        );
        assert_eq!(inflater.inflate(b"\xff\xff\xff", &mut out), Inflated::Bad);
        assert!(out.is_empty());
    }
}
