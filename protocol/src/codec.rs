//! A bounded reader over a byte slice: the one way binary parsers in this crate consume input.
//!
//! Every read checks the remaining length first and returns [`CodecError`] instead of panicking
//! or allocating on a length the input claims but does not have. Parsers finish with
//! [`Reader::expect_end`] so trailing bytes are an error, not silently ignored.
//! This module must never allocate based on an untrusted length before checking it.

use thiserror::Error;

/// Why a byte-level read failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The input ended before a field was complete.
    #[error("truncated: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The input has bytes after the last field.
    #[error("{count} trailing bytes after {what}")]
    TrailingBytes {
        /// The structure that should have ended.
        what: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
}

/// A cursor over a borrowed byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        if self.remaining() < n {
            return Err(CodecError::Truncated {
                what,
                needed: n,
                available: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// Takes everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian u16.
    pub fn u16_le(&mut self, what: &'static str) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u32.
    pub fn u32_le(&mut self, what: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a big-endian u32.
    pub fn u32_be(&mut self, what: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// A sub-reader over the next `n` bytes; this reader moves past them.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, CodecError> {
        Ok(Reader::new(self.take(n, what)?))
    }

    /// Fails if any byte is left.
    pub fn expect_end(&self, what: &'static str) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(CodecError::TrailingBytes { what, count }),
        }
    }
}

/// Decodes lowercase or uppercase hex, ignoring nothing: used by tools and tests, not hot paths.
pub fn hex_decode(text: &str) -> Result<Vec<u8>, HexError> {
    let text = text.trim();
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(HexError::OddLength(digits.len()));
    }
    let nibble = |i: usize| -> Result<u8, HexError> {
        let c = digits[i];
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(HexError::BadDigit {
                position: i,
                found: char::from(c),
            }),
        }
    };
    (0..digits.len() / 2)
        .map(|i| Ok(nibble(2 * i)? << 4 | nibble(2 * i + 1)?))
        .collect()
}

/// Encodes bytes as lowercase hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Why a hex string did not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HexError {
    /// Hex needs two digits a byte.
    #[error("hex has an odd number of digits ({0})")]
    OddLength(usize),
    /// A character that is not a hex digit.
    #[error("not a hex digit at position {position}: {found:?}")]
    BadDigit {
        /// Index of the character.
        position: usize,
        /// The character found.
        found: char,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_and_reports_truncation() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16_le("x"), Ok(0x0201));
        assert_eq!(
            r.u16_le("y"),
            Err(CodecError::Truncated {
                what: "y",
                needed: 2,
                available: 1
            })
        );
        assert_eq!(
            r.expect_end("z"),
            Err(CodecError::TrailingBytes {
                what: "z",
                count: 1
            })
        );
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(hex_decode(&hex_encode(&bytes)), Ok(bytes));
        }

        #[test]
        fn hex_never_panics(text in ".{0,40}") {
            let _ = hex_decode(&text);
        }
    }
}
