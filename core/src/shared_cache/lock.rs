//! The cross-process single flight: a POSIX record lock on `<key>.lock`. Only one process holds
//! it; the others poll until it is free or their deadline passes. The kernel drops the lock when
//! its holder exits, also by `kill -9`, so a waiter takes over. A record lock belongs to the
//! process, so a child `fork()`ed while it is held does not hold it (an `flock` would be shared
//! with the child, which would keep it until it exits).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::shared_cache::dir;

const POLL: Duration = Duration::from_millis(15);

/// The held lock; dropping it (closing the file) releases it.
pub(crate) struct Held {
    _file: File,
}

/// Waits for the lock until `until`.
pub(crate) fn acquire(path: &Path, until: Instant) -> Result<Held> {
    let file =
        dir::open(path, true)?.ok_or_else(|| dir::refused(path, "the lock file vanished"))?;
    loop {
        if try_lock(&file)? {
            return Ok(Held { _file: file });
        }
        let now = Instant::now();
        if now >= until {
            return Err(Error::new(
                ErrorKind::Timeout,
                "another process has been fetching this token for the whole deadline (the shared cache's lock is still held)",
            ));
        }
        std::thread::sleep(POLL.min(until - now));
    }
}

fn try_lock(file: &File) -> Result<bool> {
    // SAFETY: a zeroed flock is a valid argument; only the fields set below are read.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: fcntl on an open descriptor with a valid flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(false),
        _ => Err(Error::new(
            ErrorKind::Internal,
            format!("the shared token cache's lock failed: {err}"),
        )),
    }
}
