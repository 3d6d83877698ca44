//! Azure Arc's challenge: the agent answers a first request with `401` and
//! `WWW-Authenticate: Basic realm=<key file>`, and only a process allowed to read that file
//! (root or the `himds` group) can prove it is on the machine. The file must be where the
//! agent keeps its keys, as azure-identity requires: an endpoint cannot make passmint read
//! and send any other file.

use std::io::Read;
use std::path::Path;

const KEY_DIR: &str = "/var/opt/azcmagent/tokens";
const MAX_KEY: u64 = 4096;

/// The key the challenge names, or why it cannot be used.
pub(super) fn challenge_key(www_authenticate: Option<&str>) -> Result<String, String> {
    let header =
        www_authenticate.ok_or("the agent answered 401 without a WWW-Authenticate challenge")?;
    let (scheme, path) = header
        .split_once('=')
        .ok_or("the agent's WWW-Authenticate challenge names no key file")?;
    if !scheme.trim().eq_ignore_ascii_case("basic realm") {
        return Err(
            "the agent's WWW-Authenticate challenge is not `Basic realm=<key file>`".into(),
        );
    }
    let path = Path::new(path.trim());
    if path.parent() != Some(Path::new(KEY_DIR)) {
        return Err(format!(
            "the agent's challenge names a key file outside {KEY_DIR}; passmint reads keys only there"
        ));
    }
    if path.extension().is_none_or(|e| e != "key") {
        return Err("the agent's challenge names a file that is not a .key file".into());
    }
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "the agent's key file {} cannot be read ({e}): run as root or as a member of the himds group",
            path.display()
        )
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    if size > MAX_KEY {
        return Err(format!("the agent's key file is over {MAX_KEY} bytes"));
    }
    let mut key = String::new();
    file.take(MAX_KEY)
        .read_to_string(&mut key)
        .map_err(|e| format!("the agent's key file cannot be read ({e})"))?;
    Ok(key.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_files_in_the_agents_directory() {
        for header in [
            None,
            Some("Bearer x"),
            Some("Basic realm=/etc/passwd"),
            Some("Basic realm=/var/opt/azcmagent/tokens/../../../etc/shadow.key"),
            Some("Basic realm=/var/opt/azcmagent/tokens/x.txt"),
            Some("Digest realm=/var/opt/azcmagent/tokens/x.key"),
        ] {
            assert!(challenge_key(header).is_err(), "{header:?}");
        }
        let e = challenge_key(Some("Basic realm=/etc/passwd")).unwrap_err();
        assert!(e.contains("outside"), "{e}");
    }
}
