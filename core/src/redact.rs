//! Messages safe to show: the identity SDKs quote response bodies, a CLI's stderr or a
//! credential process's stderr in their errors, and any of those may carry a secret, in any
//! encoding the program chose (PHP escapes `/` as `\/`, .NET escapes `+` as `\u002B`, a URL
//! percent-encodes, a blob base64-wraps). Three nets, each catching what the others miss:
//! known secrets in every encoding, values of secret-named fields whatever their length, and
//! anything token-shaped.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

const REDACTED: &str = "<redacted>";

/// One line, no known secret, no secret-named field's value, nothing token-shaped, at most
/// `max_chars` characters.
pub(crate) fn scrub(text: &str, secrets: &[&str], max_chars: usize) -> String {
    // Whitespace is normalised first, and the secrets are matched in normalised form too:
    // collapsing whitespace after redaction could put a secret back together (found by
    // core/tests/fuzz_smoke.rs).
    let normal = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s = normal(text);
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        let flat = normal(secret);
        for form in [secret.to_string(), flat] {
            if form.len() >= 4 {
                s = replace_encoded(&s, &form);
            }
        }
        for form in base64_forms(secret) {
            s = s.replace(&form, REDACTED);
        }
    }
    let s = redact_fields(&s);
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

/// `text` with every occurrence of `secret` replaced, in whatever mix of encodings each of its
/// characters arrived: as is, percent-encoded (`%2F`, `%2f`), or JSON-escaped (`\/`, `\u002B`,
/// `\u002b`, `\\`, `\"`). Encoders disagree on which characters they leave alone (`~`, `!`,
/// `'`...), so the match is per character rather than against a list of whole forms.
fn replace_encoded(text: &str, secret: &str) -> String {
    let (t, want) = (text.as_bytes(), secret.as_bytes());
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    let first = want.first().copied();
    while i < t.len() {
        // Only these bytes can start a match: the secret's first, or an escape.
        let candidate = Some(t[i]) == first || t[i] == b'%' || t[i] == b'\\';
        if let Some(end) = candidate.then(|| match_encoded(t, i, want)).flatten() {
            out.push_str(&text[copied..i]);
            out.push_str(REDACTED);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Where a match of `want` starting at `t[start]` ends, if there is one. Each byte of `want`
/// may be raw or encoded; only `%` and `\` can start both, so the search branches only there.
fn match_encoded(t: &[u8], start: usize, want: &[u8]) -> Option<usize> {
    let end = match_from(t, start, want)?;
    // Never end inside a character: only possible if `want` is not the text's encoding.
    std::str::from_utf8(&t[start..end]).ok().map(|_| end)
}

fn match_from(t: &[u8], at: usize, want: &[u8]) -> Option<usize> {
    let Some((&b, rest_want)) = want.split_first() else {
        return Some(at);
    };
    let rest = t.get(at..)?;
    let hex = |h: &[u8]| -> Option<u32> {
        std::str::from_utf8(h)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let raw = (rest.first() == Some(&b)).then_some(1);
    let percent =
        (rest.len() >= 3 && rest[0] == b'%' && hex(&rest[1..3]) == Some(b as u32)).then_some(3);
    let unicode = (rest.len() >= 6
        && rest[0] == b'\\'
        && rest[1] == b'u'
        && b.is_ascii()
        && hex(&rest[2..6]) == Some(b as u32))
    .then_some(6);
    // JSON's two-character escapes: `\/`, `\\`, `\"`, and the control characters' short
    // forms (`\b` for U+0008: found by core/tests/fuzz_smoke.rs, a secret printed by serde_json).
    let short = match b {
        b'/' | b'\\' | b'"' => Some(b),
        0x08 => Some(b'b'),
        0x0c => Some(b'f'),
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        b'\t' => Some(b't'),
        _ => None,
    };
    let escaped = (rest.len() >= 2 && rest[0] == b'\\' && Some(rest[1]) == short).then_some(2);
    [raw, percent, unicode, escaped]
        .into_iter()
        .flatten()
        .find_map(|used| match_from(t, at + used, rest_want))
}

/// A secret base64- and base64url-encoded at each of the three alignments it can have inside
/// a longer blob: only the characters that depend on the secret alone, when long enough.
pub(crate) fn base64_forms(secret: &str) -> Vec<String> {
    let mut forms = Vec::new();
    for engine in [&STANDARD, &URL_SAFE] {
        for lead in 0..3usize {
            let mut bytes = vec![0u8; lead];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            // Characters of the first group mix in the bytes before the secret; those of the
            // last incomplete group, the bytes after it.
            let skip = if lead == 0 { 0 } else { 4 };
            let whole = bytes.len() / 3 * 4;
            if whole >= skip + 8 {
                forms.push(encoded[skip..whole].to_string());
            }
        }
    }
    forms
}

/// Whether a field of this name holds a secret: compared without case or `-`, `_`, `.`, by
/// its ending, so `SecretAccessKey`, `aws_secret_access_key`, `X-Amz-Security-Token`,
/// `SessionToken`, `Token`, `client_secret`, `access_token`, `refresh_token`, `id_token`,
/// `client_assertion`, `password` all are.
fn secret_field(name: &str) -> bool {
    const ENDINGS: [&str; 9] = [
        "secretaccesskey",
        "secretkey",
        "token",
        "secret",
        "password",
        "passwd",
        "assertion",
        "signature",
        "privatekey",
    ];
    let flat: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    !flat.is_empty() && ENDINGS.iter().any(|e| flat.ends_with(e))
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Replaces the value of every secret-named field, whatever its length: JSON (`"Token":
/// "…"`, also inside an escaped JSON string), query strings and forms (`token=…`), YAML,
/// headers and Rust `Debug` (`secret_key: …`), and XML (`<SessionToken>…</SessionToken>`).
fn redact_fields(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        out.push(c);
        i += 1;
        if !matches!(c, ':' | '=' | '>') || !field_before(&chars[..i - 1], c) {
            continue;
        }
        if c == '>' {
            // XML: the value runs to the next tag.
            let end = chars[i..]
                .iter()
                .position(|&c| c == '<')
                .map_or(chars.len(), |p| i + p);
            if end > i {
                out.push_str(REDACTED);
            }
            i = end;
            continue;
        }
        while i < chars.len() && chars[i] == ' ' {
            out.push(' ');
            i += 1;
        }
        let end = value_end(&chars, i);
        if end > i {
            let value: String = chars[i..end].iter().collect();
            // Keep the quotes, so the shape of the text stays readable.
            let (open, close) = quotes(&value);
            out.push_str(open);
            out.push_str(REDACTED);
            out.push_str(close);
        }
        i = end;
    }
    out
}

/// Whether the text before a separator ends with a secret-named field (for `>`, an opening
/// tag `<Name>`), its quotes (`"`, `'`, `\"`) and spaces aside.
fn field_before(before: &[char], separator: char) -> bool {
    let mut end = before.len();
    if separator != '>' {
        while end > 0 && before[end - 1] == ' ' {
            end -= 1;
        }
        while end > 0 && matches!(before[end - 1], '"' | '\'' | '\\') {
            end -= 1;
        }
    }
    let mut start = end;
    while start > 0 && name_char(before[start - 1]) {
        start -= 1;
    }
    if start == end {
        return false;
    }
    if separator == '>' && (start == 0 || before[start - 1] != '<') {
        return false;
    }
    let name: String = before[start..end].iter().collect();
    secret_field(&name)
}

/// Where a field's value that starts at `start` ends: a quoted value at its closing quote
/// (escapes honoured, also an escaped `\"…\"` inside a JSON string), a bare one at the first
/// character that ends a value in JSON, a query string, a header or a log line.
fn value_end(chars: &[char], start: usize) -> usize {
    let Some(&first) = chars.get(start) else {
        return start;
    };
    let escaped_quote = first == '\\' && chars.get(start + 1) == Some(&'"');
    if first == '"' || first == '\'' || escaped_quote {
        let (quote, body) = if escaped_quote {
            ('"', start + 2)
        } else {
            (first, start + 1)
        };
        let mut j = body;
        while j < chars.len() {
            match chars[j] {
                '\\' if escaped_quote && chars.get(j + 1) == Some(&quote) => {
                    return j + 2;
                }
                '\\' => j += 2,
                c if c == quote && !escaped_quote => return j + 1,
                _ => j += 1,
            }
        }
        return chars.len();
    }
    chars[start..]
        .iter()
        .position(|&c| {
            matches!(
                c,
                ' ' | ',' | ';' | '&' | '}' | ')' | ']' | '<' | '"' | '\'' | '\\'
            )
        })
        .map_or(chars.len(), |p| start + p)
}

/// The quotes around a value as found, kept around `<redacted>`.
fn quotes(value: &str) -> (&'static str, &'static str) {
    if value.starts_with("\\\"") && value.ends_with("\\\"") && value.len() >= 4 {
        ("\\\"", "\\\"")
    } else if value.starts_with('"') && value.ends_with('"') && value.len() >= 2 {
        ("\"", "\"")
    } else if value.starts_with('\'') && value.ends_with('\'') && value.len() >= 2 {
        ("'", "'")
    } else {
        ("", "")
    }
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
/// longer: access tokens, AWS secret keys (40) and session tokens. A run already redacted
/// stays as it is. `slash_joins` says whether
/// `/` is part of a run (base64 secrets contain it) or separates runs (URL paths).
fn redact_runs(text: &str, slash_joins: bool) -> String {
    // A JSON escape (`\/`, `\u002B`) keeps a run together outside URL paths: a backslash
    // must not split a secret into runs too short to look like one.
    let token_char = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '_' | '.' | '+' | '=' | '~' | '%')
            || (slash_joins && matches!(c, '/' | '\\'))
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
    fn json_short_escapes_of_control_characters_are_matched() {
        let secret = "eXAiOiJKV\u{8}1Q";
        for shown in ["eXAiOiJKV\\b1Q", "eXAiOiJKV\\u00081Q", "eXAiOiJKV%081Q"] {
            let out = scrub(&format!("echo {shown} end"), &[secret], 240);
            assert!(!out.contains("eXAiOiJKV"), "{shown}: {out}");
        }
    }

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
        assert!(out.ends_with("/resourceGroups/x?token=<redacted>"), "{out}");
        // A "://" inside a secret does not make it a URL.
        let glued = r#"{"SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","T":"a://b"}"#;
        assert!(!scrub(glued, &[], 600).contains("wJalrXUtnFEMI"));
    }
    /// Review finding 2: a failing credential_process that prints its answer to stderr the
    /// way PHP (`\/`) or .NET (`\u002B`) encode JSON had its keys quoted verbatim.
    #[test]
    fn escaped_json_on_stderr_is_scrubbed_without_knowing_the_secrets() {
        let key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let token = "IQoJb3JpZ2luX2Vj/EJr//////////wEaCXVz+ZWFzdC0x";
        let php = format!(
            r#"Stderr: {{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"{}","SessionToken":"{}"}}"#,
            key.replace('/', "\\/"),
            token.replace('/', "\\/")
        );
        let dotnet = php.replace('+', "\\u002B");
        for text in [php, dotnet] {
            let out = scrub(&text, &[], 600);
            for piece in ["wJalrXUtnFEMI", "EXAMPLEKEY", "IQoJb3JpZ2lu", "ZWFzdC0x"] {
                assert!(!out.contains(piece), "{piece} in {out}");
            }
            assert!(
                out.contains("ASIAEXAMPLE"),
                "an access key id is not a secret: {out}"
            );
        }
    }

    #[test]
    fn secret_named_fields_lose_their_values_whatever_their_length() {
        let cases = [
            (
                r#"{"SessionToken":"ab"}"#,
                r#"{"SessionToken":"<redacted>"}"#,
            ),
            (r#"{"Token": "x1"}"#, r#"{"Token": "<redacted>"}"#),
            ("secret_key: s3 and more", "secret_key: <redacted> and more"),
            (
                "client_secret=abc&scope=x",
                "client_secret=<redacted>&scope=x",
            ),
            (
                "X-Amz-Security-Token=Zz%2F&X-Amz-Date=1",
                "X-Amz-Security-Token=<redacted>&X-Amz-Date=1",
            ),
            (
                "<SecretAccessKey>k</SecretAccessKey><Expiration>2030</Expiration>",
                "<SecretAccessKey><redacted></SecretAccessKey><Expiration>2030</Expiration>",
            ),
            (
                r#"body: "{\"access_token\":\"e\",\"expires_in\":3599}""#,
                r#"body: "{\"access_token\":\"<redacted>\",\"expires_in\":3599}""#,
            ),
            ("password 'pw' ok", "password 'pw' ok"),
            (
                "token_type=Bearer, expires_in=3600",
                "token_type=Bearer, expires_in=3600",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input, &[], 600), want, "{input}");
        }
    }

    #[test]
    fn a_known_secret_is_scrubbed_in_every_encoding() {
        let secret = "p4ss/w+rd<&>'~x";
        let mut blob = b"{\"password\":\"".to_vec();
        blob.extend_from_slice(secret.as_bytes());
        let forms = [
            secret.to_string(),
            secret.replace('/', "\\/"),
            // .NET's JavaScriptEncoder.Default: + < > & ' as \u00XX.
            secret
                .replace('+', "\\u002B")
                .replace('<', "\\u003C")
                .replace('>', "\\u003E")
                .replace('&', "\\u0026")
                .replace('\'', "\\u0027"),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            STANDARD.encode(secret),
            URL_SAFE.encode(secret),
            // Inside a longer base64 blob, at whatever alignment it falls.
            STANDARD.encode(&blob),
            STANDARD.encode([b"x".as_slice(), &blob].concat()),
        ];
        for form in forms {
            let text = format!("failed: got {form} back");
            let out = scrub(&text, &[secret], 600);
            assert!(out.contains("<redacted>"), "{form} -> {out}");
            assert!(!out.contains(&form), "{form} survived in {out}");
            assert!(!out.contains("p4ss"), "{out}");
        }
    }
}
