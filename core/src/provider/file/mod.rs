//! `file:///path?user=…&format=raw|json&refresh=…`: a password (or a JSON secret) that an
//! agent keeps current on disk: Vault Agent, a Kubernetes secret volume, External Secrets.
//!
//! The file is checked on every call (one `stat`): a new inode, size or modification time
//! (an atomic rename, a rewrite, the `..data` symlink swap of a Kubernetes volume, which
//! `stat` follows) drops the cached token, so no connection gets the old password after the
//! file changed. It is also read again every `refresh` seconds, for file systems whose
//! metadata can lag (NFS attribute caches).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::registry::{Built, Ctx, Scheme, Source};
use super::secret::{self, Format};
use crate::cache::{BoxFuture, Clock, Lease};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::ProviderKind;
use crate::token::Token;
use crate::url::{PgTarget, Query};

const PARAMS: &[&str] = &["user", "format", "refresh"];

pub(crate) const FILE: Scheme = Scheme {
    kind: ProviderKind::File,
    authority: &[],
    path: true,
    role_hint: "the role the password is for (`user=` in the URL, or `username` in a JSON file)",
    rotates: true,
    params: PARAMS,
    example: "file:///run/secrets/db-password?user=<role>",
    server_ca_bundle: None,
    build,
    for_postgres: |_: &PgTarget, _: &Ctx| None,
    stated_expiry: |_| None,
};

struct FileSource {
    path: PathBuf,
    user: Option<String>,
    format: Option<Format>,
    refresh_s: i64,
    /// What the file looked like when last read (a hash of its metadata; 0: not yet).
    /// An atomic, not a lock: a `fork()` at any instant leaves the child nothing to wait on.
    seen: AtomicU64,
}

fn build(location: &str, query: &Query, _ctx: &Ctx) -> Result<Built> {
    let (host, path) = location.split_once('/').unwrap_or((location, ""));
    if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
        return Err(Error::config(format!(
            "file://{}/…: a file URL names a local file, so it has no host: write file:///absolute/path (three slashes)",
            crate::url::shorten(host)
        )));
    }
    let path = crate::url::decode(path, "file path")?;
    if path.is_empty() {
        return Err(Error::config(
            "file:// needs the file's absolute path: file:///run/secrets/db-password",
        ));
    }
    let path = PathBuf::from(format!("/{path}"));
    let user = query.owned("user")?.filter(|u| !u.is_empty());
    let source = FileSource {
        path,
        user: user.clone(),
        format: secret::format(query, "file://")?,
        refresh_s: secret::refresh(query, "file://")?,
        seen: AtomicU64::new(0),
    };
    Ok(Built {
        kind: ProviderKind::File,
        description: format!("file {}", source.path.display()),
        username: user,
        host: None,
        source: Arc::new(source),
    })
}

/// The metadata a change alters, as one number: device, inode, size, and both times to
/// the nanosecond. Never 0, which means "not read yet".
#[cfg(unix)]
fn stamp(meta: &std::fs::Metadata) -> u64 {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
        .hash(&mut h);
    h.finish().max(1)
}

#[cfg(not(unix))]
fn stamp(meta: &std::fs::Metadata) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (meta.len(), meta.modified().ok()).hash(&mut h);
    h.finish().max(1)
}

impl FileSource {
    fn unreadable(&self, e: &std::io::Error) -> Error {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "does not exist".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "cannot be read by this process (permission denied)".to_string()
            }
            _ => format!("cannot be read ({e})"),
        };
        Error::new(
            ErrorKind::CredentialUnavailable,
            format!("file://: `{}` {why}", self.path.display()),
        )
    }

    fn read(&self, clock: &Clock) -> Result<Lease<Token>> {
        // The stamp is taken before the read: a change during the read shows as a change.
        let meta = std::fs::metadata(&self.path).map_err(|e| self.unreadable(&e))?;
        if !meta.is_file() {
            return Err(Error::new(
                ErrorKind::CredentialUnavailable,
                format!("file://: `{}` is not a file", self.path.display()),
            ));
        }
        self.seen.store(stamp(&meta), Ordering::Release);
        if meta.len() > secret::MAX_BYTES as u64 {
            return Err(self.malformed("is larger than 1 MiB, which is no password file"));
        }
        let bytes = std::fs::read(&self.path).map_err(|e| self.unreadable(&e))?;
        let now = clock.now_ms().div_euclid(1000);
        let looks_json = bytes.trim_ascii_start().starts_with(b"{");
        let parsed = match self.format {
            Some(Format::Json) => secret::json(&bytes, now),
            Some(Format::Raw) => secret::raw(&bytes),
            None if looks_json => secret::json(&bytes, now),
            None => secret::raw(&bytes),
        };
        let parsed = parsed.map_err(|why| self.malformed(&format!("holds no password: {why}")))?;
        Ok(secret::lease(
            parsed,
            self.user.as_deref(),
            ProviderKind::File,
            self.refresh_s,
            clock,
        ))
    }

    fn malformed(&self, why: &str) -> Error {
        Error::new(
            ErrorKind::ProviderResponse,
            format!("file://: `{}` {why}", self.path.display()),
        )
    }
}

impl Source for FileSource {
    fn fetch(self: Arc<Self>, clock: Clock) -> BoxFuture<Result<Lease<Token>>> {
        Box::pin(async move {
            // A local read, off the runtime's workers: a hung network file system blocks a
            // blocking-pool thread, not the fetches of other providers.
            tokio::task::spawn_blocking(move || self.read(&clock))
                .await
                .unwrap_or_else(|e| {
                    Err(Error::new(
                        ErrorKind::Internal,
                        format!("reading the password file stopped: {e}"),
                    ))
                })
        })
    }

    fn changed(&self) -> bool {
        // A file gone or unreadable counts as changed: the next fetch says why.
        let now = std::fs::metadata(&self.path).map_or(u64::MAX, |m| stamp(&m));
        let seen = self.seen.load(Ordering::Acquire);
        // Compare-and-swap: of the callers that see one change, one drops the token.
        now != seen
            && self
                .seen
                .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}
