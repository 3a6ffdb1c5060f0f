//! The store's directory: each URL feed's last good body (`<feed>.feed`) and its metadata
//! (`<feed>.meta.json`, versioned), both written atomically; loading them at start.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fetch::stores_copy;
use super::{FeedState, META_VERSION, apply_parse, context_of, location_text};
use crate::config::FeedLocation;
use crate::error::{Error, Result};
use crate::read;

/// Stored beside each feed body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Meta {
    pub(super) version: u32,
    pub(super) feed: String,
    pub(super) location: String,
    pub(super) fetched_at: DateTime<Utc>,
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
}

fn body_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}.feed", file_stem(name)))
}

fn meta_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}.meta.json", file_stem(name)))
}

/// Feed names are validated by the configuration; this keeps hand-built ones safe too.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Loads the stored copy (URL feeds) or the file (file feeds) without the network.
pub(super) fn load_from_disk(dir: &Path, state: &mut FeedState) {
    let config = state.config.clone();
    let (body, meta) = match &config.location {
        location if stores_copy(&config) => {
            let wanted = location_text(location);
            let meta: Option<Meta> = std::fs::read(meta_path(dir, &config.name))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .filter(|meta: &Meta| meta.version == META_VERSION && meta.location == wanted);
            let Some(meta) = meta else { return };
            let Ok(body) = std::fs::read(body_path(dir, &config.name)) else {
                return;
            };
            (body, meta)
        }
        FeedLocation::Url(_) => return,
        FeedLocation::File(path) => {
            let Ok(body) = std::fs::read(path) else {
                state.status.last_error = Some(format!("cannot read {}", path.display()));
                return;
            };
            let fetched_at = Utc::now();
            let meta = Meta {
                version: META_VERSION,
                feed: config.name.clone(),
                location: path.display().to_string(),
                fetched_at,
                etag: None,
                last_modified: None,
            };
            (body, meta)
        }
    };
    match read::read(&context_of(&config, meta.fetched_at), config.format, &body) {
        Ok(parse) => {
            apply_parse(state, parse, meta.fetched_at);
            state.etag = meta.etag;
            state.last_modified = meta.last_modified;
            state.status.last_success = Some(meta.fetched_at);
            let refresh = chrono::Duration::from_std(config.refresh)
                .unwrap_or_else(|_| chrono::Duration::hours(1));
            state.status.next_fetch = Some(meta.fetched_at + refresh);
        }
        Err(error) => {
            state.status.last_error = Some(format!("stored copy unreadable: {error}"));
        }
    }
}

/// Writes the body and then its metadata, each atomically.
pub(super) fn save(dir: &Path, name: &str, body: &[u8], meta: &Meta) -> Result<()> {
    write_atomically(&body_path(dir, name), body)?;
    let meta = serde_json::to_vec_pretty(meta).map_err(|error| Error::Io {
        path: meta_path(dir, name),
        message: error.to_string(),
    })?;
    write_atomically(&meta_path(dir, name), &meta)
}

/// Temporary file, fsync, rename over the target, fsync of the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        if let Ok(directory) = std::fs::File::open(dir) {
            directory.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        Error::io(path, &error)
    })
}
