//! A thin, typed layer over bollard for the two kinds of containers the platform runs: build
//! containers (run a command to completion) and runtime containers (serve HTTP on port 3000).
use crate::archive::{self, ArchiveError};
use bollard::container::{
    Config, CreateContainerOptions, DownloadFromContainerOptions, KillContainerOptions,
    ListContainersOptions, LogOutput, LogsOptions, RemoveContainerOptions,
    UploadToContainerOptions, WaitContainerOptions,
};
use bollard::models::{HostConfig, PortBinding};
use bollard::network::{CreateNetworkOptions, InspectNetworkOptions};
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use std::collections::HashMap;

/// Seconds bollard waits for the Docker engine to answer one request (not for streams to end).
const DOCKER_REQUEST_TIMEOUT_SECS: u64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("docker engine error: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("runtime image {0} is not available on this docker engine")]
    ImageNotFound(String),
    #[error("container {0} not found")]
    ContainerNotFound(String),
    #[error("container {container} publishes no host port for {port}")]
    NoHostPort { container: String, port: String },
    #[error("file {0} not found in the container")]
    FileNotFound(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

impl SandboxError {
    fn from_create(err: bollard::errors::Error, image: &str) -> Self {
        match &err {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message,
            } if message.contains("image") => SandboxError::ImageNotFound(image.to_owned()),
            _ => SandboxError::Docker(err),
        }
    }
}

fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub labels: HashMap<String, String>,
    /// Memory limit in MB; 0 = no limit.
    pub memory_mb: u64,
    /// CPU limit in cores; 0 or negative = no limit.
    pub cpus: f64,
    /// Bind mounts in Docker's `host:container[:ro]` form.
    pub binds: Vec<String>,
    /// A container TCP port (e.g. `3000/tcp`) to publish on `host_ip` with a random host port.
    pub publish: Option<(String, String)>,
    pub working_dir: Option<String>,
    /// `uid:gid` (or a user name) the container's processes run as; None = the image's user.
    pub user: Option<String>,
    /// tmpfs mounts: container path and mount options (`rw,exec,size=64m,mode=1777`).
    pub tmpfs: Vec<(String, String)>,
    /// Most processes and threads in the container; 0 = no limit.
    pub pids_limit: i64,
    /// Docker network the container joins; None = the engine's default bridge.
    pub network: Option<String>,
}

/// The capabilities every sandbox container drops.
pub const CAP_DROP: &str = "ALL";
/// The security option every sandbox container gets.
pub const NO_NEW_PRIVILEGES: &str = "no-new-privileges";

/// A container known to the engine.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
}

/// The Docker engine.
#[derive(Clone, Debug)]
pub struct Sandbox {
    docker: Docker,
}

impl Sandbox {
    /// Connects to `host` (`unix:///var/run/docker.sock`, `tcp://…`, `http://…`), or to the local
    /// default socket when `host` is empty. Does not talk to the engine yet (see [`Self::ping`]).
    pub fn connect(host: Option<&str>) -> Result<Self, SandboxError> {
        let version = bollard::API_DEFAULT_VERSION;
        let docker = match host.map(str::trim).filter(|h| !h.is_empty()) {
            None => Docker::connect_with_local_defaults()?,
            Some(h) if h.starts_with("tcp://") || h.starts_with("http://") => {
                Docker::connect_with_http(h, DOCKER_REQUEST_TIMEOUT_SECS, version)?
            }
            Some(h) => Docker::connect_with_unix(h, DOCKER_REQUEST_TIMEOUT_SECS, version)?,
        };
        Ok(Self {
            docker: docker
                .with_timeout(std::time::Duration::from_secs(DOCKER_REQUEST_TIMEOUT_SECS)),
        })
    }

    /// True when the engine answers.
    pub async fn ping(&self) -> bool {
        self.docker.ping().await.is_ok()
    }

