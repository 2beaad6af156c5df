//! [`Finder`]: a detector's matches, found without running its regex over the whole text.
//!
//! A regex scan costs about 2 µs per KiB per detector, so running every detector's regex on
//! every string missed the issue 14 budget (3 µs per 1 KiB trace). Most text holds nothing a
//! detector could match, and that can be told from its bytes cheaply:
//!
//! - `api_key`: every match starts with one of a few literal prefixes (`sk-`, `ghp_`,
//!   `Bearer`, `api_key`...), found with one Aho-Corasick (SIMD) scan; the regex starts at
//!   the first prefix and jumps to the next prefix after each match.
//! - `email`, `card`, `phone`, `ip`: every match lies inside a *run* of bytes of a small ASCII
//!   class (`card`: digits, spaces, dashes) and holds a *trigger* (`email`: `@`; `ip`: `.` or
//!   `:`; `card`, `phone`: a digit). The finder jumps from trigger to trigger (`memchr`),
//!   widens each to its run, skips runs that cannot hold a match (a card needs 13 digits),
//!   and runs the regex on that run alone.
//!
//! The matches are exactly those of `regex.find_iter(text)`: a match cannot cross a byte
//! outside the class, so it lies in one run; the regex sees the run with one character of
//! context on each side (`find_at` keeps what precedes the run, the slice keeps the next
//! character), which is all the ASCII word boundaries (`(?-u:\b)`) of the patterns look at.
//! A property test checks this against the plain regex on arbitrary text.

use std::ops::Range;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use regex::Regex;

use super::Detector;
use crate::scrub::KEY_PREFIXES;

/// Finds one detector's matches.
#[derive(Debug, Clone)]
pub(crate) struct Finder {
    regex: Regex,
    by: By,
}

#[derive(Debug, Clone)]
enum By {
    /// The literal prefixes every match starts with.
    Prefixes(AhoCorasick),
    /// The runs every match lies in.
    Runs(Shape),
}

/// Where a detector's matches can be: inside a run of `class` bytes holding a `trigger` and
/// passing `possible`.
#[derive(Debug, Clone, Copy)]
struct Shape {
    class: fn(u8) -> bool,
    trigger: Trigger,
    possible: fn(&[u8]) -> bool,
}

#[derive(Debug, Clone, Copy)]
enum Trigger {
    Byte(u8),
    TwoBytes(u8, u8),
    Digit,
}

impl Trigger {
    /// The first trigger at or after `from`.
    fn next(self, bytes: &[u8], from: usize) -> Option<usize> {
        let rest = &bytes[from..];
        let found = match self {
            Trigger::Byte(b) => memchr::memchr(b, rest),
            Trigger::TwoBytes(a, b) => memchr::memchr2(a, b, rest),
            Trigger::Digit => rest.iter().position(u8::is_ascii_digit),
        };
        found.map(|i| from + i)
    }
}

/// With the key formats' prefixes ([`KEY_PREFIXES`], matched case-insensitively here), the
/// start of every other alternative of the `api_key` pattern. The pattern's `(?i:...)` is
/// Unicode-aware, where `s` also matches `ſ` (U+017F) and `k` the Kelvin sign (U+212A): the
/// `api` prefixes stop before the `k`, and `basic` is listed with `ſ` too. `x-api-` is listed
/// for the leftmost match to start at its `x`.
const CREDENTIAL_STARTS: &[&str] = &[
    "bearer",
    "basic",
    "ba\u{17f}ic",
    "authorization",
    "x-api-",
    "api_",
    "api-",
];

fn digits(run: &[u8]) -> usize {
    run.iter().filter(|b| b.is_ascii_digit()).count()
}

fn count(run: &[u8], byte: u8) -> usize {
    run.iter().filter(|&&b| b == byte).count()
}

impl Finder {
    /// The finder of `detector`.
    pub(crate) fn new(detector: Detector) -> Self {
        let regex = Regex::new(&detector.pattern()).expect("the built-in patterns compile");
        let shape = |class, trigger, possible| {
            By::Runs(Shape {
                class,
                trigger,
                possible,
            })
        };
        let by = match detector {
            Detector::ApiKey => By::Prefixes(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(KEY_PREFIXES.iter().chain(CREDENTIAL_STARTS))
                    .expect("the key prefixes compile"),
            ),
            Detector::Email => shape(
                |b| b.is_ascii_alphanumeric() || b"._%+-@".contains(&b),
                Trigger::Byte(b'@'),
                |_| true,
            ),
            // 13 to 19 digits.
            Detector::Card => shape(
                |b| b.is_ascii_digit() || b == b' ' || b == b'-',
                Trigger::Digit,
                |run| digits(run) >= 13,
            ),
            // `+` and a number, or 10 digits in groups.
            Detector::Phone => shape(
                |b| b.is_ascii_digit() || b" .-()+".contains(&b),
                Trigger::Digit,
                |run| run.contains(&b'+') || digits(run) >= 10,
            ),
            // IPv4 has three dots, IPv6 two colons at least.
            Detector::Ip => shape(
                |b| b.is_ascii_hexdigit() || b == b'.' || b == b':',
                Trigger::TwoBytes(b'.', b':'),
                |run| count(run, b'.') >= 3 || count(run, b':') >= 2,
            ),
        };
        Self { regex, by }
    }

    /// The ranges `self.regex.find_iter(text)` gives, in order; no allocation when none.
    pub(crate) fn find(&self, text: &str) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        match &self.by {
            By::Prefixes(prefixes) => {
                let mut from = 0;
                while let Some(hit) = prefixes.find(Input::new(text).span(from..text.len())) {
                    // No match starts before the next prefix: searching from it finds the
                    // same next match as searching from `from`.
                    let Some(m) = self.regex.find_at(text, hit.start()) else {
                        break;
                    };
                    found.push(m.range());
                    from = m.end();
                }
            }
            By::Runs(shape) => {
                let bytes = text.as_bytes();
                let mut from = 0;
                while let Some(at) = shape.trigger.next(bytes, from) {
                    let outside = |b: &u8| !(shape.class)(*b);
                    let start = bytes[..at].iter().rposition(outside).map_or(0, |i| i + 1);
                    let end =
                        (bytes[at..].iter().position(outside)).map_or(bytes.len(), |i| at + i);
                    if (shape.possible)(&bytes[start..end]) {
                        // The run's bytes are ASCII, so `start` and `end` are char boundaries.
                        let next = text[end..].chars().next().map_or(0, char::len_utf8);
                        let haystack = &text[..end + next];
                        let mut search = start;
                        while let Some(m) = self.regex.find_at(haystack, search) {
                            if m.is_empty() {
                                break; // no built-in pattern matches empty text
                            }
                            found.push(m.range());
                            search = m.end();
                        }
                    }
                    from = end;
                }
            }
        }
        found
    }
}
