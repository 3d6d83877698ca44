//! The shared cache's directory and lock where there is no unix: its safety rests on owner and
//! mode checks of a private directory, `O_NOFOLLOW` and `fcntl` locks, which Windows spells
//! differently (ACLs, `LockFileEx`) and which are not built. Every use is refused with
//! CREDENTIAL_UNAVAILABLE, so a provider that asks for the shared cache keeps its in-process
//! cache alone and says so once (`warn_once`), as for a directory it refuses on unix.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(crate) use super::refused;
use crate::error::{Error, ErrorKind, Result};

fn unsupported() -> Error {
    Error::new(
        ErrorKind::CredentialUnavailable,
        "the shared token cache needs a unix system (a private directory and fcntl locks); tokens are cached in this process only",
    )
}

pub(crate) fn location() -> PathBuf {
    std::env::temp_dir().join("passmint")
}

pub(crate) fn private_dir() -> Result<PathBuf> {
    Err(unsupported())
}

pub(crate) fn clear() -> Result<usize> {
    Err(unsupported())
}

pub(crate) fn open(_path: &Path, _write: bool) -> Result<Option<fs::File>> {
    Err(unsupported())
}

pub(crate) fn open_new(_path: &Path) -> io::Result<fs::File> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Never held (`acquire` always refuses); shaped like unix's, a file that unlocks on close.
pub(crate) struct Held {
    _file: fs::File,
}

pub(crate) fn acquire(_path: &Path, _until: Instant) -> Result<Held> {
    Err(unsupported())
}
