//! Tar helpers for Docker's archive endpoints (`PUT/GET /containers/{id}/archive`).
use std::io::Read;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("tar i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid path inside archive: {0}")]
    InvalidPath(String),
    #[error("the archive holds no regular file")]
    Empty,
}

/// A tar archive holding one regular file at `path` (relative, e.g. `mnt/code/code.tar.gz`),
/// with directory entries for every parent so it can be extracted at `/` even when the parents
/// do not exist in the container yet.
pub fn single_file_tar(path: &str, data: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    let path = path.trim_start_matches('/');
    if path.is_empty() || path.split('/').any(|p| p.is_empty() || p == "..") {
        return Err(ArchiveError::InvalidPath(path.to_owned()));
    }
    let mut builder = tar::Builder::new(Vec::new());
    let parts: Vec<&str> = path.split('/').collect();
    for depth in 1..parts.len() {
        let dir = format!("{}/", parts[..depth].join("/"));
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(mtime());
        builder.append_data(&mut header, dir, std::io::empty())?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_mtime(mtime());
    builder.append_data(&mut header, path, data)?;
    Ok(builder.into_inner()?)
}

fn mtime() -> u64 {
    u64::try_from(crate::now_unix_ms() / 1000).unwrap_or(0)
}

/// The contents of the first regular file in a tar archive (what `download_from_container` of a
/// single file returns).
pub fn first_file(tar_bytes: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.header().entry_type().is_file() {
            let mut out = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
            entry.read_to_end(&mut out)?;
            return Ok(out);
        }
    }
    Err(ArchiveError::Empty)
}

/// A gzip-compressed tar of `files` (`(path, contents)`), as a deployment source or build output.
pub fn tar_gz(files: &[(&str, &[u8])]) -> Result<Vec<u8>, ArchiveError> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_mtime(mtime());
        builder.append_data(&mut header, path, *data)?;
    }
    let encoder = builder.into_inner()?;
    Ok(encoder.finish()?)
}

/// Paths of the regular files inside a gzip-compressed tar (tests and diagnostics).
pub fn tar_gz_paths(bytes: &[u8]) -> Result<Vec<String>, ArchiveError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = Vec::new();
    for entry in archive.entries()? {
        let entry = entry?;
        if entry.header().entry_type().is_file() {
            out.push(entry.path()?.to_string_lossy().into_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_file_tar_has_parents_and_round_trips() {
        let tar_bytes = single_file_tar("mnt/code/code.tar.gz", b"hello").unwrap();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["mnt/", "mnt/code/", "mnt/code/code.tar.gz"]);
        assert_eq!(first_file(&tar_bytes).unwrap(), b"hello");
    }

    #[test]
    fn single_file_tar_rejects_bad_paths() {
        assert!(single_file_tar("", b"").is_err());
        assert!(single_file_tar("a/../b", b"").is_err());
    }

    #[test]
    fn first_file_of_empty_archive_is_an_error() {
        let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
        assert!(matches!(first_file(&empty), Err(ArchiveError::Empty)));
    }

    #[test]
    fn tar_gz_round_trips_paths() {
        let bytes = tar_gz(&[("index.js", b"x"), (".open-runtimes", b"y")]).unwrap();
        assert_eq!(
            tar_gz_paths(&bytes).unwrap(),
            vec!["index.js", ".open-runtimes"]
        );
    }
}
