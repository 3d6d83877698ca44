//! Helper programs (`az`, `azd`, an AWS `credential_process`) run as children that die with
//! the fetch: when passmint's deadline drops the future, a hung program is killed rather than
//! left behind. A program started through `sh -c` leaves its own children running when only
//! the shell is killed (found by tests/reliability/test_faults.py), so each child leads its
//! own process group and the whole group is killed.
//!
//! Process groups are unix's. Elsewhere (Windows) only the helper itself is killed when the
//! fetch is dropped; what it started may outlive it (a job object would be the equivalent,
//! not built: Windows is not a tested platform, README "Platforms").

use std::io;
use std::process::{Output, Stdio};
use std::sync::Mutex;

use crate::fork::ProcessLocal;

/// The process groups of helpers running now. One list per process: a child `fork()`ed while
/// another thread holds the lock gets a list of its own, never that lock.
static RUNNING: ProcessLocal<Mutex<Vec<i32>>> = ProcessLocal::new();

fn running() -> std::sync::MutexGuard<'static, Vec<i32>> {
    RUNNING
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Kills every helper program (`az`, `azd`, a `credential_process`) still running, with its
/// process group. For a process about to exit while a fetch may be in flight: the fetch's own
/// deadline would kill them, but an exiting process does not wait for it (the CLI after a
/// TIMEOUT, an interpreter shutting down).
pub fn kill_running_helpers() {
    for pgid in running().drain(..) {
        kill_group(pgid);
    }
}

#[cfg(unix)]
fn kill_group(pgid: i32) {
    // SAFETY: signalling a process group this process started; no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// No groups to signal (and no ids are recorded): `kill_on_drop` kills the helper itself.
#[cfg(not(unix))]
fn kill_group(_pgid: i32) {}

/// Starts `command` with stdin closed and both outputs piped, leading its own process group,
/// which is recorded (for `kill_running_helpers`) and killed if the guard is dropped.
fn spawn_in_group(
    mut command: tokio::process::Command,
) -> io::Result<(tokio::process::Child, Option<i32>, KillGroupOnDrop)> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let child = command.spawn()?;
    // The helper leads its own group, whose id is its pid.
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .filter(|_| cfg!(unix));
    if let Some(pgid) = pgid {
        running().push(pgid);
    }
    Ok((child, pgid, KillGroupOnDrop(pgid)))
}

/// Runs `command` to completion with stdin closed and both outputs captured.
pub(crate) async fn output(command: tokio::process::Command) -> io::Result<Output> {
    let (child, pgid, group) = spawn_in_group(command)?;
    let output = child.wait_with_output().await;
    // Finished: whatever the program left running on purpose (az's telemetry upload) stays.
    std::mem::forget(group);
    forget_group(pgid);
    output
}

/// What a capped run captured: at most `max` bytes of each output.
pub(crate) struct Capped {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Stdout went past `max`: the program was killed then, with its group.
    pub overflowed: bool,
}

/// [`output`] for a program whose output is not trusted to be small (a user's token
/// command): past `max` bytes on stdout it is killed with its group; stderr keeps its
/// first `max` bytes and the rest is drained, so a chatty program never blocks on a pipe.
pub(crate) async fn output_capped(
    command: tokio::process::Command,
    max: usize,
) -> io::Result<Capped> {
    use tokio::io::AsyncReadExt;
    let (mut child, pgid, group) = spawn_in_group(command)?;
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(io::Error::other("the program's outputs were not captured"));
    };
    let child_ref = &mut child;
    let read_out = async move {
        let mut buf = Vec::new();
        (&mut out)
            .take(max as u64 + 1)
            .read_to_end(&mut buf)
            .await?;
        if buf.len() > max {
            // Killed here, not after both reads: stderr ends only when the group is gone.
            if let Some(pgid) = pgid {
                kill_group(pgid);
            }
            let _ = child_ref.start_kill();
        }
        io::Result::Ok(buf)
    };
    let read_err = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = err.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            let room = max.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..n.min(room)]);
        }
        io::Result::Ok(buf)
    };
    let (stdout, stderr) = tokio::join!(read_out, async { read_err.await.unwrap_or_default() });
    let stdout = stdout?;
    let overflowed = stdout.len() > max;
    let status = child.wait().await?;
    if overflowed {
        drop(group);
        return Ok(Capped {
            status,
            stdout: Vec::new(),
            stderr,
            overflowed,
        });
    }
    std::mem::forget(group);
    forget_group(pgid);
    Ok(Capped {
        status,
        stdout,
        stderr,
        overflowed,
    })
}

fn forget_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid {
        running().retain(|g| *g != pgid);
    }
}

/// Kills a process group when dropped: the fetch was abandoned mid-run.
struct KillGroupOnDrop(Option<i32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            // The group outlives its leader while a member runs, so the id is still the group's.
            kill_group(pgid);
        }
        forget_group(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn helpers_still_running_are_killed_with_their_children() {
        let dir = std::env::temp_dir().join(format!("passmint-child-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pids = dir.join("pids");
        let mut sh = tokio::process::Command::new("sh");
        sh.arg("-c")
            .arg(format!("sleep 1000 & echo $! > {}; wait", pids.display()));
        let run = tokio::spawn(output(sh));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !pids.exists() || std::fs::read_to_string(&pids).unwrap().trim().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the helper never started"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let grandchild: i32 = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        kill_running_helpers();
        let out = tokio::time::timeout(std::time::Duration::from_secs(10), run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(!out.status.success(), "the shell was killed");
        // The shell's own child, in its group, is gone too: no process, or a zombie awaiting
        // whichever init reaps it.
        let gone = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            match std::fs::read_to_string(format!("/proc/{grandchild}/stat")) {
                Err(_) => true,
                Ok(stat) => stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('Z')),
            }
        });
        assert!(gone, "pid {grandchild} is still running");
        assert!(running().is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }
}
