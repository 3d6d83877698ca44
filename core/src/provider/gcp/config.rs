//! `gcp://`'s parameters (docs/DESIGN.md §9): which credential, whose identity, which scope,
//! and the Google endpoints this process talks to.

use crate::error::{Error, Result};
use crate::url::{Query, shorten};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GcpCredential {
    /// Application Default Credentials, in google-auth's order.
    Auto,
    ServiceAccount,
    AuthorizedUser,
    ExternalAccount,
    Metadata,
}

impl GcpCredential {
    pub fn name(self) -> &'static str {
        match self {
            GcpCredential::Auto => "Application Default Credentials",
            GcpCredential::ServiceAccount => "service account key",
            GcpCredential::AuthorizedUser => {
                "authorized user (gcloud auth application-default login)"
            }
            GcpCredential::ExternalAccount => "workload identity federation (external_account)",
            GcpCredential::Metadata => "metadata server",
        }
    }
}

/// What Google's connectors ask for to log in as an IAM database user.
pub(crate) const SQLSERVICE_LOGIN: &str = "https://www.googleapis.com/auth/sqlservice.login";
/// AlloyDB's own login scope.
const ALLOYDB_LOGIN: &str = "https://www.googleapis.com/auth/alloydb.login";
/// What service-account impersonation and the STS exchange before it need (google-auth's).
pub(crate) const IAM_SCOPE: &str = "https://www.googleapis.com/auth/iam";
/// A scope is a password here only when it is a database login scope.
const LOGIN_SCOPES: [&str; 2] = [SQLSERVICE_LOGIN, ALLOYDB_LOGIN];

pub(super) const PARAMS: &[&str] = &[
    "credential",
    "user",
    "impersonate",
    "scope",
    "allow_custom_scope",
    "quota_project",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GcpConfig {
    pub credential: GcpCredential,
    pub user: Option<String>,
    /// A service account to impersonate with the credential found.
    pub impersonate: Option<String>,
    pub scopes: Vec<String>,
    pub quota_project: Option<String>,
}

pub(super) fn parse(authority: &str, q: &Query) -> Result<GcpConfig> {
    if !authority.is_empty() {
        return Err(Error::config(format!(
            "gcp:// takes no host (found `{}`): the server is chosen by your connection string; write gcp://?<options>",
            shorten(authority)
        )));
    }
    let credential = match q.get("credential")? {
        None | Some("auto") => GcpCredential::Auto,
        Some("service_account") => GcpCredential::ServiceAccount,
        Some("authorized_user") => GcpCredential::AuthorizedUser,
        Some("external_account") => GcpCredential::ExternalAccount,
        Some("metadata") => GcpCredential::Metadata,
        Some(other) => {
            return Err(Error::config(format!(
                "unknown credential `{}`: use auto, service_account, authorized_user, external_account or metadata",
                shorten(other)
            )));
        }
    };
    let impersonate = q
        .owned("impersonate")?
        .map(|e| service_account_email(&e, "impersonate"))
        .transpose()?;
    let scopes = match q.get("scope")? {
        None => vec![SQLSERVICE_LOGIN.to_string()],
        Some(s) => scopes(s, q.flag("allow_custom_scope")?)?,
    };
    let quota_project = q.owned("quota_project")?;
    if let Some(p) = &quota_project
        && (p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-:.".contains(c)))
    {
        return Err(Error::config(format!(
            "quota_project `{}` is not a project id (letters, digits, `-`)",
            shorten(p)
        )));
    }
    Ok(GcpConfig {
        credential,
        user: q.owned("user")?,
        impersonate,
        scopes,
        quota_project,
    })
}

/// `scope=`: space- or comma-separated, each a Google OAuth scope. A token is the database's
/// password: one minted for `cloud-platform` would let whoever reads it (the server, or what
/// answers in its place) call every Google API as this identity. Only the login scopes go
/// without `allow_custom_scope=true`.
fn scopes(value: &str, custom: bool) -> Result<Vec<String>> {
    let list: Vec<String> = value
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with("https://") {
                s.to_string()
            } else {
                // gcloud's short form: `sqlservice.login`.
                format!("https://www.googleapis.com/auth/{s}")
            }
        })
        .collect();
    if list.is_empty() {
        return Err(Error::config(
            "scope is empty: leave it out for https://www.googleapis.com/auth/sqlservice.login",
        ));
    }
    if let Some(other) = list.iter().find(|s| !LOGIN_SCOPES.contains(&s.as_str()))
        && !custom
    {
        return Err(Error::config(format!(
            "scope `{}` is not a database login scope, and its token would be sent to the server as a password: use {SQLSERVICE_LOGIN} (Cloud SQL) or {ALLOYDB_LOGIN} (AlloyDB), or add allow_custom_scope=true if this server really needs it",
            shorten(other)
        )));
    }
    Ok(list)
}

