//! Typed identifiers and the Appwrite ID rules (spec 0.2).
use std::fmt;

/// Generates an Appwrite `unique()` id: 13 hex chars of time (seconds + microseconds, like PHP
/// `uniqid()`) followed by 7 random hex chars; 20 lowercase hex chars in all.
pub fn unique_id() -> String {
    use rand::Rng;
    let now = chrono::Utc::now();
    let secs = now.timestamp();
    let micros = now.timestamp_subsec_micros();
    let mut rng = rand::thread_rng();
    let tail: u32 = rng.gen_range(0..0x1000_0000);
    format!("{secs:08x}{micros:05x}{tail:07x}")
}

/// True when `id` is a valid custom or path ID: 1-36 chars of `[A-Za-z0-9._-]`, not starting
/// with `.`, `-` or `_`.
pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes.len() > 36 {
        return false;
    }
    if matches!(bytes[0], b'.' | b'-' | b'_') {
        return false;
    }
    bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Resolves a client-supplied custom id: `unique()` expands to a fresh id, anything else must be valid.
pub fn resolve_custom_id(requested: &str) -> Option<String> {
    if requested == "unique()" {
        Some(unique_id())
    } else if is_valid_id(requested) {
        Some(requested.to_owned())
    } else {
        None
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            pub fn generate() -> Self {
                Self(unique_id())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

typed_id!(
    /// A project (`X-Appwrite-Project`).
    ProjectId
);
typed_id!(
    /// A function (`$id` of Function).
    FunctionId
);
typed_id!(
    /// A deployment (`$id` of Deployment).
    DeploymentId
);
typed_id!(
    /// An execution (`$id` of Execution).
    ExecutionId
);
typed_id!(
    /// A variable (`$id` of Variable).
    VariableId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_are_20_lowercase_hex_and_distinct() {
        let a = unique_id();
        let b = unique_id();
        assert_eq!(a.len(), 20, "{a}");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn custom_id_rules() {
        assert!(is_valid_id("fn-1.a_b"));
        assert!(is_valid_id(&"a".repeat(36)));
        assert!(!is_valid_id(&"a".repeat(37)));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("-abc"));
        assert!(!is_valid_id("_abc"));
        assert!(!is_valid_id(".abc"));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("a/b"));
        assert_eq!(resolve_custom_id("unique()").map(|s| s.len()), Some(20));
        assert_eq!(resolve_custom_id("bad id"), None);
    }
}
