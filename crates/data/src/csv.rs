//! CSV feature tables: a header row, one named integer label column, every other column a feature.
//!
//! Plain comma-separated numbers only (optionally quoted header names); errors give the line number.

use std::path::Path;

use ndarray::Array2;

use crate::error::DataError;
use crate::load::read_nonempty;

/// Features and raw labels read from a CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// Names of the feature columns, in order.
    pub feature_names: Vec<String>,
    /// `n × d` features.
    pub features: Array2<f64>,
    /// Raw labels (range is checked when a split is built).
    pub labels: Vec<i64>,
}

fn unquote(field: &str) -> &str {
    let field = field.trim();
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

/// Parses CSV text; `path` is used only in error messages.
pub fn parse_csv(text: &str, label_column: &str, path: &Path) -> Result<CsvTable, DataError> {
    parse_table(text, Some(label_column), path)
}

/// Parses CSV text whose every column is a feature (the returned labels are empty).
pub fn parse_csv_features(text: &str, path: &Path) -> Result<Array2<f64>, DataError> {
    parse_table(text, None, path).map(|t| t.features)
}

fn parse_table(text: &str, label_column: Option<&str>, path: &Path) -> Result<CsvTable, DataError> {
    let err = |line: usize, reason: String| DataError::Csv {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines
        .next()
        .ok_or_else(|| err(0, "empty file: no header row".into()))?;
    let names: Vec<&str> = header.split(',').map(unquote).collect();
    let label_idx = match label_column {
        None => None,
        Some(label_column) => {
            let idx = names
                .iter()
                .position(|n| *n == label_column)
                .ok_or_else(|| {
                    err(
                        header_line,
                        format!(
                            "no column named {label_column:?} (columns: {})",
                            names.join(", ")
                        ),
                    )
                })?;
            if names.iter().filter(|n| **n == label_column).count() > 1 {
                return Err(err(
                    header_line,
                    format!("column {label_column:?} appears twice"),
                ));
            }
            Some(idx)
        }
    };
    let width = names.len();
    let feature_width = width - usize::from(label_idx.is_some());
    let feature_names: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|&(i, _)| Some(i) != label_idx)
        .map(|(_, n)| (*n).to_owned())
        .collect();
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut rows = 0usize;
    for (line_no, line) in lines {
        rows += 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != width {
            return Err(err(
                line_no,
                format!("{} fields, header has {width}", fields.len()),
            ));
        }
        for (i, field) in fields.iter().enumerate() {
            if Some(i) == label_idx {
                let label: i64 = field
                    .parse()
                    .map_err(|_| err(line_no, format!("label {field:?} is not an integer")))?;
                labels.push(label);
            } else {
                let value: f64 = field.parse().map_err(|_| {
                    err(
                        line_no,
                        format!("value {field:?} in column {:?} is not a number", names[i]),
                    )
                })?;
                values.push(value);
            }
        }
    }
    let features = Array2::from_shape_vec((rows, feature_width), values)
        .map_err(|e| err(0, format!("inconsistent table: {e}")))?;
    Ok(CsvTable {
        feature_names,
        features,
        labels,
    })
}

fn read_text(path: &Path) -> Result<String, DataError> {
    let bytes = read_nonempty(path)?;
    String::from_utf8(bytes).map_err(|e| DataError::Csv {
        path: path.to_owned(),
        line: 0,
        reason: format!("not UTF-8 text: {e}"),
    })
}

/// Loads a CSV file with a header row and the named label column.
pub fn load_csv(path: &Path, label_column: &str) -> Result<CsvTable, DataError> {
    parse_csv(&read_text(path)?, label_column, path)
}

/// Loads a CSV file with a header row whose every column is a feature.
pub fn load_csv_features(path: &Path) -> Result<Array2<f64>, DataError> {
    parse_csv_features(&read_text(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_label_column_anywhere() {
        let t = parse_csv("a,\"y\",b\n0.5,1,2\n\n-1e-3,0,4\n", "y", Path::new("t.csv")).unwrap();
        assert_eq!(t.feature_names, vec!["a", "b"]);
        assert_eq!(t.labels, vec![1, 0]);
        assert_eq!(t.features.shape(), &[2, 2]);
        assert_eq!(t.features[[1, 0]], -1e-3);
    }

    #[test]
    fn errors_name_line_and_problem() {
        let p = Path::new("x.csv");
        let e = parse_csv("a,y\n1,2\n1\n", "y", p).unwrap_err().to_string();
        assert!(e.contains("x.csv: line 3"), "{e}");
        let e = parse_csv("a,y\n1,2.5\n", "y", p).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("not an integer"), "{e}");
        let e = parse_csv("a,b\n1,2\n", "label", p).unwrap_err().to_string();
        assert!(e.contains("no column named \"label\""), "{e}");
        let e = parse_csv("", "y", p).unwrap_err().to_string();
        assert!(e.contains("empty file"), "{e}");
        let e = parse_csv("a,y\nfoo,1\n", "y", p).unwrap_err().to_string();
        assert!(e.contains("\"a\"") && e.contains("not a number"), "{e}");
        let x = parse_csv_features("a,b\n1,2\n3,4\n5,6\n", p).unwrap();
        assert_eq!((x.shape(), x[[2, 1]]), (&[3usize, 2][..], 6.0));
        let e = parse_csv("a,y\nfoo,1\n", "y", p).unwrap_err().to_string();
        assert!(e.contains("\"a\"") && e.contains("not a number"), "{e}");
    }
}