/// A service account's e-mail, as `impersonate=` and impersonation URLs name one.
pub(super) fn service_account_email(value: &str, what: &str) -> Result<String> {
    let ok = value
        .split_once('@')
        .is_some_and(|(name, domain)| !name.is_empty() && domain.contains('.'))
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(value.to_string())
    } else {
        Err(Error::config(format!(
            "{what} `{}` is not a service account e-mail (name@project.iam.gserviceaccount.com)",
            shorten(value)
        )))
    }
}

/// The database user an identity's e-mail is (Cloud SQL's and AlloyDB's rule for PostgreSQL):
/// a service account drops `.gserviceaccount.com`, a user account stays as it is.
pub(crate) fn database_user(email: &str) -> String {
    email
        .strip_suffix(".gserviceaccount.com")
        .unwrap_or(email)
        .to_string()
}

/// Google's fixed endpoints, each overridable for tests and private endpoints. Where a
/// credential file names its own (`token_uri`, `token_url`), the file's wins, as in google-auth.
pub(super) struct Endpoints {
    /// The OAuth 2.0 token endpoint of files that name none.
    pub token: String,
    /// The IAM Credentials API base (`generateAccessToken`).
    pub iam: String,
    /// `GCE_METADATA_HOST`: where metadata requests go (host[:port]).
    pub metadata_host: String,
    /// `GCE_METADATA_IP`: what the probe asks.
    pub metadata_ip: String,
}

pub(super) const TOKEN_URL_VAR: &str = "PASSMINT_GCP_TOKEN_URL";
pub(super) const IAM_ENDPOINT_VAR: &str = "PASSMINT_GCP_IAM_ENDPOINT";

/// A setting, trimmed: these name endpoints.
fn env(name: &str) -> Option<String> {
    crate::provider::env(name).map(|v| v.trim().to_string())
}

impl Endpoints {
    pub fn from_env() -> Result<Endpoints> {
        let token =
            env(TOKEN_URL_VAR).unwrap_or_else(|| "https://oauth2.googleapis.com/token".into());
        https_only(&token, TOKEN_URL_VAR)?;
        let iam = env(IAM_ENDPOINT_VAR)
            .unwrap_or_else(|| "https://iamcredentials.googleapis.com".into())
            .trim_end_matches('/')
            .to_string();
        https_only(&iam, IAM_ENDPOINT_VAR)?;
        Ok(Endpoints {
            token,
            iam,
            metadata_host: metadata_authority("GCE_METADATA_HOST", "metadata.google.internal")?,
            metadata_ip: metadata_authority("GCE_METADATA_IP", "169.254.169.254")?,
        })
    }
}

/// A `host[:port]` setting, as google-auth reads `GCE_METADATA_HOST` and `GCE_METADATA_IP`.
fn metadata_authority(var: &str, default: &str) -> Result<String> {
    let value = env(var).unwrap_or_else(|| default.to_string());
    let bad = value.contains(|c: char| c.is_whitespace() || "/?#@".contains(c));
    if bad {
        return Err(Error::config(format!(
            "{var}={} is not a host[:port] such as 169.254.169.254 or 127.0.0.1:8080",
            shorten(&value)
        )));
    }
    Ok(value)
}

/// Google's token endpoints take keys, refresh tokens and subject tokens: never in plaintext.
pub(super) fn https_only(url: &str, what: &str) -> Result<()> {
    if url::Url::parse(url).is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some()) {
        Ok(())
    } else {
        Err(Error::config(format!(
            "{what} `{}` must be an https:// URL: credentials are never sent to Google in plaintext",
            shorten(url)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(query: &str) -> Result<GcpConfig> {
        parse("", &Query::parse(query, "gcp", PARAMS)?)
    }

    #[test]
    fn defaults_to_adc_and_the_login_scope() {
        let c = parsed("").unwrap();
        assert_eq!(c.credential, GcpCredential::Auto);
        assert_eq!(c.scopes, [SQLSERVICE_LOGIN]);
        assert_eq!(c.user, None);
    }

    #[test]
    fn scopes_other_than_login_need_the_opt_in() {
        assert_eq!(
            parsed("scope=alloydb.login").unwrap().scopes,
            ["https://www.googleapis.com/auth/alloydb.login"]
        );
        let e = parsed("scope=cloud-platform").unwrap_err();
        assert!(
            e.message().contains("allow_custom_scope"),
            "{}",
            e.message()
        );
        let c = parsed("scope=cloud-platform&allow_custom_scope=true").unwrap();
        assert_eq!(c.scopes, ["https://www.googleapis.com/auth/cloud-platform"]);
    }

    #[test]
    fn bad_values_say_what_to_write() {
        assert!(
            parsed("credential=gce")
                .unwrap_err()
                .message()
                .contains("metadata")
        );
        assert!(
            parsed("impersonate=nobody")
                .unwrap_err()
                .message()
                .contains("e-mail")
        );
        assert!(parse("host", &Query::parse("", "gcp", PARAMS).unwrap()).is_err());
    }

    #[test]
    fn service_accounts_lose_their_domain_suffix() {
        assert_eq!(
            database_user("app@proj.iam.gserviceaccount.com"),
            "app@proj.iam"
        );
        assert_eq!(database_user("ana@example.com"), "ana@example.com");
    }
}
