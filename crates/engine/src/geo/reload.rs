//! Databases that follow their files on disk. A database is read on first use; from then on a
//! watcher thread compares the files' size, modification time and inode every couple of
//! seconds and loads a changed set in the background. Lookups never wait for a reload: each
//! takes an `Arc` of the generation current when it starts and finishes on it, while the next
//! one sees the new data. A replacement that does not load (a half-copied or damaged file)
//! is logged and the previous generation stays in use; the same files are not retried until
//! they change again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

/// Numbers the databases of the process.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// How often the watcher looks at the files by default.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

type Loader<T> = dyn Fn(&[PathBuf]) -> Result<T, String> + Send + Sync;

/// A value loaded from files, replaced when the files change.
pub(crate) struct Reloading<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    /// Unique in the process, so two databases never share a generation id.
    instance: u64,
    paths: Vec<PathBuf>,
    load: Box<Loader<T>>,
    current: RwLock<Slot<T>>,
    /// Serialises loads: the first one, and the watcher's.
    loading: Mutex<()>,
    /// Held only briefly, so `info` does not wait for a load in progress.
    status: Mutex<Status>,
    interval_millis: AtomicU64,
}

enum Slot<T> {
    Unloaded,
    Loaded(Arc<T>),
    /// The first load failed; lookups answer nothing until the files change and load.
    Failed(Arc<str>),
}

#[derive(Default)]
struct Status {
    /// The files as they were when the current generation (or the first failure) was read.
    stamps: Vec<Option<Stamp>>,
    /// Files that failed to load, not retried until they change again.
    rejected: Option<Vec<Option<Stamp>>>,
    last_error: Option<String>,
    generation: u64,
    watching: bool,
}

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        inode,
    })
}

/// A snapshot of the reload state, for [`crate::geo::GeoInfo`].
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ReloadStatus {
    /// 0 before the first load, then 1, 2, ... for each generation loaded.
    pub generation: u64,
    /// Why the last load (first or replacement) failed, if it did.
    pub last_error: Option<String>,
}

impl<T: Send + Sync + 'static> Reloading<T> {
    pub(crate) fn new(
        paths: Vec<PathBuf>,
        load: impl Fn(&[PathBuf]) -> Result<T, String> + Send + Sync + 'static,
    ) -> Reloading<T> {
        Reloading {
            shared: Arc::new(Shared {
                instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
                paths,
                load: Box::new(load),
                current: RwLock::new(Slot::Unloaded),
                loading: Mutex::default(),
                status: Mutex::default(),
                interval_millis: AtomicU64::new(millis(DEFAULT_RELOAD_INTERVAL)),
            }),
        }
    }

    pub(crate) fn paths(&self) -> &[PathBuf] {
        &self.shared.paths
    }

    /// How often the files are compared (the default is two seconds).
    pub(crate) fn set_interval(&self, interval: Duration) {
        self.shared
            .interval_millis
            .store(millis(interval).max(1), Ordering::Relaxed);
    }

    /// The current generation, loading it on first use.
    pub(crate) fn get(&self) -> Result<Arc<T>, Arc<str>> {
        if let Some(answer) = self.peek() {
            return answer;
        }
        let _loading = self
            .shared
            .loading
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(answer) = self.peek() {
            return answer;
        }
        let stamps = self.shared.stamps();
        let loaded = (self.shared.load)(&self.shared.paths);
        let mut status = self.shared.status();
        let slot = match loaded {
            Ok(value) => {
                status.generation += 1;
                status.last_error = None;
                Slot::Loaded(Arc::new(value))
            }
            Err(message) => {
                status.last_error = Some(message.clone());
                Slot::Failed(message.into())
            }
        };
        status.stamps = stamps;
        if !status.watching {
            status.watching = true;
            Shared::watch(&self.shared);
        }
        drop(status);
        let answer = match &slot {
            Slot::Loaded(value) => Ok(Arc::clone(value)),
            Slot::Failed(message) => Err(Arc::clone(message)),
            Slot::Unloaded => Err("not loaded".into()),
        };
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = slot;
        answer
    }

    /// The current generation if one is loaded, without loading.
    pub(crate) fn loaded(&self) -> Option<Arc<T>> {
        self.peek().and_then(Result::ok)
    }

    fn peek(&self) -> Option<Result<Arc<T>, Arc<str>>> {
        match &*self
            .shared
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
        {
            Slot::Unloaded => None,
            Slot::Loaded(value) => Some(Ok(Arc::clone(value))),
            Slot::Failed(message) => Some(Err(Arc::clone(message))),
        }
    }

    /// Names the data a lookup now answers from, unique in the process: the database
    /// instance and its generation (0 before the first load). For result cache keys.
    pub(crate) fn generation_id(&self) -> String {
        format!(
            "{}.{}",
            self.shared.instance,
            self.shared.status().generation
        )
    }

    pub(crate) fn status(&self) -> ReloadStatus {
        let status = self.shared.status();
        ReloadStatus {
            generation: status.generation,
            last_error: status.last_error.clone(),
        }
    }

    /// Compares the files now and loads them if they changed; what the watcher does.
    #[cfg(test)]
    pub(crate) fn check_now(&self) {
        self.shared.check();
    }
}

