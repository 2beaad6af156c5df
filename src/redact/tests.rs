use super::*;

fn all() -> RedactPolicy {
    RedactPolicy::all_detectors()
}

fn masked(text: &str) -> String {
    all().redact_text(text).0.into_owned()
}

#[test]
fn each_detector_masks_its_kind_with_its_marker() {
    let cases = [
        (
            "key sk-proj-abcdefghijklmnop1234 here",
            "key [REDACTED:api_key] here",
        ),
        (
            "Authorization: Bearer abc.def-ghi_jkl",
            "Authorization: [REDACTED:api_key]",
        ),
        ("aws AKIAABCDEFGHIJKLMNOP", "aws [REDACTED:api_key]"),
        (
            "write to ana.b+x@mail.example.org.",
            "write to [REDACTED:email].",
        ),
        ("call +33 6 12 34 56 78 now", "call [REDACTED:phone] now"),
        ("call (555) 123-4567", "call [REDACTED:phone]"),
        ("card 4111 1111 1111 1111 ok", "card [REDACTED:card] ok"),
        ("from 192.168.1.20:80", "from [REDACTED:ip]:80"),
        ("from 2001:db8::8a2e:370:7334 ok", "from [REDACTED:ip] ok"),
        ("loopback ::1", "loopback [REDACTED:ip]"),
    ];
    for (text, expected) in cases {
        assert_eq!(masked(text), expected, "for {text:?}");
    }
}

#[test]
fn credential_words_are_found_in_any_case() {
    let cases = [
        ("AUTHORIZATION: abcdefgh1234", "[REDACTED:api_key]"),
        ("say bEaReR abc.def-ghi_jkl", "say [REDACTED:api_key]"),
        ("bAſIC dXNlcjpwYXNz", "[REDACTED:api_key]"),
        ("X-Api-Key=abcdefgh1234 x", "[REDACTED:api_key] x"),
        ("Api_\u{212a}ey: 'abcdefgh1234'", "[REDACTED:api_key]'"),
        (
            "base api auth sk-abcdefghijklmnop",
            "base api auth [REDACTED:api_key]",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(masked(text), expected, "for {text:?}");
    }
}

/// An e-mail address ending right before an IPv4 address hides it from the `ip` pattern (no
/// word boundary); once the address is masked, the IPv4 address stands alone and is masked
/// too: with a time beside it that the pattern finds and the detector refuses, and without.
#[test]
fn an_address_uncovered_by_an_earlier_mask_is_masked() {
    assert_eq!(
        masked("from x@y.ca1.2.3.4 at 12:30:45"),
        "from [REDACTED:email][REDACTED:ip] at 12:30:45"
    );
    assert_eq!(
        masked("from x@y.ca1.2.3.4 ok"),
        "from [REDACTED:email][REDACTED:ip] ok"
    );
}

#[test]
fn look_alikes_are_left_alone() {
    for text in [
        "order 1234567890123 shipped", // fails the Luhn check
        "use std::fmt::Debug; a::b",   // Rust paths are not IPv6
        "at 12:30:45 on 2025-11-08",   // times and dates
        "the Bearer token is expired", // a word after Bearer, too short
        "version 1.2.3 and sk-short",
    ] {
        assert_eq!(masked(text), text);
    }
}

#[test]
fn rules_replace_and_count() {
    let policy = RedactPolicy::builder()
        .rule(Rule::new("ticket", r"TICKET-(\d+)", Some("TICKET-#")).unwrap())
        .rule(Rule::new("name", r"Alice", None).unwrap())
        .build()
        .unwrap();
    let (text, count) = policy.redact_text("Alice opened TICKET-42 and TICKET-7");
    assert_eq!(text, "[REDACTED:name] opened TICKET-# and TICKET-#");
    assert_eq!(count, 3);
}

#[test]
fn a_bad_rule_pattern_is_named() {
    let error = Rule::new("broken", "(unclosed", None).unwrap_err();
    assert_eq!(error.rule, "broken");
    assert!(error.to_string().contains("(unclosed"), "{error}");
}

/// The plain path the finders replace: every detector's regex over the whole text, each one
/// that matched `text` replacing on what the previous ones left (the code before issue 14's
/// budget work).
fn plain(text: &str) -> (String, u32) {
    static REGEXES: std::sync::LazyLock<Vec<(Detector, regex::Regex)>> =
        std::sync::LazyLock::new(|| {
            (Detector::ALL.iter())
                .map(|d| (*d, regex::Regex::new(&d.pattern()).unwrap()))
                .collect()
        });
    let regexes = &*REGEXES;
    let mut current = text.to_owned();
    let mut count = 0;
    for (detector, regex) in regexes {
        let mut found = 0;
        let replaced = regex.replace_all(&current, |caps: &regex::Captures<'_>| {
            let whole = caps.get(0).unwrap();
            if detector.accepts(&current, whole.start(), whole.end()) {
                found += 1;
                super::marker(detector.name())
            } else {
                whole.as_str().to_owned()
            }
        });
        let replaced = replaced.into_owned();
        if found > 0 {
            current = replaced;
            count += found;
        }
    }
    (current, count)
}

/// Pieces of text near what the detectors look for, and the Unicode letters their
/// case-insensitive parts also match (`ſ` for `s`, the Kelvin sign for `k`).
const PIECES: &[&str] = &[
    "sk-",
    "sk-ant-",
    "SK_",
    "ghp_",
    "AIza",
    "akia",
    "xoxb-",
    "hf_",
    "Bearer ",
    "basic ",
    "baſic ",
    "BAſIC ",
    "bEaReR ",
    "api_Key=",
    "API-KEY:",
    "api_\u{212a}ey=",
    "x-api-key: ",
    "X-Api-Key=",
    "Authorization: ",
    "AUTHORIZATION=",
    "ſ",
    "\u{212a}",
    "bas",
    "Aut",
    "aPi",
    "x-A",
    "4111111111111111",
    "4222222222222",
    "+1234",
    "abcdefghijklmnop1234",
    "Zz9_-",
    "4111 1111 1111 1111",
    "1234567890123",
    "5500-0000-0000-0004",
    "192.168.1.20",
    "255.",
    "2001:db8::8a2e:370:7334",
    "2001:db8:0:0:8a2e:370:7334:1",
    "x@y.ca",
    "::1",
    "::",
    "12:30:45",
    "a::b",
    "fe80:",
    "+33 6 12 34 56 78",
    "(555) 123-4567",
    "555-123-4567",
    "+1",
    "ana.b@mail.example.org",
    "@",
    "x@y.io",
    ".",
    ":",
    "-",
    " ",
    "\t",
    "(",
    ")",
    "+",
    "_",
    "'",
    "\"",
    "=",
    "a",
    "F",
    "z",
    "é",
    "İ",
    "ı",
    "0",
    "1",
    "7",
    "9",
    "\n",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    /// The finders find exactly what the plain regexes find, on text made of pieces near the
    /// patterns and on arbitrary text.
    #[test]
    fn the_fast_path_agrees_with_the_plain_regexes(
        pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
        noise in proptest::prelude::any::<String>(),
    ) {
        static POLICY: std::sync::LazyLock<RedactPolicy> = std::sync::LazyLock::new(all);
        let policy = &*POLICY;
        for text in [pieces.concat(), noise.clone(), format!("{}{noise}", pieces.concat())] {
            let (fast, fast_count) = policy.redact_text(&text);
            let (expected, count) = plain(&text);
            proptest::prop_assert_eq!(fast.as_ref(), expected.as_str(), "for {:?}", text);
            proptest::prop_assert_eq!(fast_count, count);
        }
    }
}
