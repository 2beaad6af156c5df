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
