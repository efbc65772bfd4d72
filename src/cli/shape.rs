//! Comma-separated integer lists such as `--shape batch,features,classes`: one parser for every
//! bench command; each command checks its own bounds on the result.

/// The integers of `s`, separated by commas (spaces around each allowed); the error names the
/// part that is not an integer.
pub(crate) fn parse_usize_list(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|p| p.trim().parse::<usize>().map_err(|e| format!("`{p}`: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_trims_and_names_the_bad_part() {
        assert_eq!(parse_usize_list(" 3, 4 ,5"), Ok(vec![3, 4, 5]));
        assert_eq!(parse_usize_list("7"), Ok(vec![7]));
        let err = parse_usize_list("1,x,3").unwrap_err();
        assert!(err.starts_with("`x`:"), "{err}");
    }
}
