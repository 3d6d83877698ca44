//! Application Default Credentials files, found and read as google-auth finds and reads them:
//! `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's `application_default_credentials.json`
//! (`CLOUDSDK_CONFIG`, else `~/.config/gcloud`, `%APPDATA%\gcloud` on Windows). Values are
//! never quoted in messages: these files hold keys and refresh tokens.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::config::service_account_email;
use crate::error::{Error, ErrorKind, Result};
use crate::provider::env;

pub(super) const PATH_VAR: &str = "GOOGLE_APPLICATION_CREDENTIALS";
const GCLOUD_FILE: &str = "application_default_credentials.json";

/// A credential file and where it came from, for messages.
pub(crate) struct AdcFile {
    pub origin: String,
    pub credential: FileCredential,
}

pub(crate) enum FileCredential {
    ServiceAccount(ServiceAccountKey),
    AuthorizedUser(AuthorizedUser),
    ExternalAccount(ExternalAccount),
    Impersonated(Impersonated),
}

impl FileCredential {
    pub fn type_name(&self) -> &'static str {
        match self {
            FileCredential::ServiceAccount(_) => "service_account",
            FileCredential::AuthorizedUser(_) => "authorized_user",
            FileCredential::ExternalAccount(_) => "external_account",
            FileCredential::Impersonated(_) => "impersonated_service_account",
        }
    }
}

pub(crate) struct ServiceAccountKey {
    pub client_email: String,
    pub private_key: String,
    pub private_key_id: Option<String>,
    pub token_uri: Option<String>,
    pub quota_project_id: Option<String>,
}

/// Its `token_uri` is not read: google-auth always refreshes at Google's token endpoint.
pub(crate) struct AuthorizedUser {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub quota_project_id: Option<String>,
}

pub(crate) struct ExternalAccount {
    pub audience: String,
    pub subject_token_type: String,
    pub token_url: String,
    pub impersonation_url: Option<String>,
    /// `service_account_impersonation.token_lifetime_seconds`.
    pub lifetime: Option<u64>,
    pub source: SubjectSource,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub workforce_pool_user_project: Option<String>,
    pub quota_project_id: Option<String>,
}

/// Where an external account's subject token comes from.
pub(crate) enum SubjectSource {
    File {
        path: String,
        format: Format,
    },
    Url {
        url: String,
        headers: Vec<(String, String)>,
        format: Format,
    },
    Aws(super::aws_subject::AwsSource),
}

/// How a subject token is written: the whole text, or one field of a JSON object.
pub(crate) enum Format {
    Text,
    Json(String),
}

pub(crate) struct Impersonated {
    pub target: String,
    pub source: Box<FileCredential>,
    pub delegates: Vec<String>,
    pub quota_project_id: Option<String>,
}

impl std::fmt::Debug for AdcFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdcFile")
            .field("origin", &self.origin)
            .field("type", &self.credential.type_name())
            .finish()
    }
}

/// gcloud's configuration directory.
fn gcloud_dir() -> Option<PathBuf> {
    if let Some(dir) = env("CLOUDSDK_CONFIG") {
        return Some(PathBuf::from(dir));
    }
    if cfg!(windows) {
        return env("APPDATA").map(|d| PathBuf::from(d).join("gcloud"));
    }
    env("HOME").map(|h| PathBuf::from(h).join(".config").join("gcloud"))
}

/// The ADC file in use: `Ok(None)` when there is none (the chain goes on to the metadata
/// server). A `GOOGLE_APPLICATION_CREDENTIALS` that names a missing file is an error, as in
/// google-auth: the caller meant that file.
pub(crate) fn find() -> Result<Option<AdcFile>> {
    if let Some(path) = env(PATH_VAR) {
        let origin = format!("{PATH_VAR}={path}");
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::new(
                ErrorKind::CredentialUnavailable,
                format!(
                    "{origin} cannot be read ({e}): point it at a credential JSON file, or unset it"
                ),
            )
        })?;
        return parse(&bytes, &origin).map(Some);
    }
    let Some(dir) = gcloud_dir() else {
        return Ok(None);
    };
    let path = dir.join(GCLOUD_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let origin = format!("gcloud's ADC file {}", path.display());
            parse(&bytes, &origin).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(
            ErrorKind::CredentialUnavailable,
            format!("gcloud's ADC file {} cannot be read ({e})", path.display()),
        )),
    }
}

fn invalid(origin: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("{origin}: {why}"))
}

/// A credential file's contents. `origin` names it in messages.
pub(crate) fn parse(bytes: &[u8], origin: &str) -> Result<AdcFile> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        invalid(
            origin,
            format!(
                "is not JSON (line {}, column {}): download the key again, or run `gcloud auth application-default login`",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(invalid(
            origin,
            "is JSON but not an object: not a credential file",
        ));
    };
    Ok(AdcFile {
        credential: credential(&map, origin, 0)?,
        origin: origin.to_string(),
    })
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
    origin: &'a str,
    kind: &'a str,
}

