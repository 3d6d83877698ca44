//! `vault://[<host>:<port>]/<mount>/creds/<role>` (also `…/static-creds/<role>` and KV v2's
//! `<mount>/data/<path>`), read as the Vault CLI reads its settings: `VAULT_ADDR` when the URL
//! names no server (default `https://127.0.0.1:8200`, the CLI's), `VAULT_NAMESPACE` when the URL
//! names no namespace, `VAULT_CACERT` (else `VAULT_CAPATH`) for the server's CA, and the token
//! from `VAULT_TOKEN`, else `~/.vault-token`.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::url::{Query, shorten};

pub(super) const PARAMS: &[&str] = &[
    "auth",
    "role",
    "auth_mount",
    "jwt_file",
    "role_id",
    "secret_id_file",
    "namespace",
    "user",
    "refresh",
];

/// The Kubernetes service account token, where the kubelet mounts it.
const K8S_JWT: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const DEFAULT_ADDR: &str = "https://127.0.0.1:8200";

/// What is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Secret {
    /// The database engine's dynamic credentials: a new role per lease.
    Creds { mount: String, role: String },
    /// A static role's current password, rotated by Vault.
    StaticCreds { mount: String, role: String },
    /// A KV v2 secret with `username`/`password`.
    Kv { mount: String, path: String },
}

impl Secret {
    /// The API path after `/v1/`.
    pub fn api_path(&self) -> String {
        match self {
            Secret::Creds { mount, role } => format!("{mount}/creds/{role}"),
            Secret::StaticCreds { mount, role } => format!("{mount}/static-creds/{role}"),
            Secret::Kv { mount, path } => format!("{mount}/data/{path}"),
        }
    }
}

/// How passmint gets its Vault token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Auth {
    /// `VAULT_TOKEN`, else `~/.vault-token`: read at each fetch, so an agent may rotate it.
    Token,
    Kubernetes {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
    AppRole {
        mount: String,
        role_id: String,
        secret_id_file: PathBuf,
    },
}

#[derive(Debug)]
pub(super) struct Config {
    /// `https://host:port` (or a loopback `http://` from `VAULT_ADDR`), without a trailing `/`.
    pub addr: String,
    pub secret: Secret,
    pub auth: Auth,
    pub namespace: Option<String>,
    pub user: Option<String>,
    pub refresh_s: i64,
}

pub(super) fn parse(location: &str, q: &Query) -> Result<Config> {
    let (authority, path) = location.split_once('/').unwrap_or((location, ""));
    let addr = if authority.is_empty() {
        let from_env = crate::provider::env("VAULT_ADDR");
        let shown = if from_env.is_some() {
            "VAULT_ADDR"
        } else {
            "the default address"
        };
        checked_addr(from_env.as_deref().unwrap_or(DEFAULT_ADDR), shown)?
    } else {
        crate::url::validate_host(authority.rsplit_once(':').map_or(authority, |(h, _)| h))?;
        format!("https://{authority}")
    };
    let secret = secret(&crate::url::decode(path, "Vault path")?)?;
    let auth = auth(q)?;
    let namespace = q
        .owned("namespace")?
        .or_else(|| crate::provider::env("VAULT_NAMESPACE"))
        .map(|n| n.trim_matches('/').to_string())
        .filter(|n| !n.is_empty());
    let user = q.owned("user")?;
    if user.is_some() && matches!(secret, Secret::Creds { .. } | Secret::StaticCreds { .. }) {
        return Err(Error::config(
            "vault://: database credentials name their own username: drop user=",
        ));
    }
    if q.get("refresh")?.is_some() && !matches!(secret, Secret::Kv { .. }) {
        return Err(Error::config(
            "vault://: refresh= is for KV secrets; credentials are renewed by their lease",
        ));
    }
    Ok(Config {
        addr,
        secret,
        auth,
        namespace,
        user,
        refresh_s: crate::provider::secret::refresh(q, "vault://")?,
    })
}

/// An address from `VAULT_ADDR`: https, or http to this machine only (a dev server), since
/// the token and the password travel in it.
fn checked_addr(raw: &str, shown: &str) -> Result<String> {
    let url = url::Url::parse(raw.trim())
        .map_err(|_| Error::config(format!("{shown} `{}` is not a URL", shorten(raw))))?;
    let loopback = crate::url::is_loopback(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(Error::config(format!(
                "{shown} `{}`: Vault's answers carry tokens and passwords, so the address must be https:// (http:// only on loopback)",
                shorten(raw)
            )));
        }
    }
    Ok(raw.trim().trim_end_matches('/').to_string())
}