    /// True when `image` exists locally.
    pub async fn image_exists(&self, image: &str) -> Result<bool, SandboxError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a container (not started) and returns its id.
    pub async fn create(&self, spec: &ContainerSpec) -> Result<String, SandboxError> {
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        // Every container is a sandbox: read-only root filesystem (writable paths are the
        // spec's tmpfs and bind mounts), no capabilities, no privilege gain through setuid.
        let mut host_config = HostConfig {
            binds: Some(spec.binds.clone()),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec![CAP_DROP.to_owned()]),
            security_opt: Some(vec![NO_NEW_PRIVILEGES.to_owned()]),
            tmpfs: (!spec.tmpfs.is_empty()).then(|| spec.tmpfs.iter().cloned().collect()),
            pids_limit: (spec.pids_limit > 0).then_some(spec.pids_limit),
            network_mode: spec.network.clone(),
            ..Default::default()
        };
        if spec.memory_mb > 0 {
            let bytes =
                i64::try_from(spec.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
            host_config.memory = Some(bytes);
            // No swap beyond the memory limit, like the function specification says.
            host_config.memory_swap = Some(bytes);
        }
        if spec.cpus > 0.0 {
            host_config.nano_cpus = Some((spec.cpus * 1e9).round() as i64);
        }
        let mut exposed_ports = None;
        if let Some((port, host_ip)) = &spec.publish {
            let mut bindings = HashMap::new();
            bindings.insert(
                port.clone(),
                Some(vec![PortBinding {
                    host_ip: Some(host_ip.clone()),
                    host_port: Some(String::new()),
                }]),
            );
            host_config.port_bindings = Some(bindings);
            let mut exposed = HashMap::new();
            exposed.insert(port.clone(), HashMap::new());
            exposed_ports = Some(exposed);
        }
        let config = Config {
            image: Some(spec.image.clone()),
            cmd: Some(spec.cmd.clone()),
            env: Some(env),
            labels: Some(spec.labels.clone()),
            working_dir: spec.working_dir.clone(),
            user: spec.user.clone(),
            exposed_ports,
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: spec.name.clone(),
            platform: None,
        };
        let created = self
            .docker
            .create_container(Some(options), config)
            .await
            .map_err(|e| SandboxError::from_create(e, &spec.image))?;
        Ok(created.id)
    }