impl Fields<'_> {
    fn optional(&self, name: &str) -> Result<Option<String>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(
                self.origin,
                format!("the {} file's `{name}` is not a string", self.kind),
            )),
        }
    }

    fn required(&self, name: &str) -> Result<String> {
        self.optional(name)?.ok_or_else(|| {
            invalid(
                self.origin,
                format!(
                    "the {} file has no `{name}`: it is incomplete; download or create it again",
                    self.kind
                ),
            )
        })
    }
}

const TYPES: &str =
    "service_account, authorized_user, external_account or impersonated_service_account";

fn credential(map: &Map<String, Value>, origin: &str, depth: u8) -> Result<FileCredential> {
    let kind = match map.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(invalid(origin, "`type` is not a string")),
        None => {
            return Err(invalid(
                origin,
                format!("has no `type`: a Google credential file's type is {TYPES}"),
            ));
        }
    };
    let f = Fields { map, origin, kind };
    Ok(match kind {
        "service_account" => FileCredential::ServiceAccount(ServiceAccountKey {
            client_email: f.required("client_email")?,
            private_key: f.required("private_key")?,
            private_key_id: f.optional("private_key_id")?,
            token_uri: f.optional("token_uri")?,
            quota_project_id: f.optional("quota_project_id")?,
        }),
        "authorized_user" => FileCredential::AuthorizedUser(AuthorizedUser {
            client_id: f.required("client_id")?,
            client_secret: f.required("client_secret")?,
            refresh_token: f.required("refresh_token")?,
            quota_project_id: f.optional("quota_project_id")?,
        }),
        "external_account" => FileCredential::ExternalAccount(external(&f)?),
        "impersonated_service_account" => {
            if depth > 0 {
                return Err(invalid(
                    origin,
                    "an impersonated_service_account's source_credentials is itself impersonated: give the source credential directly",
                ));
            }
            let url = f.required("service_account_impersonation_url")?;
            let target = target_of(&url).ok_or_else(|| {
                invalid(
                    origin,
                    "service_account_impersonation_url does not end in serviceAccounts/<e-mail>:generateAccessToken",
                )
            })?;
            let Some(Value::Object(source)) = map.get("source_credentials") else {
                return Err(invalid(
                    origin,
                    "the impersonated_service_account file has no `source_credentials` object",
                ));
            };
            let delegates = match map.get("delegates") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|d| {
                        d.as_str().map(str::to_string).ok_or_else(|| {
                            invalid(origin, "`delegates` holds something that is not an e-mail")
                        })
                    })
                    .collect::<Result<_>>()?,
                Some(_) => return Err(invalid(origin, "`delegates` is not a list")),
            };
            FileCredential::Impersonated(Impersonated {
                target,
                source: Box::new(credential(source, origin, depth + 1)?),
                delegates,
                quota_project_id: f.optional("quota_project_id")?,
            })
        }
        "external_account_authorized_user" | "gdch_service_account" => {
            return Err(invalid(
                origin,
                format!("credential type `{kind}` is not one passmint reads: use {TYPES}"),
            ));
        }
        other => {
            return Err(invalid(
                origin,
                format!(
                    "unknown credential type `{}`: a Google credential file's type is {TYPES}",
                    crate::url::shorten(other)
                ),
            ));
        }
    })
}

/// The service account an IAM Credentials URL names (`…/serviceAccounts/<email>:generateAccessToken`).
pub(super) fn target_of(url: &str) -> Option<String> {
    let (_, rest) = url.rsplit_once("/serviceAccounts/")?;
    let email = rest.strip_suffix(":generateAccessToken")?;
    service_account_email(email, "the impersonation URL").ok()
}

