//! Which AWS region a token is signed for. The URL and the host say it first; when neither
//! does, the AWS SDKs' own settings do (`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
//! `region`), as every AWS SDK reads them. Never a silent `us-east-1`, and never the instance
//! metadata service: a region probe that leaves the host is not worth its latency here.

use super::{profile, validate_region};
use crate::error::{Error, Result};

/// The region for `host`: `?region=` and the host's own region agree or it is an error naming
/// both; either wins over the environment; the environment is read only when neither is given.
pub(super) fn resolve(
    scheme: &str,
    host: &str,
    explicit: Option<String>,
    from_host: Option<String>,
    profile: Option<&str>,
) -> Result<String> {
    match (explicit, from_host) {
        (Some(e), Some(h)) if e != h => Err(Error::config(format!(
            "region `{e}` contradicts the endpoint's region `{h}`: drop ?region= or fix it"
        ))),
        (Some(r), _) | (None, Some(r)) => Ok(r),
        (None, None) => from_settings(profile)?.ok_or_else(|| {
            Error::config(format!(
                "cannot tell the AWS region of {scheme}://{host}: add ?region=<region> (e.g. eu-west-1), or set AWS_REGION or the profile's `region`; passmint never guesses us-east-1"
            ))
        }),
    }
}

/// `AWS_REGION`, then `AWS_DEFAULT_REGION`, then `region` in the selected profile of the AWS
/// config files. A value that is there but is no region is an error naming where it was.
fn from_settings(profile: Option<&str>) -> Result<Option<String>> {
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(value) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
            return checked(value.trim(), var).map(Some);
        }
    }
    let Some(profiles) = profile::load(profile) else {
        return Ok(None);
    };
    let Some((name, selected)) = profile::selected(&profiles) else {
        return Ok(None);
    };
    match selected
        .get("region")
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(region) => checked(region, &format!("profile `{name}`'s region")).map(Some),
        None => Ok(None),
    }
}

fn checked(region: &str, place: &str) -> Result<String> {
    validate_region(region).map_err(|e| Error::config(format!("{place}: {}", e.message())))
}