impl<T: Send + Sync + 'static> Shared<T> {
    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stamps(&self) -> Vec<Option<Stamp>> {
        self.paths.iter().map(|p| stamp(p)).collect()
    }

    /// Starts the watcher. It holds the database weakly and ends once it is dropped.
    fn watch(shared: &Arc<Shared<T>>) {
        let weak: Weak<Shared<T>> = Arc::downgrade(shared);
        let spawned = std::thread::Builder::new()
            .name("mailscope-geo-watch".into())
            .spawn(move || {
                loop {
                    let interval = match weak.upgrade() {
                        Some(shared) => shared.interval_millis.load(Ordering::Relaxed),
                        None => return,
                    };
                    std::thread::sleep(Duration::from_millis(interval));
                    match weak.upgrade() {
                        Some(shared) => shared.check(),
                        None => return,
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the database file watcher; changes on disk need a restart");
        }
    }

    fn check(&self) {
        let _loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        let stamps = self.stamps();
        {
            let status = self.status();
            if stamps == status.stamps || status.rejected.as_ref() == Some(&stamps) {
                return;
            }
        }
        let files = self
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match (self.load)(&self.paths) {
            Ok(value) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) =
                    Slot::Loaded(Arc::new(value));
                let mut status = self.status();
                status.generation += 1;
                status.stamps = stamps;
                status.rejected = None;
                status.last_error = None;
                tracing::info!(files, generation = status.generation, "database reloaded");
            }
            Err(message) => {
                tracing::warn!(
                    files,
                    error = %message,
                    "changed database does not load; the previous data stays in use"
                );
                {
                    let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
                    if let Slot::Failed(_) = &*current {
                        *current = Slot::Failed(message.as_str().into());
                    }
                }
                let mut status = self.status();
                status.rejected = Some(stamps);
                status.last_error = Some(message);
            }
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number_file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        let temporary = dir.join(format!("{name}.tmp"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, &path).unwrap();
        path
    }

    fn parse(paths: &[PathBuf]) -> Result<u32, String> {
        let text = std::fs::read_to_string(&paths[0]).map_err(|e| e.to_string())?;
        text.trim()
            .parse()
            .map_err(|_| format!("not a number: {text}"))
    }

    #[test]
    fn a_changed_file_replaces_the_value_and_a_bad_one_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = number_file(dir.path(), "n", "1");
        let value = Reloading::new(vec![path], parse);
        let first = value.get().unwrap();
        assert_eq!(*first, 1);
        number_file(dir.path(), "n", "2");
        value.check_now();
        assert_eq!(*value.get().unwrap(), 2);
        assert_eq!(*first, 1, "a reader keeps the generation it started with");
        number_file(dir.path(), "n", "garbage");
        value.check_now();
        assert_eq!(*value.get().unwrap(), 2);
        let status = value.status();
        assert_eq!(status.generation, 2);
        assert!(status.last_error.unwrap().contains("not a number"));
        number_file(dir.path(), "n", "3");
        value.check_now();
        assert_eq!(*value.get().unwrap(), 3);
        assert_eq!(value.status().last_error, None);
    }

    #[test]
    fn a_first_load_failure_recovers_when_the_file_is_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let path = number_file(dir.path(), "n", "x");
        let value = Reloading::new(vec![path], parse);
        assert!(value.get().is_err());
        assert!(value.get().is_err(), "not retried while unchanged");
        number_file(dir.path(), "n", "7");
        value.check_now();
        assert_eq!(*value.get().unwrap(), 7);
    }
}
