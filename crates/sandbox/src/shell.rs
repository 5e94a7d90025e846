//! POSIX shell quoting.

/// Quotes `s` as one single-quoted shell word: `it's` becomes `'it'\''s'`. Safe for any input,
/// including `$`, backticks, double quotes and newlines.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_plain_and_empty() {
        assert_eq!(quote("npm install"), "'npm install'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn quotes_single_quotes_and_specials() {
        assert_eq!(quote("echo 'hi'"), "'echo '\\''hi'\\'''");
        assert_eq!(quote("echo \"$HOME\" `id`"), "'echo \"$HOME\" `id`'");
    }

    #[test]
    fn quoted_words_round_trip_through_bash() {
        let tricky = "echo 'a' \"b\" $HOME `x` \\ && ; |\nnext";
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("printf %s {}", quote(tricky)))
            .output();
        if let Ok(out) = out {
            assert_eq!(String::from_utf8_lossy(&out.stdout), tricky);
        }
    }
}
