//! Size limits of stored text (spec 7.3).

/// Stored `logs` / `errors` keep at most this many characters.
pub const MAX_EXECUTION_TEXT: usize = 1_000_000;
pub const LOGS_WARNING: &str =
    "[WARNING] Logs truncated. The output exceeded 1000000 characters.\n";
pub const ERRORS_WARNING: &str =
    "[WARNING] Errors truncated. The output exceeded 1000000 characters.\n";

/// Returns `text` unchanged when it has at most `max` characters; otherwise `prefix` followed by
/// the tail of `text`, the whole being `max` characters (or the prefix alone if it is longer).
pub fn keep_tail(text: &str, max: usize, prefix: &str) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(prefix.chars().count());
    let skip = count - keep;
    let start = text
        .char_indices()
        .nth(skip)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    format!("{prefix}{}", &text[start..])
}

pub fn execution_logs(logs: &str) -> String {
    keep_tail(logs, MAX_EXECUTION_TEXT, LOGS_WARNING)
}

pub fn execution_errors(errors: &str) -> String {
    keep_tail(errors, MAX_EXECUTION_TEXT, ERRORS_WARNING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(execution_logs("hello"), "hello");
        assert_eq!(keep_tail("abc", 3, "W:"), "abc");
    }

    #[test]
    fn long_text_keeps_the_tail_with_warning() {
        assert_eq!(keep_tail("abcdefgh", 5, "W:"), "W:fgh");
        let long = format!("{}END", "x".repeat(MAX_EXECUTION_TEXT));
        let out = execution_logs(&long);
        assert!(out.starts_with(LOGS_WARNING));
        assert!(out.ends_with("END"));
        assert_eq!(out.chars().count(), MAX_EXECUTION_TEXT);
        assert!(execution_errors(&long).starts_with("[WARNING] Errors truncated."));
    }

    #[test]
    fn multibyte_characters_are_not_split() {
        assert_eq!(keep_tail("ééééé", 3, ""), "ééé");
    }
}
