//! Messages safe to show: the identity SDKs quote response bodies, a CLI's stderr or a
//! credential process's stderr in their errors, and any of those may carry a secret.

/// One line, no known secret, nothing token-shaped, at most `max_chars` characters.
pub(crate) fn scrub(text: &str, secrets: &[&str], max_chars: usize) -> String {
    // Whitespace is normalised first, and the secrets are matched in normalised form too:
    // collapsing whitespace after redaction could put a secret back together (found by
    // core/tests/fuzz_smoke.rs).
    let normal = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = normal(text);
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        s = s.replace(secret, "<redacted>");
        let flat = normal(secret);
        if flat.len() >= 4 {
            s = s.replace(&flat, "<redacted>");
        }
    }
    let words: Vec<String> = s
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(redact_word)
        .collect();
    let s = words.join(" ");
    // The Azure SDK appends a troubleshooting link per credential; passmint's message says more.
    let s = s
        .split(" To troubleshoot, visit")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if s.chars().count() <= max_chars {
        return s;
    }
    let mut cut: String = s.chars().take(max_chars).collect();
    cut.push('…');
    cut
}

/// Redacts the token-shaped runs of one word. A secret is often glued to punctuation
/// (`"SecretAccessKey":"wJal…"}` in compact JSON, found by core/tests/fuzz_sdk.rs), so runs
/// of token characters are judged, not whole words. A word that starts as a URL keeps its
/// path readable (it says which endpoint failed): there `/` separates runs, so only a long
/// segment goes. Its query, and whatever follows the URL, is judged like any text.
fn redact_word(word: &str) -> String {
    let start = word
        .find(|c: char| c.is_ascii_alphanumeric())
        .unwrap_or(word.len());
    let (lead, body) = word.split_at(start);
    let scheme = body.find("://").filter(|&i| {
        i > 0
            && body[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+')
    });
    let Some(_) = scheme else {
        return redact_runs(word, true);
    };
    let path_end = body
        .find(|c: char| {
            matches!(
                c,
                '?' | '#' | '"' | '\'' | '<' | '>' | '{' | '}' | '|' | '\\' | '^' | '`'
            )
        })
        .unwrap_or(body.len());
    let (path, rest) = body.split_at(path_end);
    let mut out = lead.to_string();
    out.push_str(&redact_runs(path, false));
    out.push_str(&redact_runs(rest, true));
    out
}

/// Replaces each maximal run of token characters that is a JWT (`eyJ…`) or 40 characters or
/// longer: access tokens, AWS secret keys (40) and session tokens. `slash_joins` says whether
/// `/` is part of a run (base64 secrets contain it) or separates runs (URL paths).
fn redact_runs(text: &str, slash_joins: bool) -> String {
    let token_char = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '_' | '.' | '+' | '=' | '~' | '%')
            || (slash_joins && c == '/')
    };
    let mut out = String::with_capacity(text.len());
    let mut run_start = None;
    let flush = |out: &mut String, run: &str| {
        if run.contains("eyJ") || run.len() >= 40 {
            out.push_str("<redacted>");
        } else {
            out.push_str(run);
        }
    };
    for (i, c) in text.char_indices() {
        if token_char(c) {
            run_start.get_or_insert(i);
        } else {
            if let Some(start) = run_start.take() {
                flush(&mut out, &text[start..i]);
            }
            out.push(c);
        }
    }
    if let Some(start) = run_start {
        flush(&mut out, &text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_secrets_tokens_and_noise() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJ4In0.c2lnbmF0dXJl";
        let text = format!(
            "bad {{\"access_token\":\"{jwt}\"}} with hunter22 and\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0123456789 To troubleshoot, visit https://aka.ms/x"
        );
        let out = scrub(&text, &["hunter22"], 240);
        assert!(!out.contains(jwt) && !out.contains("hunter22"), "{out}");
        assert!(!out.contains("QUJDREVG") && !out.contains('\n') && !out.contains("aka.ms"));
        assert!(out.starts_with("bad "), "{out}");
        let long = "word ".repeat(200);
        assert!(scrub(&long, &[], 240).chars().count() <= 241);
        // URLs stay readable: they say which endpoint failed.
        let url = "http://127.0.0.1:8080/metadata/identity/oauth2/token?api-version=2019-08-01";
        assert!(scrub(url, &[], 240).contains("127.0.0.1:8080"));
    }

    #[test]
    fn aws_secret_keys_and_session_tokens_are_token_shaped() {
        let stderr = "Stderr: {\"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\", \"SessionToken\": \"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD\"}";
        let out = scrub(stderr, &[], 600);
        assert!(!out.contains("wJalrXUtnFEMI"), "{out}");
        assert!(!out.contains("IQoJb3JpZ2lu"), "{out}");
        assert!(out.contains("SecretAccessKey"), "{out}");
        let compact = r#"{"SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#;
        let out = scrub(compact, &[], 600);
        assert_eq!(out, r#"{"SecretAccessKey":"<redacted>"}"#);
        let url = "http://127.0.0.1:8080/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/x?token=eyJhbGciOiJub25lIn0.e30.x";
        let out = scrub(url, &[], 600);
        assert!(out.ends_with("/resourceGroups/x?<redacted>"), "{out}");
        // A "://" inside a secret does not make it a URL.
        let glued = r#"{"SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","T":"a://b"}"#;
        assert!(!scrub(glued, &[], 600).contains("wJalrXUtnFEMI"));
    }
}
