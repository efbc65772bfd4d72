//! NumPy `.npy` reading and writing (format versions 1.0–3.0, little-endian, C order).
//!
//! The reader bounds the header length, checks that the data section holds exactly the bytes the
//! shape requires before allocating, and returns an [`NpyError`] for every malformed input.

mod header;

pub use header::{Header, MAX_RANK, parse_header};

use crate::error::NpyError;

/// The six magic bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Largest header accepted; numpy writes a few hundred bytes at most.
pub const MAX_HEADER_LEN: usize = 1 << 16;

/// Element type of a `.npy` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `<f4`.
    F32,
    /// `<f8`.
    F64,
    /// `<i4`.
    I32,
    /// `<i8`.
    I64,
}

impl Dtype {
    /// Parses a numpy descriptor; `|` and `=` byte orders are accepted only where unambiguous.
    pub fn from_descr(descr: &str) -> Result<Self, NpyError> {
        match descr {
            "<f4" => Ok(Self::F32),
            "<f8" => Ok(Self::F64),
            "<i4" => Ok(Self::I32),
            "<i8" => Ok(Self::I64),
            other => Err(NpyError::UnsupportedDtype(other.to_owned())),
        }
    }

    /// The numpy descriptor.
    pub fn descr(self) -> &'static str {
        match self {
            Self::F32 => "<f4",
            Self::F64 => "<f8",
            Self::I32 => "<i4",
            Self::I64 => "<i8",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F32 | Self::I32 => 4,
            Self::F64 | Self::I64 => 8,
        }
    }
}

/// The elements of a `.npy` array, in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// 64-bit integers.
    I64(Vec<i64>),
}

impl NpyData {
    /// Element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            Self::F32(_) => Dtype::F32,
            Self::F64(_) => Dtype::F64,
            Self::I32(_) => Dtype::I32,
            Self::I64(_) => Dtype::I64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::I64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded `.npy` array.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Shape (C order).
    pub shape: Vec<usize>,
    /// Elements.
    pub data: NpyData,
}

fn read_le<const N: usize, T>(data: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|chunk| {
            let mut word = [0u8; N];
            word.copy_from_slice(chunk);
            from(word)
        })
        .collect()
}

/// Decodes a whole `.npy` file held in memory.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, NpyError> {
    let magic = bytes.get(..6).ok_or(NpyError::Truncated("magic"))?;
    if magic != MAGIC {
        return Err(NpyError::BadMagic);
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(&[major, minor]) => (major, minor),
        _ => return Err(NpyError::Truncated("version")),
    };
    let (len_field, header_start) = match major {
        1 if minor == 0 => (2, 10),
        2 | 3 if minor == 0 => (4, 12),
        _ => return Err(NpyError::UnsupportedVersion { major, minor }),
    };
    let len_bytes = bytes
        .get(8..8 + len_field)
        .ok_or(NpyError::Truncated("header length"))?;
    let header_len = len_bytes
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    if header_len > MAX_HEADER_LEN {
        return Err(NpyError::HeaderTooLong {
            len: header_len,
            limit: MAX_HEADER_LEN,
        });
    }
    let header_bytes = bytes
        .get(header_start..header_start + header_len)
        .ok_or(NpyError::Truncated("header"))?;
    let header = parse_header(header_bytes)?;
    let dtype = Dtype::from_descr(&header.descr)?;
    if header.fortran_order && header.shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(NpyError::FortranOrder);
    }
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NpyError::ShapeOverflow(header.shape.clone()))?;
    let expected = count
        .checked_mul(dtype.size())
        .ok_or_else(|| NpyError::ShapeOverflow(header.shape.clone()))?;
    let data = &bytes[header_start + header_len..];
    if data.len() != expected {
        return Err(NpyError::DataLength {
            shape: header.shape,
            item_size: dtype.size(),
            expected,
            actual: data.len(),
        });
    }
    let data = match dtype {
        Dtype::F32 => NpyData::F32(read_le(data, f32::from_le_bytes)),
        Dtype::F64 => NpyData::F64(read_le(data, f64::from_le_bytes)),
        Dtype::I32 => NpyData::I32(read_le(data, i32::from_le_bytes)),
        Dtype::I64 => NpyData::I64(read_le(data, i64::from_le_bytes)),
    };
    Ok(NpyArray {
        shape: header.shape,
        data,
    })
}

