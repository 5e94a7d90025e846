//! What `builder-worker` and `executor-worker` share: the Docker sandbox (bollard), tar helpers,
//! shell quoting, log truncation, the object store opener, signal handling, the small admin
//! listener serving `/health/livez` and `/health/readyz` and the workers' common start-up
//! ([`worker`]).
//!
//! Kept out of `model` on purpose: bollard and hyper are heavy and only the workers need them.

pub mod admin;
pub mod archive;
pub mod docker;
pub mod shell;
pub mod signal;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod text;
pub mod worker;

pub use docker::{ContainerSpec, Sandbox, SandboxError};

/// Container label naming what a container is for (`build` or `runtime`).
pub const LABEL_ROLE: &str = "fnplat.role";
/// Container label carrying the deployment id.
pub const LABEL_DEPLOYMENT: &str = "fnplat.deployment";
/// Container label carrying the id of the executor instance that owns a runtime container.
pub const LABEL_EXECUTOR: &str = "fnplat.executor";
/// Container label carrying the node (host) name of the executor that owns a runtime container.
pub const LABEL_NODE: &str = "fnplat.node";

/// The user sandbox containers run as (no entry in the image's passwd is needed).
pub const SANDBOX_USER: &str = "1000:1000";
/// Numeric uid/gid of [`SANDBOX_USER`], for host directories mounted into containers.
pub const SANDBOX_UID: u32 = 1000;
/// Default docker network of sandbox containers, and its bridge interface (firewalled by
/// `scripts/infra-up.sh`).
pub const DEFAULT_NETWORK: &str = "fnplat-sandbox";
pub const DEFAULT_BRIDGE: &str = "fnplat-sbx0";

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How a worker reaches the Docker engine (`<PREFIX>__DOCKER__HOST`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct DockerSettings {
    /// `unix:///var/run/docker.sock`, `tcp://host:2375`, …; empty = the local default socket.
    #[serde(default)]
    pub host: String,
    /// Network sandbox containers join (`<PREFIX>__DOCKER__NETWORK`), created (ICC off) when
    /// missing; empty = the engine's default bridge.
    #[serde(default = "default_network")]
    pub network: String,
    /// Bridge interface name used when the network is created (`<PREFIX>__DOCKER__BRIDGE`).
    #[serde(default = "default_bridge")]
    pub bridge: String,
}

impl Default for DockerSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            network: default_network(),
            bridge: default_bridge(),
        }
    }
}

impl DockerSettings {
    /// The network to use, None for the default bridge.
    pub fn network(&self) -> Option<&str> {
        Some(self.network.trim()).filter(|n| !n.is_empty())
    }
}

fn default_network() -> String {
    DEFAULT_NETWORK.to_owned()
}

fn default_bridge() -> String {
    DEFAULT_BRIDGE.to_owned()
}

/// Makes a host directory that is bind-mounted into a sandbox container writable by the sandbox
/// user: owned by it when this process may chown (root), else world-writable.
pub fn prepare_host_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    if std::os::unix::fs::chown(dir, Some(SANDBOX_UID), Some(SANDBOX_UID)).is_err() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
    }
    Ok(())
}

/// Incrementally decodes UTF-8 from byte chunks that may split a character.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// Decodes as much as possible; an incomplete trailing character waits for the next chunk,
    /// invalid bytes become U+FFFD.
    pub fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left (an incomplete character) as lossy text.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8Decoder;

    #[test]
    fn utf8_decoder_joins_split_characters() {
        let bytes = "héllo".as_bytes();
        let mut d = Utf8Decoder::default();
        let mut out = d.push(&bytes[..2]);
        out.push_str(&d.push(&bytes[2..]));
        out.push_str(&d.finish());
        assert_eq!(out, "héllo");
    }

    #[test]
    fn utf8_decoder_replaces_invalid_bytes() {
        let mut d = Utf8Decoder::default();
        assert_eq!(d.push(b"a\xffb"), "a\u{FFFD}b");
    }
}
