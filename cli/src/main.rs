//! `passmint`: print a short-lived database password, for psql and for proxies that run a
//! token command. Only the token goes to stdout; failures are one line on stderr.
//! `passmint status` checks a provider (one fetch) and prints its health, never the token.

use std::io::Write;
use std::process::ExitCode;

use passmint::{Error, ErrorKind, Provider};

const USAGE: &str = "\
usage: passmint token [--json] [--no-cache] <provider-url>
       passmint token [--json] [--no-cache] --for <postgres-url>
       passmint token [--json] [--no-cache]  (provider URL from PASSMINT_PROVIDER)
       passmint status [--json] [--no-cache] <provider-url> | --for <postgres-url>
       passmint cache clear
       passmint --version

Prints a short-lived database password minted from cloud identity.

  <provider-url>        dsql://<cluster-endpoint>?user=admin
                        rds://<host>:<port>?user=<role>&region=<region>
                        azure://?credential=managed
                        gcp://?user=<iam-user>
                        file:///run/secrets/db-password?user=<role>
                        exec:?cmd=<percent-encoded command line>
  --for <postgres-url>  pick the provider from the server's host name
  --json                print {token, expires_at, username, provider}
  --no-cache            skip the shared token cache: fetch in this process alone (as does
                        PASSMINT_SHARED_CACHE=0). By default runs share tokens through a private
                        per-user directory, so a token command run per connection makes one
                        identity request per token lifetime
  cache clear           empty that directory
  status                fetch once and print the provider's health (credential in use,
                        expiry, next refresh, failures, last error), never the token;
                        --json prints provider.status()'s keys; the exit code is token's

example: PGPASSWORD=\"$(passmint token --for postgresql://app@db.abc.eu-west-1.rds.amazonaws.com/app)\" psql ...";

enum Target {
    Provider(String),
    Postgres(String),
    Environment,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Token,
    Status,
}

struct Command {
    action: Action,
    target: Target,
    json: bool,
    shared: bool,
}

enum Parsed {
    Run(Command),
    ClearCache,
    Help,
    Version,
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut it = args.iter();
    let action = match it.next().map(String::as_str) {
        None | Some("-h") | Some("--help") | Some("help") => return Ok(Parsed::Help),
        Some("-V") | Some("--version") => return Ok(Parsed::Version),
        Some("token") => Action::Token,
        Some("status") => Action::Status,
        Some("cache") => {
            return match it.as_slice() {
                [clear] if clear == "clear" => Ok(Parsed::ClearCache),
                _ => Err("`passmint cache clear` is the cache command".into()),
            };
        }
        Some(other) => {
            return Err(format!(
                "unknown command `{other}`: try `passmint token <provider-url>` or `passmint status <provider-url>`"
            ));
        }
    };
    let (mut json, mut shared) = (false, true);
    let mut target = None;
    while let Some(arg) = it.next() {
        let next = match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--json" => {
                json = true;
                continue;
            }
            "--no-cache" => {
                shared = false;
                continue;
            }
            "--for" => match it.next() {
                Some(url) => Target::Postgres(url.clone()),
                None => {
                    return Err(
                        "--for needs a postgres URL: --for postgresql://user@host/db".into(),
                    );
                }
            },
            s if s.starts_with("--for=") => Target::Postgres(s["--for=".len()..].to_string()),
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(format!("unknown option `{s}`: see `passmint --help`"));
            }
            s => Target::Provider(s.to_string()),
        };
        if target.replace(next).is_some() {
            return Err("give one provider URL or one --for <postgres-url>, not both".into());
        }
    }
    match target {
        Some(target) => Ok(Parsed::Run(Command {
            action,
            target,
            json,
            shared,
        })),
        None if std::env::var_os("PASSMINT_PROVIDER").is_some() => Ok(Parsed::Run(Command {
            action,
            target: Target::Environment,
            json,
            shared,
        })),
        None => Err("missing provider URL: `passmint token <provider-url>`, `passmint token --for <postgres-url>`, or set PASSMINT_PROVIDER".into()),
    }
}