fn secret(path: &str) -> Result<Secret> {
    let path = path.trim_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    let bad = || {
        Error::config(format!(
            "vault://…/{}: name a secret as <mount>/creds/<role>, <mount>/static-creds/<role> or <mount>/data/<path> (KV v2)",
            shorten(path)
        ))
    };
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(bad());
    }
    // The last `creds`/`static-creds` before a single role, or the first `data`: a mount may
    // itself hold slashes (`teams/db`).
    let n = parts.len();
    if n >= 3 {
        let mount = parts[..n - 2].join("/");
        let role = parts[n - 1].to_string();
        match parts[n - 2] {
            "creds" => return Ok(Secret::Creds { mount, role }),
            "static-creds" => return Ok(Secret::StaticCreds { mount, role }),
            _ => {}
        }
    }
    if let Some(at) = parts.iter().position(|p| *p == "data")
        && at > 0
        && at + 1 < n
    {
        return Ok(Secret::Kv {
            mount: parts[..at].join("/"),
            path: parts[at + 1..].join("/"),
        });
    }
    Err(bad())
}

fn auth(q: &Query) -> Result<Auth> {
    let mount = |default: &str| -> Result<String> {
        Ok(q.owned("auth_mount")?
            .map(|m| m.trim_matches('/').to_string())
            .unwrap_or_else(|| default.to_string()))
    };
    let only = |names: &[&str], method: &str| -> Result<()> {
        for name in names {
            if q.get(name)?.is_some() {
                return Err(Error::config(format!(
                    "vault://: {name}= is not used by auth={method}"
                )));
            }
        }
        Ok(())
    };
    match q.get("auth")?.unwrap_or("token") {
        "token" => {
            only(
                &[
                    "role",
                    "auth_mount",
                    "jwt_file",
                    "role_id",
                    "secret_id_file",
                ],
                "token",
            )?;
            Ok(Auth::Token)
        }
        "kubernetes" => {
            only(&["role_id", "secret_id_file"], "kubernetes")?;
            let role = q.owned("role")?.ok_or_else(|| {
                Error::config("vault://?auth=kubernetes needs role=<the Vault role bound to this service account>")
            })?;
            Ok(Auth::Kubernetes {
                mount: mount("kubernetes")?,
                role,
                jwt_file: PathBuf::from(q.owned("jwt_file")?.unwrap_or_else(|| K8S_JWT.into())),
            })
        }
        "approle" => {
            only(&["role", "jwt_file"], "approle")?;
            let role_id = q.owned("role_id")?.ok_or_else(|| {
                Error::config("vault://?auth=approle needs role_id=<the AppRole's role id>")
            })?;
            let secret_id_file = q.owned("secret_id_file")?.ok_or_else(|| {
                Error::config(
                    "vault://?auth=approle needs secret_id_file=<a file holding the secret id>",
                )
            })?;
            Ok(Auth::AppRole {
                mount: mount("approle")?,
                role_id,
                secret_id_file: PathBuf::from(secret_id_file),
            })
        }
        other => Err(Error::config(format!(
            "vault://: auth must be token, kubernetes or approle, not `{}`",
            shorten(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(location: &str, query: &str) -> Result<Config> {
        parse(location, &Query::parse(query, "vault", PARAMS)?)
    }

    #[test]
    fn paths_name_the_three_kinds_of_secret() {
        let c = parsed("vault.example:8200/database/creds/app", "").unwrap();
        assert_eq!(c.addr, "https://vault.example:8200");
        assert_eq!(c.secret.api_path(), "database/creds/app");
        let c = parsed("v:8200/teams/db/static-creds/app", "").unwrap();
        assert_eq!(
            c.secret,
            Secret::StaticCreds {
                mount: "teams/db".into(),
                role: "app".into()
            }
        );
        let c = parsed("v:8200/secret/data/prod/app/db", "user=app").unwrap();
        assert_eq!(
            c.secret,
            Secret::Kv {
                mount: "secret".into(),
                path: "prod/app/db".into()
            }
        );
        for bad in [
            "v:1/",
            "v:1/database/app",
            "v:1/database//creds/app",
            "v:1/secret/data",
        ] {
            assert!(parsed(bad, "").is_err(), "{bad}");
        }
    }

    #[test]
    fn auth_methods_take_their_own_parameters() {
        let c = parsed("v:1/db/creds/app", "auth=kubernetes&role=web").unwrap();
        assert!(matches!(c.auth, Auth::Kubernetes { ref mount, .. } if mount == "kubernetes"));
        let c = parsed(
            "v:1/db/creds/app",
            "auth=approle&role_id=r&secret_id_file=/s&auth_mount=ar",
        )
        .unwrap();
        assert!(matches!(c.auth, Auth::AppRole { ref mount, .. } if mount == "ar"));
        for (q, says) in [
            ("auth=kubernetes", "role="),
            ("auth=approle&role_id=r", "secret_id_file"),
            ("auth=ldap", "token, kubernetes or approle"),
            ("role=web", "not used by auth=token"),
            ("user=x", "drop user="),
            ("refresh=60", "KV"),
        ] {
            let e = parsed("v:1/db/creds/app", q).unwrap_err();
            assert!(e.message().contains(says), "{q}: {e}");
        }
    }
}
