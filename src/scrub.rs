//! [`scrub_secrets`]: masks what looks like a credential in text bound for an error message, a
//! trace or a terminal.

use std::borrow::Cow;

/// What a masked secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Prefixes of well-known API key formats: OpenAI and Anthropic (`sk-`, `sk-ant-`), Stripe,
/// GitHub, Slack, GitLab, Hugging Face, Google, AWS access key ids. The one list: the
/// redaction's `api_key` detector is built from it too.
pub(crate) const KEY_PREFIXES: &[&str] = &[
    "sk-",
    "sk_",
    "rk_",
    "pk_live_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "glpat-",
    "hf_",
    "AIza",
    "AKIA",
];

/// Characters a prefixed key must have after its prefix; fewer is an ordinary word.
const MIN_KEY_TAIL: usize = 16;

/// A `Bearer`/`Basic` credential is at least this long; shorter is a sentence ("Bearer token").
const MIN_SCHEME_TOKEN: usize = 8;

/// `name=value` and `"name": "value"` pairs are masked when the name ends with one of these
/// (`api_key`, `access_token`, `X-Amz-Signature`, `client_secret`, ...).
const SECRET_NAME_ENDINGS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "sig",
    "signature",
    "credential",
    "auth",
];

/// Headers whose whole value is a secret, masked in `Name: value` lines.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-auth-token",
];

/// `text` with every credential it seems to hold replaced by [`REDACTED`]; borrowed when there
/// is none.
///
/// Masks: `Bearer`/`Basic` credentials; keys of well-known formats (`sk-...`, `sk-ant-...`,
/// `ghp_...`, `AIza...`, ...); the values of `name=value` pairs whose name ends in `key`,
/// `token`, `secret`, `password`, `sig`, `signature`, `credential` or `auth`, as in URL query
/// strings (`?key=`, `&access_token=`) and form bodies; the same names as quoted JSON keys; and
/// the value of `Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key` (and similar) header lines;
/// and the password in a URL (`https://user:password@host`).
///
/// Apply it to a whole text before cutting it: a secret cut in two is no longer recognisable.
/// It works in one pass, in time linear in the text's length.
///
/// ```
/// use llmtrace::scrub_secrets;
///
/// let text = "GET /v1?api_key=abc123&page=2 failed; Authorization: Bearer eyJhbGciOi.x.y";
/// assert_eq!(
///     scrub_secrets(text),
///     "GET /v1?api_key=[redacted]&page=2 failed; Authorization: [redacted]"
/// );
/// assert_eq!(scrub_secrets("nothing to hide"), "nothing to hide");
/// ```
pub fn scrub_secrets(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = Redactions::new(text);
    let mut at = 0;
    while at < bytes.len() {
        let starts_word = at == 0 || !is_name_byte(bytes[at - 1]);
        if !starts_word || !is_name_byte(bytes[at]) {
            at += 1;
            continue;
        }
        let end = at + bytes[at..].iter().take_while(|&&b| is_name_byte(b)).count();
        at = match secret_after_name(bytes, at, end) {
            Some((from, to)) => {
                out.mask(from, to);
                to
            }
            None => end,
        };
    }
    out.finish()
}

/// The byte range of the secret that the name (or word) at `start..end` is or announces.
fn secret_after_name(bytes: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    let word = &bytes[start..end];
    // Keys hold no dots: a dot after one ends a sentence.
    let key = &word[..count(word, |b| b != b'.')];
    if KEY_PREFIXES.iter().any(|prefix| {
        key.starts_with(prefix.as_bytes()) && key.len() >= prefix.len() + MIN_KEY_TAIL
    }) {
        return Some((start, start + key.len()));
    }
    let name = String::from_utf8_lossy(word).to_ascii_lowercase();
    let secret_name = SECRET_NAME_ENDINGS.iter().any(|e| name.ends_with(e));
    let secret_header = SECRET_HEADERS.contains(&name.as_str());
    match bytes.get(end) {
        Some(b':') if bytes[end..].starts_with(b"://") => url_password(bytes, end + 3),
        Some(b' ') if name == "bearer" || name == "basic" => {
            let from = end + count(&bytes[end..], |b| b == b' ');
            let to = from + count(&bytes[from..], is_credential_byte);
            (to - from >= MIN_SCHEME_TOKEN).then_some((from, to))
        }
        Some(b'=') if secret_name => {
            let from = end + 1;
            let to = from + count(&bytes[from..], |b| !is_value_end(b));
            (to > from).then_some((from, to))
        }
        Some(b':') if secret_header => {
            let from = end + 1 + count(&bytes[end + 1..], |b| b == b' ' || b == b'\t');
            let to = from + count(&bytes[from..], |b| b != b'\n' && b != b'\r');
            (to > from).then_some((from, to))
        }
        Some(b'"') if secret_name || secret_header => quoted_value(bytes, end + 1),
        _ => None,
    }
}

/// The password of a URL's `user:password@` part, the authority starting at `at`.
fn url_password(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let authority = count(&bytes[at..], |b| {
        !b.is_ascii_whitespace() && !matches!(b, b'/' | b'?' | b'#' | b'"' | b'\'')
    });
    let authority = &bytes[at..at + authority];
    let userinfo = &authority[..authority.iter().rposition(|&b| b == b'@')?];
    let colon = userinfo.iter().position(|&b| b == b':')?;
    Some((at + colon + 1, at + userinfo.len()))
}

