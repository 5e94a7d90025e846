//! Deployment rules that are not SQL and not HTTP plumbing: chunked-upload `content-range`
//! parsing (spec 2.2.1), download `Range` parsing, and the object-store keys of upload chunks.
use crate::error::ApiError;

/// Chunk size of chunked uploads: 5 MiB (client and server must agree).
pub const CHUNK_SIZE: u64 = 5 * 1024 * 1024;

/// One chunk of a chunked upload, from `content-range: bytes <start>-<end>/<size>` (end inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    pub start: u64,
    pub end: u64,
    pub size: u64,
}

impl ChunkRange {
    /// `ceil(size / 5 MiB)`.
    pub fn chunks_total(&self) -> u64 {
        self.size.div_ceil(CHUNK_SIZE)
    }

    /// 1-based chunk index: `floor(start / 5 MiB) + 1`.
    pub fn index(&self) -> u64 {
        self.start / CHUNK_SIZE + 1
    }

    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Parses and checks a chunk's `content-range`. Missing parts, `end < start`, `end >= size`, a
/// start off the 5 MiB grid, or a chunk longer than 5 MiB are `storage_invalid_content_range`.
pub fn parse_content_range(value: &str) -> Result<ChunkRange, ApiError> {
    let invalid = || ApiError::StorageInvalidContentRange;
    let rest = value.trim().strip_prefix("bytes").ok_or_else(invalid)?;
    let rest = rest.trim_start();
    let (range, size) = rest.split_once('/').ok_or_else(invalid)?;
    let (start, end) = range.split_once('-').ok_or_else(invalid)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| invalid());
    let (start, end, size) = (num(start)?, num(end)?, num(size)?);
    if end < start || end >= size || start % CHUNK_SIZE != 0 || end - start + 1 > CHUNK_SIZE {
        return Err(invalid());
    }
    Ok(ChunkRange { start, end, size })
}

/// Object-store key of one received chunk of an upload.
pub fn chunk_key(project_id: &str, function_id: &str, deployment_id: &str, index: u64) -> String {
    format!("uploads/{project_id}/{function_id}/{deployment_id}/{index}")
}

/// A satisfiable byte range of a download: `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// Parses a download `Range` header against a file of `size` bytes: `bytes=a-b` (end clamped to
/// the file), `bytes=a-` and `bytes=-n` (suffix). One range only. Anything else, or a range that
/// starts past the end, is `storage_invalid_range` (416).
pub fn parse_range(value: &str, size: u64) -> Result<ByteRange, ApiError> {
    let invalid = || ApiError::StorageInvalidRange;
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    if spec.contains(',') || size == 0 {
        return Err(invalid());
    }
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().map_err(|_| invalid());
    let (start, end) = match (a.is_empty(), b.is_empty()) {
        (true, true) => return Err(invalid()),
        (true, false) => {
            let n = num(b)?;
            if n == 0 {
                return Err(invalid());
            }
            (size.saturating_sub(n), size - 1)
        }
        (false, true) => (num(a)?, size - 1),
        (false, false) => (num(a)?, num(b)?.min(size - 1)),
    };
    if start > end || start >= size {
        return Err(invalid());
    }
    Ok(ByteRange { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        let r = parse_content_range("bytes 0-5242879/12000000").unwrap_or(ChunkRange {
            start: 1,
            end: 1,
            size: 1,
        });
        assert_eq!((r.index(), r.chunks_total(), r.len()), (1, 3, CHUNK_SIZE));
        let last = parse_content_range("bytes 10485760-11999999/12000000");
        assert_eq!(last.map(|r| r.index()).ok(), Some(3));
        for bad in [
            "",
            "bytes",
            "bytes 0-10/",
            "bytes -10/100",
            "bytes 0-100/100",
            "bytes 10-5/100",
            "bytes 5-10/100",
            "items 0-10/100",
            "bytes 0-5242880/99999999",
        ] {
            assert!(
                matches!(
                    parse_content_range(bad),
                    Err(ApiError::StorageInvalidContentRange)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn download_ranges() {
        let ok = |v: &str| parse_range(v, 100).ok().map(|r| (r.start, r.end));
        assert_eq!(ok("bytes=0-9"), Some((0, 9)));
        assert_eq!(ok("bytes=90-200"), Some((90, 99)));
        assert_eq!(ok("bytes=95-"), Some((95, 99)));
        assert_eq!(ok("bytes=-10"), Some((90, 99)));
        for bad in [
            "bytes=100-",
            "bytes=5-2",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=-0",
            "bytes=-",
        ] {
            assert!(
                matches!(parse_range(bad, 100), Err(ApiError::StorageInvalidRange)),
                "{bad}"
            );
        }
    }
}
