//! Replacing output files atomically, all of a job's outputs together.
//!
//! An output is first *staged*: written in full and synced to a file in the destination's
//! directory that nobody sees — an anonymous file (`O_TMPFILE`) where the file system
//! allows, which the kernel frees if the process dies, even by SIGKILL — then *committed*:
//! linked under a hidden name and renamed over the destination at once. A job stages every
//! output before it commits any (see [`super::deliver`]), so a failure while writing one
//! (disk full, a missing directory) leaves every older output as it was.
//!
//! Where anonymous files are not supported, the staged file has a hidden name
//! (`.NAME.XXXXXXXX.tmp`) from the start. A staged file that is dropped uncommitted is
//! removed, and SIGINT, SIGTERM or SIGHUP remove every hidden name still on disk before the
//! process ends as the signal would have ended it; only SIGKILL during the rename, or of a
//! process without anonymous files, can leave one behind.
//!
//! The new file keeps the mode of the file it replaces; a new file gets 0666 less the
//! umask, like any file a shell creates. A symbolic link is followed, so the file it points
//! to is replaced, not the link. Anything else that exists — `/dev/null`, `/dev/stdout`, a
//! FIFO — is written in place while staging, since renaming over it would destroy it.

use std::ffi::{CString, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

use crate::error::{Error, Result};

/// An output written in full, not yet in place.
#[must_use = "a staged output is thrown away unless committed"]
pub struct Staged {
    what: &'static str,
    /// The destination (a symbolic link's target).
    target: PathBuf,
    /// The staged file: anonymous, or under `hidden`; `None` once written in place (a
    /// destination that is not a regular file) or committed.
    file: Option<File>,
    /// The hidden name of a staged file that has one (removed if the output is dropped).
    hidden: Option<Hidden>,
}

/// Writes the output `path` through `fill` to a staged file (see the module docs). `what`
/// says what is written, for error messages ("writing output").
pub fn stage(
    what: &'static str,
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
) -> Result<Staged> {
    let err = |source| Error::Output {
        what,
        path: path.to_path_buf(),
        source,
    };
    let existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(|m| !m.is_file()) {
        let mut file = OpenOptions::new().write(true).open(path).map_err(err)?;
        write_all(&mut file, fill).map_err(err)?;
        return Ok(Staged {
            what,
            target: path.to_path_buf(),
            file: None,
            hidden: None,
        });
    }
    let target = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(path).map_err(err)?,
        _ => path.to_path_buf(),
    };
    let dir = directory_of(&target);
    let (mut file, hidden) = match anonymous_file(dir) {
        Some(file) => (file.map_err(err)?, None),
        None => {
            let (file, name) = named_file(dir, &target).map_err(err)?;
            (file, Some(Hidden::register(&HIDDEN, name)))
        }
    };
    // From here on, an error drops `hidden`, which removes the file's name.
    if let Some(meta) = &existing {
        let mode = meta.permissions().mode() & 0o7777;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(err)?;
    }
    write_all(&mut file, fill).map_err(err)?;
    file.sync_all().map_err(err)?;
    Ok(Staged {
        what,
        target,
        file: Some(file),
        hidden,
    })
}

/// Stages and commits one output.
pub fn write_atomically(
    what: &'static str,
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
) -> Result<()> {
    stage(what, path, fill)?.commit()
}

impl Staged {
    /// Puts the output in place of its destination.
    pub fn commit(mut self) -> Result<()> {
        let err = |source| Error::Output {
            what: self.what,
            path: self.target.clone(),
            source,
        };
        let mut hidden = match (self.hidden.take(), self.file.take()) {
            (Some(hidden), _) => hidden,
            (None, Some(file)) => {
                let name = hidden_name(directory_of(&self.target), &self.target);
                let hidden = Hidden::register(&HIDDEN, name);
                link_anonymous(&file, &hidden.name).map_err(err)?;
                hidden
            }
            (None, None) => return Ok(()),
        };
        std::fs::rename(&hidden.name, &self.target).map_err(err)?;
        hidden.on_disk = false;
        Ok(())
    }
}

/// The directory a file is in (`.` for a bare name).
pub fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn write_all(
    file: &mut File,
    fill: impl FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
) -> io::Result<()> {
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    fill(&mut writer)?;
    writer.flush()
}

/// An anonymous file in `dir` (mode 0666 less the umask), or `None` where this system
/// cannot give one a name later (no `O_TMPFILE`, or no `/proc` to link it through).
fn anonymous_file(dir: &Path) -> Option<io::Result<File>> {
    if !Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    match OpenOptions::new()
        .write(true)
        .mode(0o666)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    {
        Ok(file) => Some(Ok(file)),
        // File systems (and kernels) without O_TMPFILE say so in one of these ways.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOENT)
            ) && dir.is_dir() =>
        {
            None
        }
        Err(e) => Some(Err(e)),
    }
}