fn external(f: &Fields<'_>) -> Result<ExternalAccount> {
    let Some(Value::Object(source)) = f.map.get("credential_source") else {
        return Err(invalid(
            f.origin,
            "the external_account file has no `credential_source` object",
        ));
    };
    let src = Fields {
        map: source,
        origin: f.origin,
        kind: "external_account credential_source",
    };
    let format = match source.get("format") {
        None | Some(Value::Null) => Format::Text,
        Some(Value::Object(format)) => {
            let ff = Fields {
                map: format,
                origin: f.origin,
                kind: "credential_source format",
            };
            match ff.optional("type")?.as_deref() {
                None | Some("text") => Format::Text,
                Some("json") => Format::Json(ff.required("subject_token_field_name")?),
                Some(other) => {
                    return Err(invalid(
                        f.origin,
                        format!(
                            "credential_source format type `{}` is neither text nor json",
                            crate::url::shorten(other)
                        ),
                    ));
                }
            }
        }
        Some(_) => {
            return Err(invalid(
                f.origin,
                "credential_source `format` is not an object",
            ));
        }
    };
    let subject = if let Some(path) = src.optional("file")? {
        SubjectSource::File { path, format }
    } else if source.contains_key("environment_id") {
        // An AWS source's `url` is its role's metadata, not a subject token.
        aws_source(&src)?
    } else if let Some(url) = src.optional("url")? {
        let headers = match source.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(h)) => h
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(invalid(
                        f.origin,
                        "credential_source headers must be strings",
                    )),
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(invalid(
                    f.origin,
                    "credential_source `headers` is not an object",
                ));
            }
        };
        SubjectSource::Url {
            url,
            headers,
            format,
        }
    } else if source.contains_key("executable") {
        return Err(invalid(
            f.origin,
            "an executable credential_source is not one passmint runs: use a file or url source",
        ));
    } else {
        return Err(invalid(
            f.origin,
            "credential_source names no `file` or `url` to read the subject token from",
        ));
    };
    let lifetime = match f.map.get("service_account_impersonation") {
        Some(Value::Object(o)) => match o.get("token_lifetime_seconds") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|s| (600..=43_200).contains(s)).ok_or_else(|| {
                invalid(
                    f.origin,
                    "service_account_impersonation.token_lifetime_seconds must be a number from 600 to 43200",
                )
            })?),
        },
        _ => None,
    };
    Ok(ExternalAccount {
        audience: f.required("audience")?,
        subject_token_type: f.required("subject_token_type")?,
        token_url: f
            .optional("token_url")?
            .unwrap_or_else(|| "https://sts.googleapis.com/v1/token".into()),
        impersonation_url: f.optional("service_account_impersonation_url")?,
        lifetime,
        source: subject,
        client_id: f.optional("client_id")?,
        client_secret: f.optional("client_secret")?,
        workforce_pool_user_project: f.optional("workforce_pool_user_project")?,
        quota_project_id: f.optional("quota_project_id")?,
    })
}

fn aws_source(src: &Fields<'_>) -> Result<SubjectSource> {
    let environment = src.required("environment_id")?;
    // google-auth: `aws` and a version, of which only 1 exists.
    if environment != "aws1" {
        return Err(invalid(
            src.origin,
            format!(
                "credential_source environment_id `{}` is not supported: aws1 is",
                crate::url::shorten(&environment)
            ),
        ));
    }
    Ok(SubjectSource::Aws(super::aws_subject::AwsSource {
        region_url: src.optional("region_url")?,
        url: src.optional("url")?,
        verification_url: src.required("regional_cred_verification_url")?,
        imdsv2_url: src.optional("imdsv2_session_token_url")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Error {
        parse(text.as_bytes(), "test.json").unwrap_err()
    }

    #[test]
    fn malformed_files_say_what_is_wrong_without_quoting_values() {
        assert!(err("{").message().contains("is not JSON"));
        assert!(err("[]").message().contains("not an object"));
        assert!(err("{}").message().contains("has no `type`"));
        let e = err(r#"{"type":"nonsense"}"#);
        assert!(
            e.message().contains("unknown credential type `nonsense`"),
            "{}",
            e.message()
        );
        let e = err(r#"{"type":"authorized_user","client_id":"c","refresh_token":"1//secret-rt"}"#);
        assert!(e.message().contains("`client_secret`"), "{}", e.message());
        assert!(!e.message().contains("secret-rt"));
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    }

    #[test]
    fn impersonation_urls_name_their_target() {
        assert_eq!(
            target_of("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken").as_deref(),
            Some("sa@p.iam.gserviceaccount.com")
        );
        assert_eq!(target_of("https://example.com/token"), None);
    }

    #[test]
    fn external_accounts_read_their_source() {
        let file = parse(
            br#"{"type":"external_account","audience":"//iam.googleapis.com/x","subject_token_type":"urn:ietf:params:oauth:token-type:jwt",
                "credential_source":{"url":"http://127.0.0.1/t","headers":{"Metadata":"True"},"format":{"type":"json","subject_token_field_name":"access_token"}}}"#,
            "f",
        )
        .unwrap();
        let FileCredential::ExternalAccount(e) = file.credential else {
            panic!("not external")
        };
        assert_eq!(e.token_url, "https://sts.googleapis.com/v1/token");
        assert!(
            matches!(e.source, SubjectSource::Url { ref headers, format: Format::Json(ref f), .. } if headers.len() == 1 && f == "access_token")
        );
        let e = err(
            r#"{"type":"external_account","audience":"a","subject_token_type":"t","credential_source":{"environment_id":"aws2"}}"#,
        );
        assert!(e.message().contains("aws1 is"), "{}", e.message());
        let e = err(
            r#"{"type":"external_account","audience":"a","subject_token_type":"t","credential_source":{"environment_id":"aws1"}}"#,
        );
        assert!(
            e.message().contains("regional_cred_verification_url"),
            "{}",
            e.message()
        );
    }
}