/// What to print, and the error that decides the exit code (status prints even then).
fn run(cmd: Command) -> (Option<String>, Option<Error>) {
    let provider = match &cmd.target {
        Target::Provider(url) => Provider::from_url(url),
        Target::Postgres(url) => Provider::for_postgres_url(url),
        Target::Environment => Provider::from_env(),
    };
    let provider = match provider {
        // A run lives for one token: without the shared cache, every run would fetch.
        Ok(p) => p.shared_cache(cmd.shared),
        Err(e) => return (None, Some(e)),
    };
    match cmd.action {
        Action::Token => match token(&provider, cmd.json) {
            Ok(out) => (Some(out), None),
            Err(e) => (None, Some(e)),
        },
        Action::Status => {
            let outcome = provider.token_blocking().err();
            (Some(status(&provider, cmd.json)), outcome)
        }
    }
}

/// `passmint status`: the provider's `Status`, as JSON or as lines for a person.
fn status(provider: &Provider, json: bool) -> String {
    let s = provider.status();
    if json {
        return s.to_json();
    }
    let when = |t: Option<i64>| match t {
        Some(t) => format!("{} (in {} s)", t, t - unix_now()),
        None => "-".to_string(),
    };
    let error = match (s.last_error_kind(), s.last_error_message()) {
        (Some(kind), Some(message)) => format!("{} {message}", kind.code()),
        _ => "-".to_string(),
    };
    format!(
        "provider:             {provider:?}\ncredential:           {}\ncached:               {}\nexpires_at:           {}\nnext_refresh_at:      {}\nconsecutive_failures: {}\nlast_error:           {error}",
        s.credential.as_deref().unwrap_or("-"),
        if s.cached { "yes" } else { "no" },
        when(s.expires_at),
        when(s.next_refresh_at),
        s.consecutive_failures,
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn token(provider: &Provider, json: bool) -> Result<String, Error> {
    let token = provider.token_blocking()?;
    if json {
        let value = serde_json::json!({
            "token": token.secret(),
            "expires_at": token.expires_at(),
            "username": token.username(),
            "provider": token.provider(),
        });
        Ok(value.to_string())
    } else {
        Ok(token.secret().to_string())
    }
}

/// `PASSMINT_LOG=debug` (or `passmint=debug,passmint::sdk=info`, …): diagnostics on stderr.
/// Off by default; passmint's events carry kinds, timings and error messages, never a secret;
/// the identity SDKs' events arrive scrubbed, up to DEBUG, as `passmint::sdk` (core/src/sdk_log.rs).
fn init_logging() -> Result<(), String> {
    let Some(spec) = std::env::var("PASSMINT_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(());
    };
    let filter: tracing_subscriber::filter::Targets = spec.trim().parse().map_err(|e| {
        format!("PASSMINT_LOG={spec} is not a log filter ({e}): use e.g. debug or passmint=debug")
    })?;
    use tracing_subscriber::prelude::*;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_filter(filter),
        )
        .init();
    Ok(())
}

fn main() -> ExitCode {
    if let Err(msg) = init_logging() {
        eprintln!("passmint: {msg} (INVALID_CONFIG)");
        return ExitCode::from(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match parse(&args) {
        Ok(Parsed::Run(cmd)) => cmd,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("passmint {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::ClearCache) => {
            return match passmint::shared_cache::clear() {
                Ok(n) => {
                    println!(
                        "removed {n} files from {}",
                        passmint::shared_cache::location().display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("passmint: {} ({})", e.message(), e.kind().code());
                    ExitCode::from(exit_code(e.kind()))
                }
            };
        }
        Err(msg) => {
            eprintln!("passmint: {msg}");
            return ExitCode::from(2);
        }
    };
    let (out, failed) = run(cmd);
    // After a TIMEOUT the fetch may still be running an `az` or a credential_process: this
    // process is about to exit, before the fetch's own deadline would kill them.
    passmint::kill_running_helpers();
    if let Some(out) = out {
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{out}")
            .and_then(|_| stdout.flush())
            .is_err()
        {
            eprintln!("passmint: could not write to stdout");
            return ExitCode::from(1);
        }
    }
    match failed {
        None => ExitCode::SUCCESS,
        Some(e) => {
            eprintln!("passmint: {} ({})", e.message(), e.kind().code());
            ExitCode::from(exit_code(e.kind()))
        }
    }
}

/// Distinct codes let a proxy tell "fix your config" from "try again later".
fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidArgument | ErrorKind::InvalidConfig => 2,
        ErrorKind::CredentialUnavailable | ErrorKind::AuthenticationFailed => 3,
        ErrorKind::Timeout | ErrorKind::Network | ErrorKind::ProviderResponse => 4,
        _ => 1,
    }
}
