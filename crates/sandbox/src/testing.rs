//! Test support for the workers' integration tests (feature `testing`, enabled only in their
//! dev-dependencies): the hardening every sandbox container must carry.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::docker::{CAP_DROP, NO_NEW_PRIVILEGES};
use bollard::models::{ContainerInspectResponse, HostConfig};

/// Asserts the hardening [`crate::Sandbox::create`] applies to every container (read-only root,
/// no capabilities, no-new-privileges, `pids_limit`, the sandbox network and user, no Docker
/// socket mounted) and returns the host config for the caller's own checks.
pub fn assert_sandboxed(info: ContainerInspectResponse, pids_limit: i64) -> HostConfig {
    let host = info.host_config.expect("host config");
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.cap_drop, Some(vec![CAP_DROP.to_owned()]));
    assert_eq!(host.security_opt, Some(vec![NO_NEW_PRIVILEGES.to_owned()]));
    assert_eq!(host.pids_limit, Some(pids_limit));
    assert_eq!(host.network_mode.as_deref(), Some(crate::DEFAULT_NETWORK));
    let binds = host.binds.clone().unwrap_or_default();
    assert!(
        binds.iter().all(|b| !b.contains("docker.sock")),
        "no docker socket: {binds:?}"
    );
    assert_eq!(
        info.config.expect("config").user.as_deref(),
        Some(crate::SANDBOX_USER)
    );
    host
}
