//! A blocking call made in a fork()ed child works: the child gets its own runtime.
#![cfg(unix)]

use passmint::offline::{Signer, StaticCredentials};

fn provider(host: &str) -> passmint::Provider {
    let creds = StaticCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    };
    Signer::new(&format!("dsql://{host}"), &creds)
        .unwrap()
        .into_provider()
}

#[test]
fn blocking_token_in_forked_child() {
    // The parent's runtime exists and has run a refresh before the fork.
    let warm = provider("parent.dsql.us-east-1.on.aws");
    assert!(warm.token_blocking().is_ok());
    let cold = provider("child.dsql.us-east-1.on.aws");

    // SAFETY: the child only runs passmint and exits; it never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = cold
            .token_blocking()
            .map(|t| {
                t.secret()
                    .starts_with("child.dsql.us-east-1.on.aws/?Action=DbConnectAdmin")
            })
            .unwrap_or(false);
        let ok = ok && warm.token_blocking().is_ok();
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child could not mint a token");
    // The parent still works after the child is gone.
    assert!(cold.token_blocking().is_ok());
}
