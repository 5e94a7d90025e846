//! The runtime and specification catalogue (spec 11).

/// One runtime of the catalogue (spec 3.5 / 11.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runtime {
    /// `<key>-<version>`, e.g. `node-18.0`.
    pub id: String,
    pub key: &'static str,
    pub name: &'static str,
    pub version: &'static str,
}

impl Runtime {
    /// The locally built image of this runtime (see `deploy/runtimes/`).
    pub fn image(&self) -> String {
        runtime_image(&self.id)
    }

    /// The Debian base the image is built from, reported as `base` in the Runtime model.
    pub fn logo(&self) -> String {
        format!("{}.png", self.key)
    }
}

/// Image tag used for a runtime id: `fnplat/runtime-<id>:latest`.
pub fn runtime_image(id: &str) -> String {
    format!("fnplat/runtime-{id}:latest")
}

const RUNTIMES: &[(&str, &str, &[&str])] = &[
    (
        "node",
        "Node.js",
        &[
            "14.5", "16.0", "18.0", "19.0", "20.0", "21.0", "22", "23", "24", "25",
        ],
    ),
    ("php", "PHP", &["8.0", "8.1", "8.2", "8.3", "8.4"]),
    ("ruby", "Ruby", &["3.0", "3.1", "3.2", "3.3", "3.4", "4.0"]),
    (
        "python",
        "Python",
        &["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"],
    ),
    ("python-ml", "Python (ML)", &["3.11", "3.12", "3.13"]),
    ("deno", "Deno", &["1.40", "1.46", "2.0", "2.5", "2.6"]),
    (
        "dart",
        "Dart",
        &[
            "2.15", "2.16", "2.17", "2.18", "2.19", "3.0", "3.1", "3.3", "3.5", "3.8", "3.9",
            "3.10", "3.11", "3.12",
        ],
    ),
    ("dotnet", ".NET", &["6.0", "7.0", "8.0", "10"]),
    (
        "java",
        "Java",
        &["8.0", "11.0", "17.0", "18.0", "21.0", "22", "25"],
    ),
    ("swift", "Swift", &["5.5", "5.8", "5.9", "5.10", "6.2"]),
    ("kotlin", "Kotlin", &["1.6", "1.8", "1.9", "2.0", "2.3"]),
    ("cpp", "C++", &["17", "20"]),
    ("bun", "Bun", &["1.0", "1.1", "1.2", "1.3"]),
    ("go", "Go", &["1.23", "1.24", "1.25", "1.26"]),
    ("rust", "Rust", &["1.83"]),
];

/// Every runtime id Appwrite knows (the SDK `Runtime` enum).
pub fn all_runtimes() -> impl Iterator<Item = Runtime> {
    RUNTIMES.iter().flat_map(|(key, name, versions)| {
        versions.iter().map(move |version| Runtime {
            id: format!("{key}-{version}"),
            key,
            name,
            version,
        })
    })
}

/// Looks a runtime id up in the full catalogue.
pub fn find_runtime(id: &str) -> Option<Runtime> {
    all_runtimes().find(|r| r.id == id)
}

/// A compute specification (spec 11.2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Specification {
    pub slug: &'static str,
    pub cpus: f64,
    pub memory_mb: u32,
}

pub const SPECIFICATIONS: &[Specification] = &[
    Specification {
        slug: "s-0.5vcpu-512mb",
        cpus: 0.5,
        memory_mb: 512,
    },
    Specification {
        slug: "s-1vcpu-512mb",
        cpus: 1.0,
        memory_mb: 512,
    },
    Specification {
        slug: "s-1vcpu-1gb",
        cpus: 1.0,
        memory_mb: 1024,
    },
    Specification {
        slug: "s-2vcpu-2gb",
        cpus: 2.0,
        memory_mb: 2048,
    },
    Specification {
        slug: "s-2vcpu-4gb",
        cpus: 2.0,
        memory_mb: 4096,
    },
    Specification {
        slug: "s-4vcpu-4gb",
        cpus: 4.0,
        memory_mb: 4096,
    },
    Specification {
        slug: "s-4vcpu-8gb",
        cpus: 4.0,
        memory_mb: 8192,
    },
    Specification {
        slug: "s-8vcpu-4gb",
        cpus: 8.0,
        memory_mb: 4096,
    },
    Specification {
        slug: "s-8vcpu-8gb",
        cpus: 8.0,
        memory_mb: 8192,
    },
];

/// The model default specification.
pub const DEFAULT_SPECIFICATION: &str = "s-1vcpu-512mb";

pub fn find_specification(slug: &str) -> Option<Specification> {
    SPECIFICATIONS.iter().copied().find(|s| s.slug == slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_knows_node_18_and_rejects_unknown() {
        let node = find_runtime("node-18.0");
        assert_eq!(node.as_ref().map(|r| r.name), Some("Node.js"));
        assert_eq!(
            node.map(|r| r.image()),
            Some("fnplat/runtime-node-18.0:latest".to_owned())
        );
        assert!(find_runtime("cobol-1").is_none());
        assert_eq!(
            find_specification("s-1vcpu-512mb").map(|s| s.memory_mb),
            Some(512)
        );
    }
}