/// Gives the anonymous `file` the name `name` (which must not exist).
fn link_anonymous(file: &File, name: &Path) -> io::Result<()> {
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = CString::new(name.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let linked = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if linked == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A new file under a hidden name beside `target` (mode 0666 less the umask).
fn named_file(dir: &Path, target: &Path) -> io::Result<(File, PathBuf)> {
    loop {
        let name = hidden_name(dir, target);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(&name)
        {
            Ok(file) => return Ok((file, name)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `.NAME.XXXXXXXX.tmp` in `dir`, with a random part.
fn hidden_name(dir: &Path, target: &Path) -> PathBuf {
    let random = crate::net::auth::random().map_or_else(
        |_| u64::from(std::process::id()) ^ clock_nanos(),
        u64::from_le_bytes,
    );
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or("wetmr".as_ref()));
    name.push(format!(".{:08x}.tmp", random as u32));
    dir.join(name)
}

fn clock_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Places for paths on disk that a signal handler must remove.
type Registry = [AtomicPtr<libc::c_char>; 8];

/// Hidden names on disk, for the signal handlers to remove. A few at most are in use at
/// once (one per output of the job); the paths are never freed, so a handler that read
/// one can always use it.
static HIDDEN: Registry = [const { AtomicPtr::new(std::ptr::null_mut()) }; 8];

/// A staged file's hidden name, registered for the signal handlers; removed from the disk
/// and the registry when dropped (unless a rename has moved it into place).
struct Hidden {
    name: PathBuf,
    on_disk: bool,
    registry: &'static Registry,
    /// Its place in the registry (`None`: all were taken; it is not removed on signals).
    slot: Option<usize>,
}

impl Hidden {
    fn register(registry: &'static Registry, name: PathBuf) -> Hidden {
        install_signal_cleanup();
        let slot = CString::new(name.as_os_str().as_bytes())
            .ok()
            .and_then(|path| {
                let path = path.into_raw();
                registry.iter().position(|slot| {
                    let free = std::ptr::null_mut();
                    slot.compare_exchange(free, path, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                })
            });
        Hidden {
            name,
            on_disk: true,
            registry,
            slot,
        }
    }
}

impl Drop for Hidden {
    fn drop(&mut self) {
        if self.on_disk {
            let _ = std::fs::remove_file(&self.name);
        }
        if let Some(i) = self.slot {
            self.registry[i].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }
}

/// Removes every path of `registry`. Async-signal-safe: atomic loads and unlink(2).
fn remove_registered(registry: &Registry) {
    for slot in registry {
        let path = slot.load(Ordering::SeqCst);
        if !path.is_null() {
            // SAFETY: registered paths are NUL-terminated and never freed.
            unsafe { libc::unlink(path) };
        }
    }
}

/// On SIGINT, SIGTERM and SIGHUP: remove the hidden names, then end as the signal would.
fn install_signal_cleanup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the action only does async-signal-safe things (atomic loads, unlink,
            // and signal-hook's emulation of the default action, meant for handlers).
            let _ = unsafe {
                signal_hook::low_level::register(signal, move || {
                    remove_registered(&HIDDEN);
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                })
            };
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn devices_are_written_in_place_not_replaced() {
        let null = Path::new("/dev/null");
        if !null.exists() {
            eprintln!("SKIPPED: no /dev/null");
            return;
        }
        write_atomically("writing", null, |w| w.write_all(b"data")).unwrap();
        let meta = std::fs::metadata(null).unwrap();
        assert!(!meta.is_file(), "/dev/null must stay a device");
    }

    #[test]
    fn symlinks_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.tsv");
        let link = dir.path().join("link.tsv");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically("writing", &link, |w| w.write_all(b"new")).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tsv");
        std::fs::write(&path, "old").unwrap();
        let got = write_atomically("writing", &path, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(got.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(names(dir.path()), ["out.tsv"], "temp file left");
        write_atomically("writing", &path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }

    #[test]
    fn a_staged_output_is_invisible_until_committed_and_gone_if_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tsv");
        std::fs::write(&path, "old").unwrap();
        let staged = stage("writing", &path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        drop(staged);
        assert_eq!(names(dir.path()), ["out.tsv"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    }

    #[test]
    fn modes_are_kept_or_follow_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("kept.tsv");
        std::fs::write(&kept, "old").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically("writing", &kept, |w| w.write_all(b"new")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&kept), 0o640);
        // A new file gets what the umask leaves of 0666, as a plain create does.
        let new = dir.path().join("new.tsv");
        write_atomically("writing", &new, |w| w.write_all(b"x")).unwrap();
        let plain = dir.path().join("plain");
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(&plain)
            .unwrap();
        assert_eq!(mode(&new), mode(&plain));
    }

    #[test]
    fn hidden_names_are_removed_by_the_signal_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.tsv");
        let (_file, name) = named_file(dir.path(), &target).unwrap();
        assert!(name
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".out.tsv."));
        // A registry of its own: the tests of this module run at once.
        static REGISTRY: Registry = [const { AtomicPtr::new(std::ptr::null_mut()) }; 8];
        let hidden = Hidden::register(&REGISTRY, name);
        assert!(hidden.slot.is_some());
        remove_registered(&REGISTRY);
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        drop(hidden);
        assert!(REGISTRY.iter().all(|p| p.load(Ordering::SeqCst).is_null()));
    }
}
