//! Source tarballs from git repositories, for template and VCS deployments.
//!
//! GitHub is not reachable from here, so a "repository" is any git URL the gateway can clone:
//! `file://`, `http://`, `https://` or `git://`. `git` runs as a child process through
//! `tokio::process` (no request thread blocks): a bare clone into a scratch directory, the
//! reference resolved to a commit, and `git archive` of `<commit>:<rootDirectory>` as the
//! `.tar.gz` source. The scratch directory is removed afterwards.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What a reference names (`type` of createTemplateDeployment / createVcsDeployment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Branch,
    Tag,
    Commit,
}

impl RefKind {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "branch" => Some(Self::Branch),
            "tag" => Some(Self::Tag),
            "commit" => Some(Self::Commit),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("Repository URL not supported: {0}")]
    UnsupportedUrl(String),
    #[error("Repository could not be cloned: {0}")]
    Unreachable(String),
    #[error("Reference '{0}' not found in the repository.")]
    Reference(String),
    #[error("Root directory '{0}' not found at the requested reference.")]
    RootDirectory(String),
    #[error("The repository source is larger than {0} bytes.")]
    TooLarge(usize),
    #[error("git failed: {0}")]
    Failed(String),
}

/// A source tarball and the commit it came from.
#[derive(Debug, Clone)]
pub struct Archive {
    pub tarball: Vec<u8>,
    pub commit_hash: String,
    pub commit_author: String,
    pub commit_message: String,
}

/// True for the URL schemes the gateway clones.
pub fn supported_url(url: &str) -> bool {
    ["file://", "http://", "https://", "git://"]
        .iter()
        .any(|p| url.starts_with(p))
        && !url.chars().any(char::is_whitespace)
}

/// `owner` and `name` of a repository URL (its last two path segments, `.git` dropped).
pub fn owner_and_name(url: &str) -> (String, String) {
    let mut parts = url
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit('/')
        .filter(|s| !s.is_empty());
    let name = parts.next().unwrap_or_default().to_owned();
    let owner = parts.next().unwrap_or_default().to_owned();
    (owner, name)
}

fn clean_root(root: &str) -> Result<String, GitError> {
    let trimmed = root.trim().trim_start_matches("./").trim_matches('/');
    if trimmed == "." {
        return Ok(String::new());
    }
    if trimmed.split('/').any(|s| s == ".." || s.starts_with('-')) {
        return Err(GitError::RootDirectory(root.to_owned()));
    }
    Ok(trimmed.to_owned())
}

