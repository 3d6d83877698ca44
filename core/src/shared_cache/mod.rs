//! The shared token cache (docs/DESIGN.md §9): the tokens of one provider configuration, for one
//! user on one host, shared by every process that opts in (the CLI by default), so a token
//! command run per connection or 64 pre-fork workers make one identity request, not one each.
//!
//! It sits under the in-process cache, as its fetch: a fresh entry on disk is the answer; else
//! one process takes the entry's lock (the others wait for it, within the deadline), fetches,
//! and writes the entry for the rest. What comes back is admitted by the in-process rules as any
//! fetched token is. The files live in a private per-user directory (`dir`), one per key: a
//! hash of the provider's configuration and of every identity-relevant variable of the
//! environment, so no configuration or identity is ever served another's token.

#[cfg(unix)]
mod dir;
#[cfg(not(unix))]
#[path = "unsupported.rs"]
mod dir;
#[cfg(unix)]
mod lock;
mod record;
#[cfg(not(unix))]
use dir as lock;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cache::{BoxFuture, Clock, Lease, refresh_margin};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::ProviderKind;
use crate::token::Token;

/// The environment variable that turns the shared cache on (`1`) or off (`0`) everywhere.
pub const ENV: &str = "PASSMINT_SHARED_CACHE";
/// The URL parameter (and builder field) that turns it on for one provider.
pub(crate) const PARAM: &str = "shared_cache";

/// Variables that choose an identity or how it is reached: a different value is a different key.
const IDENTITY_PREFIXES: [&str; 8] = [
    "AZURE_",
    "AWS_",
    "IDENTITY_",
    "MSI_",
    "IMDS_",
    "GOOGLE_",
    "CLOUDSDK_",
    "PASSMINT_",
];
const IDENTITY_NAMES: [&str; 4] = ["HOME", "PATH", "USER", "KUBECONFIG"];
/// Not about identity: whether the cache is on, and logging.
const NOT_IDENTITY: [&str; 2] = [ENV, "PASSMINT_LOG"];

/// Whether a provider uses the shared cache: `PASSMINT_SHARED_CACHE=0` turns it off everywhere,
/// else the provider's own choice, else `PASSMINT_SHARED_CACHE=1`.
pub(crate) fn enabled(explicit: Option<bool>) -> bool {
    match std::env::var(ENV).ok().as_deref().map(str::trim) {
        Some("0") => false,
        env => explicit.unwrap_or(env == Some("1")),
    }
}

/// Reads the `shared_cache` value of a URL or a builder field: `1`/`true`/`yes` or `0`/`false`/`no`.
pub(crate) fn parse_flag(value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("shared_cache={} is not 1 or 0", crate::url::shorten(value)),
        )),
    }
}

/// Takes `shared_cache=…` out of a provider URL's query (every URL accepts it; no source sees it).
pub(crate) fn take_from_url(url: &str) -> Result<(String, Option<bool>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut flag = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((PARAM, value)) => flag = Some(parse_flag(value)?),
            _ if pair == PARAM => flag = Some(true),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, flag))
}

/// Empties the shared cache directory (`passmint cache clear`); the number of files removed.
pub fn clear() -> Result<usize> {
    dir::clear()
}

/// Where the shared cache lives for this user: see the README.
pub fn location() -> PathBuf {
    dir::location()
}

/// Why an entry or the directory is not used (then the provider's own cache works alone).
pub(crate) fn refused(path: &Path, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidConfig,
        format!(
            "the shared token cache at {} is not used: {why}",
            path.display()
        ),
    )
}

/// One provider configuration's entry.
pub(crate) struct Shared {
    key: String,
    kind: ProviderKind,
}

impl Shared {
    /// `config` is the provider's configuration as given (a URL, a kind and its fields).
    pub(crate) fn new(kind: ProviderKind, config: &str) -> Shared {
        let mut material = format!("passmint shared cache v1\0{config}\0");
        let mut vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
            .filter(|(k, _)| {
                !NOT_IDENTITY.contains(&k.as_str())
                    && (IDENTITY_NAMES.contains(&k.as_str())
                        || IDENTITY_PREFIXES.iter().any(|p| k.starts_with(p)))
            })
            .collect();
        vars.sort();
        for (k, v) in vars {
            material.push_str(&k);
            material.push('=');
            material.push_str(&v);
            material.push('\0');
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.as_bytes());
        let key = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Shared { key, kind }
    }

