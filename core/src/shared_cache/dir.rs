//! Where the shared cache lives, and the checks that keep it private: one directory per user,
//! mode 0700, owned by this user and no symlink; files 0600, checked the same way when opened.
//! Anything else is refused, never read.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub(crate) use super::refused;
use crate::error::Result;

/// The directory: `$XDG_RUNTIME_DIR/passmint` (a per-user tmpfs), else
/// `/run/user/<uid>/passmint` when that exists, else `${TMPDIR:-/tmp}/passmint-<uid>`.
pub(crate) fn location() -> PathBuf {
    let uid = euid();
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && runtime.is_absolute()
    {
        return runtime.join("passmint");
    }
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    if run_user.is_dir() {
        return run_user.join("passmint");
    }
    let tmp = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    tmp.join(format!("passmint-{uid}"))
}

pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The directory, created 0700 when absent; refused unless it is a real directory of this user
/// that nobody else can enter.
pub(crate) fn private_dir() -> Result<PathBuf> {
    let dir = location();
    match fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .or_else(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(refused(&dir, &format!("it cannot be created ({e})"))),
                })?;
        }
        Err(e) => return Err(refused(&dir, &format!("it cannot be read ({e})"))),
        Ok(_) => {}
    }
    let meta = fs::symlink_metadata(&dir).map_err(|e| refused(&dir, &e.to_string()))?;
    check(&dir, &meta, true)?;
    Ok(dir)
}

/// Refuses what another user could have placed or can read.
pub(crate) fn check(path: &Path, meta: &fs::Metadata, is_dir: bool) -> Result<()> {
    let kind_ok = if is_dir {
        meta.file_type().is_dir()
    } else {
        meta.file_type().is_file()
    };
    if meta.file_type().is_symlink() || !kind_ok {
        let what = if is_dir {
            "a directory"
        } else {
            "a regular file"
        };
        return Err(refused(path, &format!("it is not {what} (a symlink?)")));
    }
    if meta.uid() != euid() {
        return Err(refused(
            path,
            &format!("it belongs to uid {}, not {}", meta.uid(), euid()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(refused(
            path,
            &format!(
                "its mode {:o} lets other users in (want {})",
                meta.mode() & 0o777,
                if is_dir { "0700" } else { "0600" }
            ),
        ));
    }
    Ok(())
}

/// Opens a file in the directory without following a symlink, checked as [`check`] does.
pub(crate) fn open(path: &Path, write: bool) -> Result<Option<fs::File>> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(write)
        .create(write)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(refused(path, &format!("it cannot be opened ({e})"))),
    };
    let meta = file.metadata().map_err(|e| refused(path, &e.to_string()))?;
    check(path, &meta, false)?;
    Ok(Some(file))
}

/// Removes every entry passmint wrote (`*.json`, `*.lock`, leftover `*.tmp`); the number removed.
pub(crate) fn clear() -> Result<usize> {
    let dir = private_dir()?;
    let mut removed = 0;
    for entry in fs::read_dir(&dir).map_err(|e| refused(&dir, &e.to_string()))? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let name = name.as_bytes();
        if [&b".json"[..], b".lock", b".tmp"]
            .iter()
            .any(|s| name.ends_with(s))
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Creates a new 0600 file that did not exist (no symlink followed, none replaced).
pub(crate) fn open_new(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}
