//! Parser for the `.npy` header: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (1257, 64), }`.
//!
//! Only the three keys numpy writes are accepted, each exactly once; every index is bounds-checked,
//! so arbitrary bytes produce an error, never a panic.

use crate::error::NpyError;

/// Largest number of dimensions accepted (numpy's own limit is 64).
pub const MAX_RANK: usize = 32;

/// The parsed header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The dtype descriptor, e.g. `<f4`.
    pub descr: String,
    /// Whether the data is column-major.
    pub fortran_order: bool,
    /// Array shape; empty for a scalar.
    pub shape: Vec<usize>,
}

fn malformed(msg: impl Into<String>) -> NpyError {
    NpyError::MalformedHeader(msg.into())
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, ch: u8) -> Result<(), NpyError> {
        match self.peek() {
            Some(b) if b == ch => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => Err(malformed(format!(
                "expected '{}' at byte {}, found '{}'",
                ch as char, self.pos, b as char
            ))),
            None => Err(malformed(format!("expected '{}', found end", ch as char))),
        }
    }

    fn string(&mut self) -> Result<&'a str, NpyError> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(malformed(format!("expected a string at byte {}", self.pos))),
        };
        let start = self.pos + 1;
        let len = self
            .bytes
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == quote))
            .ok_or_else(|| malformed("unterminated string"))?;
        self.pos = start + len + 1;
        std::str::from_utf8(&self.bytes[start..start + len])
            .map_err(|_| malformed("string is not UTF-8"))
    }

    fn word(&mut self) -> &'a [u8] {
        self.skip_ws();
        let start = self.pos;
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }

    fn boolean(&mut self) -> Result<bool, NpyError> {
        match self.word() {
            b"True" => Ok(true),
            b"False" => Ok(false),
            other => Err(malformed(format!(
                "expected True or False, found {:?}",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    fn shape(&mut self) -> Result<Vec<usize>, NpyError> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.peek() == Some(b')') {
                self.pos += 1;
                return Ok(dims);
            }
            let word = self.word();
            // Python 2 era files may write `64L`.
            let digits = word.strip_suffix(b"L").unwrap_or(word);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(malformed(format!(
                    "bad dimension {:?} in shape",
                    String::from_utf8_lossy(word)
                )));
            }
            let text = std::str::from_utf8(digits).map_err(|_| malformed("bad dimension"))?;
            let dim: usize = text
                .parse()
                .map_err(|_| malformed(format!("dimension {text} does not fit in usize")))?;
            if dims.len() == MAX_RANK {
                return Err(malformed(format!("more than {MAX_RANK} dimensions")));
            }
            dims.push(dim);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {}
                _ => return Err(malformed("expected ',' or ')' in shape")),
            }
        }
    }
}

/// Parses the header dictionary text (without the preamble).
pub fn parse_header(text: &[u8]) -> Result<Header, NpyError> {
    let mut cur = Cursor {
        bytes: text,
        pos: 0,
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    cur.expect(b'{')?;
    loop {
        if cur.peek() == Some(b'}') {
            cur.pos += 1;
            break;
        }
        let key = cur.string()?;
        cur.expect(b':')?;
        match key {
            "descr" if descr.is_none() => descr = Some(cur.string()?.to_owned()),
            "fortran_order" if fortran.is_none() => fortran = Some(cur.boolean()?),
            "shape" if shape.is_none() => shape = Some(cur.shape()?),
            "descr" | "fortran_order" | "shape" => {
                return Err(malformed(format!("key {key:?} appears twice")));
            }
            other => return Err(malformed(format!("unexpected key {other:?}"))),
        }
        match cur.peek() {
            Some(b',') => cur.pos += 1,
            Some(b'}') => {}
            _ => return Err(malformed("expected ',' or '}' after a value")),
        }
    }
    if cur.peek().is_some() {
        return Err(malformed("trailing bytes after the header dictionary"));
    }
    Ok(Header {
        descr: descr.ok_or_else(|| malformed("missing key 'descr'"))?,
        fortran_order: fortran.ok_or_else(|| malformed("missing key 'fortran_order'"))?,
        shape: shape.ok_or_else(|| malformed("missing key 'shape'"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_header() {
        let h =
            parse_header(b"{'descr': '<f4', 'fortran_order': False, 'shape': (1257, 64), }   \n")
                .unwrap();
        assert_eq!(h.descr, "<f4");
        assert!(!h.fortran_order);
        assert_eq!(h.shape, vec![1257, 64]);
    }

    #[test]
    fn parses_one_dimensional_and_scalar_shapes() {
        let h = parse_header(b"{'descr':'<i4','fortran_order':False,'shape':(180,)}").unwrap();
        assert_eq!(h.shape, vec![180]);
        let h = parse_header(b"{'shape':(),'descr':'<f8','fortran_order':True}").unwrap();
        assert!(h.shape.is_empty());
        assert!(h.fortran_order);
    }

    #[test]
    fn rejects_bad_headers() {
        for bad in [
            &b"{'descr': '<f4', 'fortran_order': False}"[..],
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
            b"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
            b"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}",
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
            b"{'descr: '<f4'",
            b"",
        ] {
            assert!(
                matches!(parse_header(bad), Err(NpyError::MalformedHeader(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