    /// The token: a fresh one from disk, else `fetch`'s, written for the other processes.
    pub(crate) fn fetch(
        self: Arc<Self>,
        fetch: impl FnOnce() -> BoxFuture<Result<Lease<Token>>> + Send + 'static,
        clock: Clock,
        deadline: Duration,
    ) -> BoxFuture<Result<Lease<Token>>> {
        Box::pin(async move {
            let until = Instant::now() + deadline;
            let this = self.clone();
            let clock2 = clock.clone();
            let found = blocking(move || this.fresh_or_lock(&clock2, until)).await;
            let (paths, held) = match found {
                Ok(Found::Fresh(lease)) => return Ok(lease),
                Ok(Found::Locked(paths, held)) => (paths, held),
                Err(e) if e.kind() == ErrorKind::Timeout => return Err(e),
                Err(e) => {
                    warn_once(&e);
                    return fetch().await;
                }
            };
            let lease = fetch().await?;
            let (key, fetched_at) = (self.key.clone(), clock.now_ms());
            let copy = Lease {
                value: lease.value.clone(),
                expires_at_ms: lease.expires_at_ms,
                short_lived: lease.short_lived,
                refresh_at_ms: lease.refresh_at_ms,
            };
            let written = blocking(move || {
                let result = record::write(&paths.entry, &key, &copy, fetched_at);
                drop(held);
                result.map_err(|e| {
                    dir::refused(
                        &paths.entry,
                        &format!("the token could not be written ({e})"),
                    )
                })
            })
            .await;
            if let Err(e) = written {
                warn_once(&e);
            }
            Ok(lease)
        })
    }

    /// Removes the entry when it holds `refused` (whatever it holds, when `None`), so the next
    /// process does not read back a token a server refused. A failure to remove is only a
    /// fetch the next process does not save.
    pub(crate) fn forget(&self, refused: Option<&str>) {
        let Ok(dir) = dir::private_dir() else {
            return;
        };
        let entry = dir.join(format!("{}.json", self.key));
        if let Some(refused) = refused {
            match record::read(&entry, &self.key, self.kind) {
                Ok(Some(stored)) if stored.lease.value.secret() == refused => {}
                _ => return,
            }
        }
        let _ = std::fs::remove_file(&entry);
    }

    /// A fresh entry; else the lock, and then once more a fresh entry (another process may have
    /// written one while this one waited).
    fn fresh_or_lock(&self, clock: &Clock, until: Instant) -> Result<Found> {
        let dir = dir::private_dir()?;
        let paths = Paths {
            entry: dir.join(format!("{}.json", self.key)),
            lock: dir.join(format!("{}.lock", self.key)),
        };
        if let Some(lease) = self.fresh(&paths, clock)? {
            return Ok(Found::Fresh(lease));
        }
        let held = lock::acquire(&paths.lock, until)?;
        match self.fresh(&paths, clock)? {
            Some(lease) => Ok(Found::Fresh(lease)),
            None => Ok(Found::Locked(paths, held)),
        }
    }

    /// The entry, while it is before its refresh point (the in-process rule, on the lifetime it
    /// had when first fetched).
    fn fresh(&self, paths: &Paths, clock: &Clock) -> Result<Option<Lease<Token>>> {
        let Some(stored) = record::read(&paths.entry, &self.key, self.kind)? else {
            return Ok(None);
        };
        let now = clock.now_ms();
        let expires = stored.lease.expires_at_ms.unwrap_or(i64::MIN);
        let (margin, _) = refresh_margin(expires - stored.fetched_at_ms, stored.lease.short_lived);
        Ok((now < expires - margin).then_some(stored.lease))
    }
}

struct Paths {
    entry: PathBuf,
    lock: PathBuf,
}

enum Found {
    Fresh(Lease<Token>),
    Locked(Paths, lock::Held),
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::Panic,
            "the shared token cache panicked",
        ))
    })
}

/// One warning per process: after it, the in-process cache alone serves, quietly.
fn warn_once(e: &Error) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(error = %e.message(), "the shared token cache is not used; this process caches on its own");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_parameter_is_taken_out_of_any_url() {
        let cases = [
            (
                "azure://?credential=managed&shared_cache=1",
                "azure://?credential=managed",
                Some(true),
            ),
            ("azure://?shared_cache=0", "azure://", Some(false)),
            (
                "dsql://h?shared_cache&user=admin",
                "dsql://h?user=admin",
                Some(true),
            ),
            ("dsql://h?user=admin", "dsql://h?user=admin", None),
            ("azure://", "azure://", None),
        ];
        for (url, want, flag) in cases {
            assert_eq!(
                take_from_url(url).unwrap(),
                (want.to_string(), flag),
                "{url}"
            );
        }
        let e = take_from_url("azure://?shared_cache=maybe").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("shared_cache=maybe"));
    }

    #[test]
    fn keys_differ_by_configuration_and_kind_of_token() {
        let a = Shared::new(ProviderKind::Azure, "url\0azure://?credential=managed");
        let b = Shared::new(ProviderKind::Azure, "url\0azure://?credential=cli");
        assert_ne!(a.key, b.key);
        assert_eq!(a.key.len(), 64);
        assert_eq!(
            a.key,
            Shared::new(ProviderKind::Azure, "url\0azure://?credential=managed").key
        );
    }
}