/// Encodes an array as a version-1.0 `.npy` file (header padded to 64 bytes, as numpy does).
///
/// Fails only if `shape` does not match the number of elements.
pub fn write_npy(array: &NpyArray) -> Result<Vec<u8>, NpyError> {
    let count = array
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NpyError::ShapeOverflow(array.shape.clone()))?;
    let dtype = array.data.dtype();
    if count != array.data.len() {
        return Err(NpyError::DataLength {
            shape: array.shape.clone(),
            item_size: dtype.size(),
            expected: count * dtype.size(),
            actual: array.data.len() * dtype.size(),
        });
    }
    let dims: Vec<String> = array.shape.iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        dtype.descr()
    );
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let header_len = u16::try_from(header.len()).map_err(|_| NpyError::HeaderTooLong {
        len: header.len(),
        limit: usize::from(u16::MAX),
    })?;
    let mut out = Vec::with_capacity(10 + header.len() + count * dtype.size());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match &array.data {
        NpyData::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::F64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_dtype() {
        let arrays = [
            NpyArray {
                shape: vec![2, 3],
                data: NpyData::F32(vec![0.5, -1.0, 2.0, 3.25, f32::MAX, 0.0]),
            },
            NpyArray {
                shape: vec![3],
                data: NpyData::F64(vec![1e-300, -2.5, 7.0]),
            },
            NpyArray {
                shape: vec![4],
                data: NpyData::I32(vec![0, 9, -3, i32::MAX]),
            },
            NpyArray {
                shape: vec![1, 2],
                data: NpyData::I64(vec![i64::MIN, 5]),
            },
        ];
        for array in arrays {
            let bytes = write_npy(&array).unwrap();
            assert_eq!(
                (bytes.len() - array.data.len() * array.data.dtype().size()) % 64,
                0
            );
            assert_eq!(parse_npy(&bytes).unwrap(), array);
        }
    }

    #[test]
    fn rejects_truncated_data_and_wrong_magic() {
        let array = NpyArray {
            shape: vec![2, 2],
            data: NpyData::F64(vec![1.0, 2.0, 3.0, 4.0]),
        };
        let bytes = write_npy(&array).unwrap();
        let cut = &bytes[..bytes.len() - 1];
        assert!(matches!(
            parse_npy(cut),
            Err(NpyError::DataLength {
                expected: 32,
                actual: 31,
                ..
            })
        ));
        let mut bad = bytes.clone();
        bad[1] = b'X';
        assert_eq!(parse_npy(&bad), Err(NpyError::BadMagic));
        let mut v9 = bytes;
        v9[6] = 9;
        assert!(matches!(
            parse_npy(&v9),
            Err(NpyError::UnsupportedVersion { major: 9, .. })
        ));
    }

    #[test]
    fn rejects_big_endian_and_fortran_order() {
        let header = "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0, header.len() as u8, 0]);
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0; 8]);
        assert!(matches!(parse_npy(&bytes), Err(NpyError::UnsupportedDtype(d)) if d == ">f8"));
        let header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0, header.len() as u8, 0]);
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0; 32]);
        assert_eq!(parse_npy(&bytes), Err(NpyError::FortranOrder));
    }

    #[test]
    fn rejects_overflowing_shape_without_allocating() {
        let header = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
            usize::MAX / 2,
            4
        );
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0, header.len() as u8, 0]);
        bytes.extend_from_slice(header.as_bytes());
        assert!(matches!(parse_npy(&bytes), Err(NpyError::ShapeOverflow(_))));
    }
}