    /// Creates the bridge network sandbox containers join, unless it exists: containers on it
    /// cannot talk to each other (ICC off). Blocking their traffic to the host's own services is
    /// the host firewall's job (`scripts/infra-up.sh`), keyed on `bridge_name`.
    pub async fn ensure_network(&self, name: &str, bridge_name: &str) -> Result<(), SandboxError> {
        match self
            .docker
            .inspect_network(name, None::<InspectNetworkOptions<String>>)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let mut options = HashMap::new();
        options.insert("com.docker.network.bridge.enable_icc", "false");
        options.insert("com.docker.network.bridge.name", bridge_name);
        let mut labels = HashMap::new();
        labels.insert(crate::LABEL_ROLE, "sandbox-network");
        let config = CreateNetworkOptions {
            name,
            check_duplicate: true,
            driver: "bridge",
            options,
            labels,
            ..Default::default()
        };
        match self.docker.create_network(config).await {
            Ok(_) => Ok(()),
            // Created concurrently by another worker.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The engine's view of a container (tests, diagnostics).
    pub async fn inspect(
        &self,
        container: &str,
    ) -> Result<bollard::models::ContainerInspectResponse, SandboxError> {
        match self.docker.inspect_container(container, None).await {
            Ok(info) => Ok(info),
            Err(e) if is_not_found(&e) => {
                Err(SandboxError::ContainerNotFound(container.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Copies one file into the container (created or running) at the absolute `path`; parent
    /// directories are created.
    pub async fn upload_file(
        &self,
        container: &str,
        path: &str,
        data: &[u8],
    ) -> Result<(), SandboxError> {
        let tar_bytes = archive::single_file_tar(path, data)?;
        let options = UploadToContainerOptions {
            path: "/".to_owned(),
            ..Default::default()
        };
        self.docker
            .upload_to_container(container, Some(options), Bytes::from(tar_bytes))
            .await?;
        Ok(())
    }

    /// Reads one file out of the container (running or stopped).
    pub async fn download_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Vec<u8>, SandboxError> {
        let options = DownloadFromContainerOptions {
            path: path.to_owned(),
        };
        let chunks: Vec<Bytes> = match self
            .docker
            .download_from_container(container, Some(options))
            .try_collect()
            .await
        {
            Ok(chunks) => chunks,
            Err(e) if is_not_found(&e) => return Err(SandboxError::FileNotFound(path.to_owned())),
            Err(e) => return Err(e.into()),
        };
        let tar_bytes: Vec<u8> = chunks.concat();
        Ok(archive::first_file(&tar_bytes)?)
    }

    pub async fn start(&self, container: &str) -> Result<(), SandboxError> {
        self.docker
            .start_container::<String>(container, None)
            .await?;
        Ok(())
    }

    /// The host port Docker picked for `port` (e.g. `3000/tcp`).
    pub async fn host_port(&self, container: &str, port: &str) -> Result<u16, SandboxError> {
        let info = self.docker.inspect_container(container, None).await?;
        info.network_settings
            .and_then(|n| n.ports)
            .and_then(|ports| ports.get(port).cloned().flatten())
            .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port))
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| SandboxError::NoHostPort {
                container: container.to_owned(),
                port: port.to_owned(),
            })
    }

    /// True when the container exists and is running.
    pub async fn is_running(&self, container: &str) -> Result<bool, SandboxError> {
        match self.docker.inspect_container(container, None).await {
            Ok(info) => Ok(info.state.and_then(|s| s.running).unwrap_or(false)),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Follows stdout and stderr of the container from its start until it exits.
    pub fn follow_logs(
        &self,
        container: &str,
    ) -> impl Stream<Item = Result<Bytes, SandboxError>> + Send + 'static {
        let options = LogsOptions::<String> {
            follow: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        self.docker
            .logs(container, Some(options))
            .map(|item| match item {
                Ok(LogOutput::StdOut { message })
                | Ok(LogOutput::StdErr { message })
                | Ok(LogOutput::Console { message })
                | Ok(LogOutput::StdIn { message }) => Ok(message),
                Err(e) => Err(SandboxError::Docker(e)),
            })
    }

    /// Waits for the container to exit and returns its exit code.
    pub async fn wait_exit(&self, container: &str) -> Result<i64, SandboxError> {
        let mut stream = self
            .docker
            .wait_container(container, None::<WaitContainerOptions<String>>);
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) if is_not_found(&e) => {
                Err(SandboxError::ContainerNotFound(container.to_owned()))
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(SandboxError::ContainerNotFound(container.to_owned())),
        }
    }

    /// Sends SIGKILL; a container that is gone or not running is fine.
    pub async fn kill(&self, container: &str) -> Result<(), SandboxError> {
        match self
            .docker
            .kill_container::<String>(
                container,
                Some(KillContainerOptions {
                    signal: "SIGKILL".to_owned(),
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Force-removes the container with its anonymous volumes; a missing container is fine.
    pub async fn remove(&self, container: &str) -> Result<(), SandboxError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(container, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 409: removal already in progress.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// All containers (running or not) carrying every `key=value` label given.
    pub async fn list_labelled(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<ContainerInfo>, SandboxError> {
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_owned(),
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        );
        let options = ListContainersOptions {
            all: true,
            filters,
            ..Default::default()
        };
        let list = self.docker.list_containers(Some(options)).await?;
        Ok(list
            .into_iter()
            .map(|c| ContainerInfo {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_default(),
                labels: c.labels.unwrap_or_default(),
            })
            .collect())
    }
}

/// A Docker-safe container name fragment: `[a-zA-Z0-9_.-]`, other characters become `-`.
pub fn name_fragment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::name_fragment;

    #[test]
    fn name_fragments_are_docker_safe() {
        assert_eq!(name_fragment("abc-12_3.x"), "abc-12_3.x");
        assert_eq!(name_fragment("a/b c"), "a-b-c");
    }
}
