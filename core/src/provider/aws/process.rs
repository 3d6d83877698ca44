//! A profile's `credential_process`, run by passmint rather than by aws-config, for two
//! reasons: aws-config reads `Expiration` as strict RFC 3339 and refuses the forms botocore
//! accepts (`-0500`, a ` UTC` suffix: docs/CONFORMANCE.md), and it leaves a hung process and
//! its children running when the fetch is abandoned at its deadline. Here the process runs in
//! its own group, killed whole at the deadline (`child.rs`), and its answer is read as
//! botocore reads it. Only a profile whose credentials come from the process directly is
//! taken; a `role_arn` chain whose source profile runs one stays with aws-config.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use serde_json::{Map, Value};

use super::profile;
use crate::error::{Error, ErrorKind, Result};

/// What the process printed and how it ended, capped for messages.
const SHOWN_CHARS: usize = 400;

/// The command line of the selected profile's `credential_process`, when that is where its
/// credentials come from: aws-config's precedence, in which a role, web identity, SSO or
/// login session in the same profile comes first, and environment keys before any profile.
pub(super) fn command(profile_name: Option<&str>) -> Option<String> {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let profiles = profile::load(profile_name)?;
    let (_, selected) = profile::selected(&profiles)?;
    const FIRST: [&str; 7] = [
        "role_arn",
        "credential_source",
        "web_identity_token_file",
        "sso_session",
        "sso_start_url",
        "sso_account_id",
        "login_session",
    ];
    if FIRST.iter().any(|key| selected.get(key).is_some()) {
        return None;
    }
    selected
        .get("credential_process")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

#[cfg(unix)]
fn shell(command: &str) -> tokio::process::Command {
    let mut sh = tokio::process::Command::new("sh");
    sh.arg("-c").arg(command);
    sh
}

#[cfg(windows)]
fn shell(command: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("cmd.exe");
    cmd.arg("/C").arg(command);
    cmd
}

/// Runs `command` through `sh -c` (`cmd.exe /C` on Windows), as botocore and aws-config do,
/// and reads its credentials.
pub(super) async fn run(command: &str) -> Result<Credentials> {
    // The command line may carry secrets in its arguments: messages name the program only.
    let program = command.split_whitespace().next().unwrap_or("").to_string();
    let sh = shell(command);
    let out = crate::child::output(sh).await.map_err(|e| {
        Error::new(
            ErrorKind::CredentialUnavailable,
            format!("credential_process `{program}` could not be started: {e}"),
        )
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let known = super::credentials::known_secrets();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let shown = crate::redact::scrub(&stderr, &known, SHOWN_CHARS);
        // The shell's "not found": nothing to run here, as when the variable is unset.
        let kind = if out.status.code() == Some(127) {
            ErrorKind::CredentialUnavailable
        } else {
            ErrorKind::AuthenticationFailed
        };
        return Err(Error::new(
            kind,
            format!(
                "credential_process `{program}` failed ({}): {shown}",
                out.status
            ),
        ));
    }
    parse(&out.stdout).map_err(|why| {
        Error::new(
            ErrorKind::ProviderResponse,
            format!("credential_process `{program}` printed no usable credentials: {why}"),
        )
    })
}

/// The process's JSON, as botocore reads it: `Version` 1, `AccessKeyId` and
/// `SecretAccessKey` required, `SessionToken` and `Expiration` optional. Keys match in any
/// case, as aws-config matches them. The reason never quotes a value.
pub(super) fn parse(stdout: &[u8]) -> std::result::Result<Credentials, String> {
    let json: Value = serde_json::from_slice(stdout)
        .map_err(|e| format!("not JSON (line {}, column {})", e.line(), e.column()))?;
    let Value::Object(fields) = json else {
        return Err("not a JSON object".into());
    };
    match field(&fields, "Version") {
        Some(v) if v.as_u64() == Some(1) => {}
        Some(_) => return Err("unsupported `Version`: only 1 is defined".into()),
        None => return Err("no `Version` (it must be 1)".into()),
    }
    let text = |name: &str| -> std::result::Result<Option<String>, String> {
        match field(&fields, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("`{name}` is not a string")),
        }
    };
    let key_id = text("AccessKeyId")?.ok_or("no `AccessKeyId`")?;
    let secret = text("SecretAccessKey")?.ok_or("no `SecretAccessKey`")?;
    let session = text("SessionToken")?;
    let expiry = match text("Expiration")? {
        None => None,
        Some(when) => {
            let secs = crate::when::parse_datetime(&when).ok_or(
                "`Expiration` is not an RFC 3339 / ISO 8601 date-time with a zone (such as 2030-01-02T03:04:05Z)",
            )?;
            let secs = u64::try_from(secs).map_err(|_| "`Expiration` is before 1970")?;
            Some(UNIX_EPOCH + Duration::from_secs(secs))
        }
    };
    Ok(Credentials::new(
        key_id,
        secret,
        session,
        expiry,
        "CredentialProcess",
    ))
}

fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).or_else(|| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn expiry_of(json: &str) -> std::result::Result<Option<SystemTime>, String> {
        parse(json.as_bytes()).map(|c| c.expiry())
    }

    #[test]
    fn every_form_botocore_reads_gives_the_same_instant() {
        let at = UNIX_EPOCH + Duration::from_secs(1_893_553_445); // 2030-01-02T03:04:05Z
        for form in [
            "2030-01-02T03:04:05Z",
            "2030-01-02T03:04:05.123Z",
            "2030-01-02T03:04:05+00:00",
            "2030-01-01T22:04:05-05:00",
            "2030-01-01T22:04:05-0500",
            "2030-01-02 03:04:05 UTC",
        ] {
            let json = format!(
                r#"{{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"{form}"}}"#
            );
            assert_eq!(expiry_of(&json), Ok(Some(at)), "{form}");
        }
    }

    #[test]
    fn what_botocore_refuses_is_refused_without_quoting_the_secret() {
        for (json, why) in [
            (
                r#"{"AccessKeyId":"A","SecretAccessKey":"S3CR3T"}"#,
                "Version",
            ),
            (
                r#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"S3CR3T"}"#,
                "Version",
            ),
            (r#"{"Version":1,"SecretAccessKey":"S3CR3T"}"#, "AccessKeyId"),
            (
                r#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S3CR3T","Expiration":"tomorrow"}"#,
                "Expiration",
            ),
            (
                r#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S3CR3T","Expiration":"2030-01-02T03:04:05"}"#,
                "zone",
            ),
            ("S3CR3T", "not JSON"),
        ] {
            let err = parse(json.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
            assert!(!err.contains("S3CR3T"), "{err}");
        }
        let lower = r#"{"version":1,"accesskeyid":"A","secretaccesskey":"S","sessiontoken":"T"}"#;
        let creds = parse(lower.as_bytes()).unwrap();
        assert_eq!(creds.session_token(), Some("T"));
        assert_eq!(creds.expiry(), None);
    }
}
