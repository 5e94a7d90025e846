//! The object store the workers read sources from and write build outputs to.
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("could not create storage dir {dir}: {source}")]
    CreateDir { dir: String, source: std::io::Error },
    #[error("object not found: {0}")]
    NotFound(String),
    #[error("invalid object key {key}: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("object store error: {0}")]
    Store(#[from] object_store::Error),
}

impl StorageError {
    /// True for errors that will not go away by retrying (missing object, bad key).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            StorageError::NotFound(_) | StorageError::InvalidKey { .. }
        )
    }
}

/// Opens the local object store rooted at `dir`, creating the directory when missing.
pub fn open_local(dir: &str) -> Result<Arc<dyn ObjectStore>, StorageError> {
    std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
        dir: dir.to_owned(),
        source,
    })?;
    Ok(Arc::new(LocalFileSystem::new_with_prefix(dir)?))
}

fn key(k: &str) -> Result<Path, StorageError> {
    Path::parse(k).map_err(|e| StorageError::InvalidKey {
        key: k.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads a whole object.
pub async fn get(store: &dyn ObjectStore, k: &str) -> Result<bytes::Bytes, StorageError> {
    let path = key(k)?;
    match store.get(&path).await {
        Ok(result) => Ok(result.bytes().await?),
        Err(object_store::Error::NotFound { .. }) => Err(StorageError::NotFound(k.to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// Writes a whole object (atomically on the local backend).
pub async fn put(store: &dyn ObjectStore, k: &str, data: bytes::Bytes) -> Result<(), StorageError> {
    let path = key(k)?;
    store.put(&path, data.into()).await?;
    Ok(())
}
