//! Text helpers for logs.

/// Longest logs/errors string stored for a build or an execution (Appwrite keeps 1 000 000 chars).
pub const MAX_LOG_CHARS: usize = 1_000_000;

/// Keeps the tail of `s` when it is longer than `max` characters, prefixed with
/// `[WARNING] <what> truncated. The output exceeded <max> characters.\n` (`what` is `Logs` or
/// `Errors`).
pub fn truncate_tail(s: &str, max: usize, what: &str) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_owned();
    }
    let skip = count - max;
    let start = s
        .char_indices()
        .nth(skip)
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    format!(
        "[WARNING] {what} truncated. The output exceeded {max} characters.\n{}",
        &s[start..]
    )
}

/// Percent-decodes `s` (`+` is left alone: the log id is a path-like token, not a form value).
/// Invalid escapes are kept verbatim.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(truncate_tail("abc", 3, "Logs"), "abc");
    }

    #[test]
    fn long_text_keeps_the_tail_with_a_warning() {
        let out = truncate_tail("abcdef", 2, "Errors");
        assert_eq!(
            out,
            "[WARNING] Errors truncated. The output exceeded 2 characters.\nef"
        );
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let out = truncate_tail("ééé", 2, "Logs");
        assert!(out.ends_with("\néé"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("abc%2Fdef"), "abc/def");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz"), "a%zz");
        assert_eq!(percent_decode("plain"), "plain");
    }
}
