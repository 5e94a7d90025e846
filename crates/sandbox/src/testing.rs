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

/// The local Docker engine for a worker test: fails loudly when the engine is unusable or the
/// image of `runtime` is missing, and makes sure the default sandbox network exists.
pub async fn connect_with_runtime(runtime: &str) -> crate::Sandbox {
    let sandbox = crate::Sandbox::connect(None).expect("docker client");
    let image = model::catalogue::runtime_image(runtime);
    let present = sandbox
        .image_exists(&image)
        .await
        .unwrap_or_else(|e| panic!("docker engine not usable: {e}"));
    assert!(
        present,
        "runtime image {image} is missing: build it first (scripts/build-images.sh / make images); these tests need it"
    );
    sandbox
        .ensure_network(crate::DEFAULT_NETWORK, crate::DEFAULT_BRIDGE)
        .await
        .expect("sandbox network");
    sandbox
}
