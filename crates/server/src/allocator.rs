//! The allocator's settings for the long-running commands (`serve`, `demo`, `collect`).
//!
//! glibc's allocator, left to its defaults, keeps what a thread freed in that thread's arena
//! (up to eight arenas a core) and serves Arrow's large buffers from those arenas once its
//! adaptive threshold for mapping them separately has grown, so a server whose queries run
//! on many threads stays at two to three times the memory its queries hold: measured with 2 M
//! records and `--memory 128MiB`, 305 MB resident after the dashboards' panels one at a time
//! for 76 MB of live heap. Two arenas, buffers of 128 KiB and more mapped on their own (and
//! so returned when freed) and the top of the heap trimmed past 128 KiB bring that to about
//! 160 MB, code included (BENCHMARKS.md).
//!
//! glibc reads these settings (`GLIBC_TUNABLES`) only when a process starts, and setting
//! them from inside needs `mallopt`, which the crates' ban on `unsafe` rules out; the command
//! therefore runs itself again, once, with them set. Settings the user made
//! (`GLIBC_TUNABLES` with a `glibc.malloc.` entry, or a `MALLOC_*_` variable) are left alone;
//! other C libraries ignore the variable.

use std::ffi::OsString;

/// What the command runs with.
const TUNABLES: &str = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072";

/// Set in the command run again, so that it does not run itself once more.
const TUNED: &str = "MAILSCOPE_ALLOCATOR_TUNED";

/// The environment variables through which a user sets the allocator up themselves.
const USER_SETTINGS: [&str; 4] = [
    "MALLOC_ARENA_MAX",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
];

/// The value of `GLIBC_TUNABLES` to run with, given the current one (`None`: unset) and
/// whether a `MALLOC_*` variable is set; `None`: run as is.
fn tunables(current: Option<&str>, malloc_variable_set: bool) -> Option<String> {
    if malloc_variable_set {
        return None;
    }
    match current {
        None | Some("") => Some(TUNABLES.to_string()),
        Some(user) if user.contains("glibc.malloc.") => None,
        Some(user) => Some(format!("{user}:{TUNABLES}")),
    }
}

/// Runs this command again with the allocator's settings, unless this is that run or the
/// user set the allocator up. Returns only when it does not (or could not) run again; the
/// command then goes on with the settings it has.
#[cfg(target_os = "linux")]
pub fn run_tuned() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(TUNED).is_some() {
        return;
    }
    let current = std::env::var_os("GLIBC_TUNABLES").map(OsString::into_string);
    let current = match current {
        Some(Ok(text)) => Some(text),
        Some(Err(_)) => return,
        None => None,
    };
    let set = USER_SETTINGS.iter().any(|v| std::env::var_os(v).is_some());
    let Some(tunables) = tunables(current.as_deref(), set) else {
        return;
    };
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    let error = std::process::Command::new(program)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .env(TUNED, "1")
        .exec();
    eprintln!(
        "mailscope: cannot run again with the allocator's settings ({error}); going on without them"
    );
}

#[cfg(not(target_os = "linux"))]
pub fn run_tuned() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_are_added_to_the_users_and_never_replace_theirs() {
        assert_eq!(tunables(None, false).as_deref(), Some(TUNABLES));
        assert_eq!(tunables(Some(""), false).as_deref(), Some(TUNABLES));
        assert_eq!(
            tunables(Some("glibc.rtld.optional_static_tls=4096"), false),
            Some(format!("glibc.rtld.optional_static_tls=4096:{TUNABLES}"))
        );
        assert_eq!(tunables(Some("glibc.malloc.arena_max=8"), false), None);
        assert_eq!(tunables(None, true), None);
    }
}