/// The string value of a JSON member whose key ended just before `at` (`": "value"`).
fn quoted_value(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut at = at + count(&bytes[at..], |b| b == b' ');
    if bytes.get(at) != Some(&b':') {
        return None;
    }
    at += 1 + count(&bytes[at + 1..], |b| b == b' ');
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let from = at + 1;
    let mut to = from;
    while to < bytes.len() && bytes[to] != b'"' {
        // An escaped character (`\"`) belongs to the value.
        to += if bytes[to] == b'\\' { 2 } else { 1 };
    }
    let to = to.min(bytes.len());
    (to > from).then_some((from, to))
}

/// How many bytes at the start of `bytes` satisfy `keep`.
fn count(bytes: &[u8], keep: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&b| keep(b)).count()
}

/// Bytes of names, words and key formats.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Bytes of a `Bearer`/`Basic` credential (base64, base64url, JWT).
fn is_credential_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~' | b'+' | b'/' | b'=')
}

/// Bytes that end a `name=value` value.
fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b'"' | b'\'' | b',' | b';' | b'#' | b')' | b']' | b'}' | b'<' | b'>'
        )
}

/// The text being rebuilt, allocated at the first secret only.
struct Redactions<'a> {
    text: &'a str,
    out: Option<String>,
    copied: usize,
}

impl<'a> Redactions<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            out: None,
            copied: 0,
        }
    }

    /// Replaces `text[from..to]` (ranges start and end at ASCII bytes or the text's end).
    fn mask(&mut self, from: usize, to: usize) {
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.text.len()));
        out.push_str(&self.text[self.copied..from]);
        out.push_str(REDACTED);
        self.copied = to;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.text),
            Some(mut out) => {
                out.push_str(&self.text[self.copied..]);
                Cow::Owned(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Pieces of text that steer the scanner into every rule, and characters of every width.
    const PIECES: &[&str] = &[
        "key",
        "=",
        ":",
        "\"",
        " ",
        "\\",
        "://",
        "@",
        "/",
        "&",
        "Bearer ",
        "Basic ",
        "Cookie",
        "sk-",
        "0123456789abcdef",
        "\n",
        "\r",
        "é",
        "日本",
        "🦀",
        "x",
    ];

    proptest! {
        #[test]
        fn any_text_is_scrubbed_without_panic_and_a_query_token_never_survives(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..40),
            noise in any::<String>(),
            at in any::<usize>(),
        ) {
            let text = pieces.concat() + &noise;
            let _ = scrub_secrets(&text);
            let mut cut = at % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let planted = format!("{} ?token=S3CR3T-VALUE&x {}", &text[..cut], &text[cut..]);
            prop_assert!(!scrub_secrets(&planted).contains("S3CR3T"));
        }
    }

    #[test]
    fn key_formats_are_masked_wherever_they_stand() {
        for key in [
            "sk-proj-AbCdEfGhIjKlMnOpQrStUv",
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrSt",
            "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            "AIzaSyAbCdEfGhIjKlMnOpQrStUvWxYz",
            "AKIAIOSFODNN7EXAMPLE",
        ] {
            let text = format!("Incorrect API key provided: {key}. See docs");
            assert_eq!(
                scrub_secrets(&text),
                "Incorrect API key provided: [redacted]. See docs"
            );
        }
        // Words that merely start like a key are left alone.
        assert_eq!(
            scrub_secrets("task-runner sk-short"),
            "task-runner sk-short"
        );
    }

    #[test]
    fn query_string_tokens_and_form_values_are_masked() {
        let url = "https://h/v1?key=AIzaXYZ&alt=sse&access_token=t0k#x&X-Amz-Signature=abc";
        assert_eq!(
            scrub_secrets(url),
            "https://h/v1?key=[redacted]&alt=sse&access_token=[redacted]#x&X-Amz-Signature=[redacted]"
        );
        assert_eq!(
            scrub_secrets("api_key_env=OPENAI_API_KEY"),
            "api_key_env=OPENAI_API_KEY"
        );
        assert_eq!(
            scrub_secrets("to https://bob:pa:ss@h:8443/v1 and http://h:80/x@y"),
            "to https://bob:[redacted]@h:8443/v1 and http://h:80/x@y"
        );
        assert_eq!(
            scrub_secrets("client_secret=s3cr3t sig=ab;"),
            "client_secret=[redacted] sig=[redacted];"
        );
    }

    #[test]
    fn secret_headers_and_cookies_are_masked_to_the_end_of_the_line() {
        let text = "Cookie: session=abc; theme=dark\nSet-Cookie: id=42; Path=/; HttpOnly\r\nX-Team: search\nauthorization: Basic dXNlcjpwYXNz";
        assert_eq!(
            scrub_secrets(text),
            "Cookie: [redacted]\nSet-Cookie: [redacted]\r\nX-Team: search\nauthorization: [redacted]"
        );
        assert_eq!(
            scrub_secrets("sent Bearer abcdefgh.ijk-lmn== to it; a Bearer token is required"),
            "sent Bearer [redacted] to it; a Bearer token is required"
        );
    }

    #[test]
    fn json_members_named_like_secrets_are_masked() {
        let json = r#"{"api_key": "abc\"def", "type": "invalid_api_key", "Cookie":"a=b"}"#;
        assert_eq!(
            scrub_secrets(json),
            r#"{"api_key": "[redacted]", "type": "invalid_api_key", "Cookie":"[redacted]"}"#
        );
    }

    #[test]
    fn text_without_secrets_is_borrowed_unchanged() {
        let text = "invalid_request_error: max_tokens is too large: 9000 > 8192; café";
        assert!(matches!(scrub_secrets(text), Cow::Borrowed(t) if t == text));
        assert_eq!(scrub_secrets("ñ key=é"), "ñ key=[redacted]");
    }
}
