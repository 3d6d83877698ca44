//! The parsers `gcp://` runs on what it reads, for core/tests/fuzz_*.rs: token endpoint,
//! STS, IAM and metadata answers, error bodies, credential files and subject tokens.

use super::adc::Format;

/// An OAuth token answer (token endpoint, STS; `numeric_only`: the metadata server's rule).
pub fn oauth_answer(body: &[u8], numeric_only: bool) -> Result<(String, i64), crate::Error> {
    super::answer::oauth(body, 1_700_000_000, "fuzz", numeric_only)
        .map(|t| (t.secret, t.expires_at))
}

/// An IAM Credentials `generateAccessToken` answer.
pub fn iam_answer(body: &[u8]) -> Result<(String, i64), crate::Error> {
    super::answer::iam(body, "fuzz").map(|t| (t.secret, t.expires_at))
}

/// What an error body contributes to a message.
pub fn error_detail(body: &[u8]) -> String {
    super::answer::error_detail(body)
}

/// A credential file's type, or the error it gets.
pub fn adc_file(bytes: &[u8]) -> Result<&'static str, crate::Error> {
    super::adc::parse(bytes, "fuzz.json").map(|f| f.credential.type_name())
}

/// A subject token read as `format` says (`None`: text; `Some(field)`: that JSON field).
pub fn subject_token(content: &[u8], field: Option<&str>) -> Result<String, crate::Error> {
    let format = field.map_or(Format::Text, |f| Format::Json(f.to_string()));
    super::external::subject_from(content, &format, "fuzz", "the subject token")
}
