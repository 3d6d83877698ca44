//! `file://` and `exec:` through the public API: a changed file is seen by the next call, a
//! token command's failures are typed and bounded, and a refused password is dropped once.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use passmint::{ErrorKind, Provider};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("passmint-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn file_url(path: &Path, query: &str) -> String {
    format!("file://{}{query}", path.display())
}

/// Written beside, then renamed over: what Vault Agent and most agents do.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_password_file_is_read_again_when_it_changes() {
    let dir = scratch("file-change");
    let path = dir.join("password");
    fs::write(&path, "first-secret\n").unwrap();
    let p = Provider::from_url(&file_url(&path, "?user=app")).unwrap();
    let t = p.token_blocking().unwrap();
    assert_eq!(
        (t.secret(), t.username(), t.provider()),
        ("first-secret", Some("app"), "file")
    );
    assert!(
        p.token_blocking().unwrap().same_as(&t),
        "unchanged: a cache hit"
    );

    replace(&path, "second-secret\n");
    assert_eq!(p.token_blocking().unwrap().secret(), "second-secret");
    // Rewritten in place, same inode: its size and times still change.
    fs::write(&path, "third-secret-longer").unwrap();
    assert_eq!(p.token_blocking().unwrap().secret(), "third-secret-longer");
    assert_eq!(p.cached_token().unwrap().secret(), "third-secret-longer");
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_kubernetes_symlink_swap_is_seen_by_the_next_call() {
    // A secret volume: password -> ..data/password, ..data -> ..<timestamp>; an update makes
    // a new timestamped directory and renames a new ..data link over the old one.
    let dir = scratch("file-k8s");
    let v1 = dir.join("..2026_01_01_v1");
    fs::create_dir(&v1).unwrap();
    fs::write(v1.join("password"), "volume-secret-1").unwrap();
    std::os::unix::fs::symlink("..2026_01_01_v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/password", dir.join("password")).unwrap();
    let p = Provider::from_url(&file_url(&dir.join("password"), "?user=app")).unwrap();
    assert_eq!(p.token_blocking().unwrap().secret(), "volume-secret-1");

    let v2 = dir.join("..2026_01_01_v2");
    fs::create_dir(&v2).unwrap();
    fs::write(v2.join("password"), "volume-secret-2").unwrap();
    std::os::unix::fs::symlink("..2026_01_01_v2", dir.join("..data_tmp")).unwrap();
    fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    fs::remove_dir_all(&v1).unwrap();
    assert_eq!(p.token_blocking().unwrap().secret(), "volume-secret-2");
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_json_file_names_its_user_and_expiry() {
    let dir = scratch("file-json");
    let path = dir.join("db.json");
    fs::write(
        &path,
        r#"{"username":"v-app-1","password":"json-secret","expires_at":4102444800}"#,
    )
    .unwrap();
    let t = Provider::from_url(&file_url(&path, ""))
        .unwrap()
        .token_blocking()
        .unwrap();
    assert_eq!((t.secret(), t.username()), ("json-secret", Some("v-app-1")));
    assert_eq!(t.expires_at(), 4_102_444_800);
    // An explicit user wins.
    let t = Provider::from_url(&file_url(&path, "?user=ops&format=json"))
        .unwrap()
        .token_blocking()
        .unwrap();
    assert_eq!(t.username(), Some("ops"));
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_or_bad_file_is_a_typed_error_naming_the_path() {
    let dir = scratch("file-bad");
    let missing = dir.join("nope");
    let e = Provider::from_url(&file_url(&missing, ""))
        .unwrap()
        .token_blocking()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CredentialUnavailable);
    assert!(e.message().contains(&*missing.to_string_lossy()), "{e}");
    let e = Provider::from_url(&file_url(&dir, ""))
        .unwrap()
        .token_blocking()
        .unwrap_err();
    assert!(e.message().contains("not a file"), "{e}");
    let json = dir.join("bad.json");
    fs::write(&json, r#"{"username":"app","passwd":"leaky-value-9"}"#).unwrap();
    let e = Provider::from_url(&file_url(&json, "?format=json"))
        .unwrap()
        .token_blocking()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ProviderResponse);
    assert!(
        e.message().contains("no password") && !e.message().contains("leaky"),
        "{e}"
    );
    // The file appears: the next call reads it, without waiting out a backoff.
    fs::write(&missing, "late-secret").unwrap();
    let p = Provider::from_url(&file_url(&missing, "")).unwrap();
    assert_eq!(p.token_blocking().unwrap().secret(), "late-secret");
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn file_urls_name_a_local_absolute_path() {
    for (url, says) in [
        ("file://db-host/run/secret", "has no host"),
        ("file:///", "absolute path"),
        ("file:///x?format=yaml", "raw or json"),
        ("file:///x?refresh=0", "refresh"),
        ("file:///x?region=us-east-1", "region"),
    ] {
        let e = Provider::from_url(url).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{url}");
        assert!(e.message().contains(says), "{url}: {e}");
    }
    assert!(Provider::from_url("file://localhost/run/x").is_ok());
    assert!(Provider::from_fields("file", &[("path", "/run/secrets/x"), ("user", "a")]).is_ok());
}

fn exec(cmd: &str, extra: &str) -> Provider {
    let cmd: String =
        percent_encoding::utf8_percent_encode(cmd, percent_encoding::NON_ALPHANUMERIC).collect();
    Provider::from_url(&format!("exec:?cmd={cmd}{extra}")).unwrap()
}

#[test]
fn a_token_command_prints_a_token_or_json() {
    let t = exec("printf 'cmd-secret\\n'", "&user=app")
        .token_blocking()
        .unwrap();
    assert_eq!(
        (t.secret(), t.username(), t.provider()),
        ("cmd-secret", Some("app"), "exec")
    );
    let t = exec(
        r#"echo '{"token":"json-tok","username":"lease-user","expires_in":3600}'"#,
        "",
    )
    .token_blocking()
    .unwrap();
    assert_eq!((t.secret(), t.username()), ("json-tok", Some("lease-user")));
    // Words are split as sh splits them, and nothing is expanded without shell=true.
    let t = exec(r#"echo "a b" '$HOME'"#, "").token_blocking().unwrap();
    assert_eq!(t.secret(), "a b $HOME");
    let t = exec("echo $((40 + 2))", "&shell=true")
        .token_blocking()
        .unwrap();
    assert_eq!(t.secret(), "42");
}

#[test]
fn a_failing_command_is_a_typed_error_without_its_secrets() {
    let cases = [
        // An argument echoed to stderr: arguments may hold secrets.
        (
            "sh -c 'echo \"$1\" >&2; exit 3' x leaked-arg-secret",
            ErrorKind::AuthenticationFailed,
            "failed",
        ),
        ("true", ErrorKind::ProviderResponse, "printed nothing"),
        (
            "echo '{\"expires_in\": 60}'",
            ErrorKind::ProviderResponse,
            "no password",
        ),
        (
            "/nonexistent/get-token",
            ErrorKind::CredentialUnavailable,
            "could not be started",
        ),
        (
            "head -c 10485760 /dev/zero",
            ErrorKind::ProviderResponse,
            "1 MiB",
        ),
    ];
    for (cmd, kind, says) in cases {
        let e = exec(cmd, "").token_blocking().unwrap_err();
        assert_eq!(e.kind(), kind, "{cmd}: {e}");
        assert!(e.message().contains(says), "{cmd}: {e}");
        assert!(!e.message().contains("leaked-arg-secret"), "{cmd}: {e}");
    }
    // A token it printed before failing does not reach the message either.
    let e = exec(
        "sh -c 'echo printed-tok-77; echo printed-tok-77 >&2; exit 1'",
        "",
    )
    .token_blocking()
    .unwrap_err();
    assert!(!e.message().contains("printed-tok-77"), "{e}");
}

#[test]
fn a_hung_command_times_out_and_its_process_group_is_killed() {
    let dir = scratch("exec-hang");
    let pid_file = dir.join("pid");
    let cmd = format!("sleep 1000 & echo $! > {}; wait", pid_file.display());
    let started = Instant::now();
    let e = exec(&cmd, "&shell=true").token_blocking().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() < Duration::from_secs(15));
    let pid = fs::read_to_string(&pid_file).unwrap();
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        match fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')),
        }
    });
    assert!(gone, "the command's child {pid} outlived the deadline");
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_refused_password_is_dropped_once_and_only_for_secret_sources() {
    let dir = scratch("exec-refused");
    let counter = dir.join("n");
    // Each run prints a new password: the number of runs so far.
    let cmd = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; echo pw-$n",
        c = counter.display()
    );
    let p = exec(&cmd, "&shell=true");
    let first = p.token_blocking().unwrap();
    assert_eq!(first.secret(), "pw-1");
    // Twenty connections refused with the same password: one new run between them.
    for _ in 0..20 {
        assert!(p.password_refused(first.secret()));
    }
    assert_eq!(p.token_blocking().unwrap().secret(), "pw-2");
    assert!(p.password_refused("pw-1"), "a retry is still right");
    assert_eq!(
        p.token_blocking().unwrap().secret(),
        "pw-2",
        "not dropped: not the cached one"
    );
    p.invalidate();
    assert_eq!(p.token_blocking().unwrap().secret(), "pw-3");
    // An IAM token refused is not retried: a wrong role does not get better.
    let iam = Provider::from_url("rds://db.abc.us-east-1.rds.amazonaws.com:5432?user=app").unwrap();
    assert!(!iam.password_refused("anything"));
    fs::remove_dir_all(&dir).ok();
}
