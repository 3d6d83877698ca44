//! `exec:?cmd=<argv>&shell=…&format=raw|json&refresh=…&user=…`: a token command, the pattern
//! of proxies and of AWS's `credential_process`. The command prints the password, or JSON with
//! it, its expiry and a username (`secret.rs`).
//!
//! It runs without a shell: `cmd` is split into words as a POSIX shell would split them
//! (quotes and backslashes), and nothing else a shell does happens (no variables, globs or
//! pipes) unless `shell=true` runs it through `sh -c`. It leads its own process group, killed
//! whole at the deadline or when it prints more than 1 MiB (`child.rs`). Its stderr reaches an
//! error only scrubbed, and only its program's name is quoted: arguments may hold secrets.

mod words;

use std::sync::Arc;

use super::registry::{Built, Ctx, Scheme, Source};
use super::secret::{self, Format};
use crate::cache::{BoxFuture, Clock, Lease};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::ProviderKind;
use crate::token::Token;
use crate::url::{PgTarget, Query};

const PARAMS: &[&str] = &["cmd", "shell", "user", "format", "refresh"];
/// Stderr shown in an error, at most.
const SHOWN_CHARS: usize = 400;

pub(crate) const EXEC: Scheme = Scheme {
    kind: ProviderKind::Exec,
    authority: &[],
    path: false,
    role_hint: "the role the token is for (`user=` in the URL, or `username` in the command's JSON)",
    rotates: true,
    params: PARAMS,
    example: "exec:?cmd=<command>",
    server_ca_bundle: None,
    build,
    for_postgres: |_: &PgTarget, _: &Ctx| None,
    stated_expiry: |_| None,
};

struct ExecSource {
    argv: Vec<String>,
    shell: bool,
    user: Option<String>,
    format: Option<Format>,
    refresh_s: i64,
}

fn build(authority: &str, query: &Query, _ctx: &Ctx) -> Result<Built> {
    if !authority.is_empty() {
        return Err(Error::config(
            "exec: takes the command in the query: exec:?cmd=<percent-encoded command line>",
        ));
    }
    let Some(cmd) = query.owned("cmd")?.filter(|c| !c.trim().is_empty()) else {
        return Err(Error::config(
            "exec: needs the command: exec:?cmd=<percent-encoded command line>",
        ));
    };
    let shell = query.flag("shell")?;
    let argv = if shell {
        vec![cmd]
    } else {
        words::split(&cmd).map_err(|why| Error::config(format!("exec: cmd: {why}")))?
    };
    let user = query.owned("user")?.filter(|u| !u.is_empty());
    let source = ExecSource {
        argv,
        shell,
        user: user.clone(),
        format: secret::format(query, "exec:")?,
        refresh_s: secret::refresh(query, "exec:")?,
    };
    Ok(Built {
        kind: ProviderKind::Exec,
        description: format!("exec {}", source.program()),
        username: user,
        host: None,
        source: Arc::new(source),
    })
}

impl ExecSource {
    /// The program's name, which messages may quote (its arguments they may not).
    fn program(&self) -> String {
        if self.shell {
            return "sh -c".into();
        }
        let first = self.argv.first().map(String::as_str).unwrap_or("");
        crate::url::shorten(first.rsplit('/').next().unwrap_or(first))
    }

    fn command(&self) -> tokio::process::Command {
        if self.shell {
            let mut sh = tokio::process::Command::new("sh");
            sh.arg("-c").arg(&self.argv[0]);
            return sh;
        }
        let mut cmd = tokio::process::Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]);
        cmd
    }

    fn error(&self, kind: ErrorKind, why: impl std::fmt::Display) -> Error {
        Error::new(kind, format!("exec: `{}` {why}", self.program()))
    }

    async fn run(&self, clock: &Clock) -> Result<Lease<Token>> {
        let out = crate::child::output_capped(self.command(), secret::MAX_BYTES)
            .await
            .map_err(|e| {
                self.error(
                    ErrorKind::CredentialUnavailable,
                    format_args!("could not be started: {e}"),
                )
            })?;
        if out.overflowed {
            return Err(self.error(
                ErrorKind::ProviderResponse,
                "printed more than 1 MiB, which is no token: it was stopped",
            ));
        }
        // What it printed may hold the token even when it failed; its arguments may hold
        // secrets too.
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut secrets: Vec<&str> = printed.split_whitespace().collect();
        secrets.extend(self.argv.iter().skip(1).map(String::as_str));
        let stderr =
            crate::redact::scrub(&String::from_utf8_lossy(&out.stderr), &secrets, SHOWN_CHARS);
        if !out.status.success() {
            // The shell's "not found", or exec's: nothing to run here.
            let kind = if out.status.code() == Some(127) {
                ErrorKind::CredentialUnavailable
            } else {
                ErrorKind::AuthenticationFailed
            };
            let said = if stderr.is_empty() {
                String::new()
            } else {
                format!(": {stderr}")
            };
            return Err(self.error(kind, format_args!("failed ({}){said}", out.status)));
        }
        let now = clock.now_ms().div_euclid(1000);
        let looks_json = out.stdout.trim_ascii_start().starts_with(b"{");
        let parsed = match self.format {
            Some(Format::Json) => secret::json(&out.stdout, now),
            Some(Format::Raw) => secret::raw(&out.stdout),
            None if looks_json => secret::json(&out.stdout, now),
            None => secret::raw(&out.stdout),
        };
        let parsed = parsed.map_err(|why| {
            let why = if why == "empty" {
                "printed nothing".to_string()
            } else {
                format!("printed no token: {why}")
            };
            self.error(ErrorKind::ProviderResponse, why)
        })?;
        Ok(secret::lease(
            parsed,
            self.user.as_deref(),
            ProviderKind::Exec,
            self.refresh_s,
            clock,
        ))
    }
}

impl Source for ExecSource {
    fn fetch(self: Arc<Self>, clock: Clock) -> BoxFuture<Result<Lease<Token>>> {
        Box::pin(async move { self.run(&clock).await })
    }
}