async fn git(dir: Option<&Path>, args: &[&str], timeout: Duration) -> Result<Vec<u8>, GitError> {
    let mut command = tokio::process::Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .map_err(|_| GitError::Failed(format!("git {} timed out", args[0])))?
        .map_err(|e| GitError::Failed(format!("cannot run git: {e}")))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(GitError::Failed(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

/// Clones `url`, resolves `reference`, and archives `root` at that commit as `.tar.gz`.
pub async fn archive(
    url: &str,
    kind: RefKind,
    reference: &str,
    root: &str,
    max_size: usize,
    timeout: Duration,
) -> Result<Archive, GitError> {
    if !supported_url(url) {
        return Err(GitError::UnsupportedUrl(url.to_owned()));
    }
    if reference.is_empty() || reference.starts_with('-') || reference.contains("..") {
        return Err(GitError::Reference(reference.to_owned()));
    }
    let root = clean_root(root)?;
    let scratch: PathBuf =
        std::env::temp_dir().join(format!("fnplat-git-{}", model::ids::unique_id()));
    let result = archive_in(&scratch, url, kind, reference, &root, max_size, timeout).await;
    if let Err(err) = tokio::fs::remove_dir_all(&scratch).await {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %scratch.display(), error = %err, "could not remove git scratch dir");
        }
    }
    result
}

async fn archive_in(
    scratch: &Path,
    url: &str,
    kind: RefKind,
    reference: &str,
    root: &str,
    max_size: usize,
    timeout: Duration,
) -> Result<Archive, GitError> {
    let dir = scratch.to_string_lossy().into_owned();
    git(
        None,
        &["clone", "--quiet", "--bare", "--", url, &dir],
        timeout,
    )
    .await
    .map_err(|e| GitError::Unreachable(e.to_string()))?;
    let spec = match kind {
        RefKind::Branch => format!("refs/heads/{reference}^{{commit}}"),
        RefKind::Tag => format!("refs/tags/{reference}^{{commit}}"),
        RefKind::Commit => {
            if !reference.chars().all(|c| c.is_ascii_hexdigit()) || reference.len() < 4 {
                return Err(GitError::Reference(reference.to_owned()));
            }
            format!("{reference}^{{commit}}")
        }
    };
    let hash = git(
        Some(scratch),
        &["rev-parse", "--verify", "--quiet", &spec],
        timeout,
    )
    .await
    .map_err(|_| GitError::Reference(reference.to_owned()))?;
    let hash = String::from_utf8_lossy(&hash).trim().to_owned();
    let info = git(
        Some(scratch),
        &["log", "-1", "--format=%an%x00%s", &hash],
        timeout,
    )
    .await?;
    let info = String::from_utf8_lossy(&info).trim_end().to_owned();
    let (author, message) = info.split_once('\0').unwrap_or((info.as_str(), ""));
    let tree = if root.is_empty() {
        hash.clone()
    } else {
        format!("{hash}:{root}")
    };
    let object_type = git(Some(scratch), &["cat-file", "-t", &tree], timeout)
        .await
        .map_err(|_| GitError::RootDirectory(root.to_owned()))?;
    if String::from_utf8_lossy(&object_type).trim() != "tree" {
        return Err(GitError::RootDirectory(root.to_owned()));
    }
    let tarball = git(
        Some(scratch),
        &["archive", "--format=tar.gz", &tree],
        timeout,
    )
    .await?;
    if tarball.len() > max_size {
        return Err(GitError::TooLarge(max_size));
    }
    Ok(Archive {
        tarball,
        commit_hash: hash,
        commit_author: author.to_owned(),
        commit_message: message.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_names() {
        assert!(supported_url("file:///tmp/repo"));
        assert!(supported_url("https://github.com/appwrite/templates.git"));
        assert!(!supported_url("/tmp/repo"));
        assert!(!supported_url("--upload-pack=x"));
        assert_eq!(
            owner_and_name("https://github.com/appwrite/templates.git"),
            ("appwrite".to_owned(), "templates".to_owned())
        );
        assert_eq!(
            clean_root("./node/starter/").ok().as_deref(),
            Some("node/starter")
        );
        assert_eq!(clean_root("").ok().as_deref(), Some(""));
        assert!(clean_root("../etc").is_err());
    }
}

/// `GATEWAY__TEMPLATES__BASE_URL`: a template `{owner, repository}` that is not itself a URL is
/// cloned from `<base_url>/<owner>/<repository>` (default `https://github.com`, i.e. what Appwrite
/// does; point it at e.g. `file:///srv/templates` for a local catalogue).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct TemplateSettings {
    #[serde(default = "default_template_base")]
    pub base_url: String,
}

impl Default for TemplateSettings {
    fn default() -> Self {
        Self {
            base_url: default_template_base(),
        }
    }
}

fn default_template_base() -> String {
    "https://github.com".into()
}

/// The git URL of a template: `repository` itself when it is a URL, else
/// `<base_url>/<owner>/<repository>`.
pub fn template_url(settings: &TemplateSettings, owner: &str, repository: &str) -> String {
    if supported_url(repository) {
        repository.to_owned()
    } else {
        format!(
            "{}/{}/{}",
            settings.base_url.trim_end_matches('/'),
            owner,
            repository
        )
    }
}
