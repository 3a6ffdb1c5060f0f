//! Reader leases: a reader holds a shared file lock on `leases/g<generation>` for as long as
//! it may read the files of that catalog generation, so that the writer removes a replaced
//! file as soon as no reader of an older generation is left — not a grace period later.
//!
//! - A reader ([`crate::exec::Snapshot::load`]) reads the catalog, takes the lease of its
//!   generation, then reads the catalog's generation again: if a publish came in between, the
//!   files of the generation it read may already be gone, so it lets the lease go and starts
//!   over with the new catalog. Once the generation is the same after the lease, every later
//!   garbage collection sees the lease.
//! - The writer, after a publish, asks for the oldest generation a live reader holds
//!   ([`oldest_held`]): a file that left the catalog at generation `L` is needed only by
//!   readers of generations before `L`.
//! - Locks are the kernel's (`flock`), released however the process ends: a reader killed
//!   with SIGKILL holds nothing. A lease file nobody holds is removed by the writer under its
//!   exclusive lock; a reader that locked a file the writer removed meanwhile sees that the
//!   path names another file (or none) and takes the lease again.
//!
//! Where the folder cannot hold leases (a read-only store), readers read without one and
//! the writer's grace period is what protects them.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

pub const LEASES_DIR: &str = "leases";
/// Attempts to take a lease whose file the writer removes each time (in practice one or two).
const ATTEMPTS: usize = 8;

/// A reader's hold on a generation's files; let go when dropped.
#[derive(Debug)]
pub struct Lease {
    _file: File,
    generation: u64,
}

impl Lease {
    /// Takes the lease of `generation` in the store at `dir`; `None` when the store has no
    /// folder for leases and one cannot be made.
    pub fn take(dir: &Path, generation: u64) -> Option<Lease> {
        let folder = dir.join(LEASES_DIR);
        if !folder.is_dir() {
            std::fs::create_dir(&folder).ok();
        }
        let path = folder.join(file_name(generation));
        for _ in 0..ATTEMPTS {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .ok()?;
            file.lock_shared().ok()?;
            if names(&path, &file) {
                return Some(Lease {
                    _file: file,
                    generation,
                });
            }
        }
        tracing::warn!(path = %path.display(), "could not hold a reader lease; reading under the grace period");
        None
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }
}

fn file_name(generation: u64) -> String {
    format!("g{generation:010}")
}

fn generation_of(name: &str) -> Option<u64> {
    name.strip_prefix('g')?.parse().ok()
}

/// Whether `path` still names the open `file` (the writer did not remove it in between).
#[cfg(unix)]
fn names(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(on_disk), Ok(open)) => on_disk.dev() == open.dev() && on_disk.ino() == open.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn names(path: &Path, _file: &File) -> bool {
    path.exists()
}

/// The oldest generation a live reader of the store at `dir` holds (none: no reader holds
/// one). Removes the lease files nobody holds. A lease whose state cannot be told counts as
/// held.
pub fn oldest_held(dir: &Path) -> Option<u64> {
    let folder = dir.join(LEASES_DIR);
    let entries = std::fs::read_dir(&folder).ok()?;
    let mut oldest: Option<u64> = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(generation) = generation_of(&name) else {
            continue;
        };
        let path: PathBuf = entry.path();
        let held = match OpenOptions::new().write(true).open(&path) {
            Ok(file) => match file.try_lock() {
                Ok(()) => {
                    // Nobody holds it: remove it while holding it, so that a reader that
                    // opened it meanwhile finds the path gone and takes a new one.
                    let _ = std::fs::remove_file(&path);
                    false
                }
                Err(TryLockError::WouldBlock) => true,
                Err(TryLockError::Error(_)) => true,
            },
            // Removed in between by another collection.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
            Err(_) => true,
        };
        if held {
            oldest = Some(oldest.map_or(generation, |o| o.min(generation)));
        }
    }
    oldest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_held_lease_pins_and_released_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(oldest_held(dir.path()), None);
        let seven = Lease::take(dir.path(), 7).unwrap();
        let nine = Lease::take(dir.path(), 9).unwrap();
        let again = Lease::take(dir.path(), 7).unwrap();
        assert_eq!(oldest_held(dir.path()), Some(7));
        drop(seven);
        assert_eq!(oldest_held(dir.path()), Some(7), "another reader holds 7");
        drop(again);
        assert_eq!(oldest_held(dir.path()), Some(9));
        assert!(!dir.path().join(LEASES_DIR).join(file_name(7)).exists());
        drop(nine);
        assert_eq!(oldest_held(dir.path()), None);
        // A lease file left by a reader that died holds nothing.
        std::fs::write(dir.path().join(LEASES_DIR).join(file_name(3)), b"").unwrap();
        std::fs::write(dir.path().join(LEASES_DIR).join("notes.txt"), b"").unwrap();
        assert_eq!(oldest_held(dir.path()), None);
        assert_eq!(lease_files(dir.path()), ["notes.txt"]);
    }

    fn lease_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir.join(LEASES_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}
