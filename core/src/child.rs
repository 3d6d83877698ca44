//! Helper programs (`az`, `azd`, an AWS `credential_process`) run as children that die with
//! the fetch: when passmint's deadline drops the future, a hung program is killed rather than
//! left behind. A program started through `sh -c` leaves its own children running when only
//! the shell is killed (found by tests/reliability/test_faults.py), so each child leads its
//! own process group and the whole group is killed.

use std::io;
use std::process::{Output, Stdio};

/// Runs `command` to completion with stdin closed and both outputs captured.
pub(crate) async fn output(mut command: tokio::process::Command) -> io::Result<Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()?;
    let group = KillGroupOnDrop(child.id());
    let output = child.wait_with_output().await;
    // Finished: whatever the program left running on purpose (az's telemetry upload) stays.
    std::mem::forget(group);
    output
}

/// Kills a process group when dropped: the fetch was abandoned mid-run.
struct KillGroupOnDrop(Option<u32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.and_then(|id| i32::try_from(id).ok()) {
            // The group outlives its leader while a member runs, so the id is still the group's.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}
