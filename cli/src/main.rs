//! `passmint`: print a short-lived database password, for psql and for proxies that run a
//! token command. Only the token goes to stdout; failures are one line on stderr.

use std::io::Write;
use std::process::ExitCode;

use passmint::{Error, ErrorKind, Provider};

const USAGE: &str = "\
usage: passmint token [--json] <provider-url>
       passmint token [--json] --for <postgres-url>
       passmint token [--json]              (provider URL from PASSMINT_PROVIDER)
       passmint --version

Prints a short-lived database password minted from cloud identity.

  <provider-url>        dsql://<cluster-endpoint>?user=admin
                        rds://<host>:<port>?user=<role>&region=<region>
                        azure://?credential=managed
  --for <postgres-url>  pick the provider from the server's host name
  --json                print {token, expires_at, username, provider}

example: PGPASSWORD=\"$(passmint token --for postgresql://app@db.abc.eu-west-1.rds.amazonaws.com/app)\" psql ...";

enum Target {
    Provider(String),
    Postgres(String),
    Environment,
}

struct Command {
    target: Target,
    json: bool,
}

enum Parsed {
    Run(Command),
    Help,
    Version,
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        None | Some("-h") | Some("--help") | Some("help") => return Ok(Parsed::Help),
        Some("-V") | Some("--version") => return Ok(Parsed::Version),
        Some("token") => {}
        Some(other) => {
            return Err(format!(
                "unknown command `{other}`: try `passmint token <provider-url>`"
            ));
        }
    }
    let mut json = false;
    let mut target = None;
    while let Some(arg) = it.next() {
        let next = match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--json" => {
                json = true;
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
        Some(target) => Ok(Parsed::Run(Command { target, json })),
        None if std::env::var_os("PASSMINT_PROVIDER").is_some() => Ok(Parsed::Run(Command {
            target: Target::Environment,
            json,
        })),
        None => Err("missing provider URL: `passmint token <provider-url>`, `passmint token --for <postgres-url>`, or set PASSMINT_PROVIDER".into()),
    }
}

fn run(cmd: Command) -> Result<String, Error> {
    let provider = match &cmd.target {
        Target::Provider(url) => Provider::from_url(url)?,
        Target::Postgres(url) => Provider::for_postgres_url(url)?,
        Target::Environment => Provider::from_env()?,
    };
    let token = provider.token_blocking()?;
    if cmd.json {
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
        Err(msg) => {
            eprintln!("passmint: {msg}");
            return ExitCode::from(2);
        }
    };
    match run(cmd) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if writeln!(stdout, "{out}")
                .and_then(|_| stdout.flush())
                .is_err()
            {
                eprintln!("passmint: could not write the token to stdout");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
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
