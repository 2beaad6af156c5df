//! [`Finder`]: a detector's matches, found without running its regex over the whole text.
//!
//! A regex scan costs about 2 µs per KiB per detector, so running every detector's regex on
//! every string missed the issue 14 budget (3 µs per 1 KiB trace). Most text holds nothing a
//! detector could match, and that can be told from its bytes cheaply:
//!
//! - `api_key`: every match starts with one of a few literal prefixes (`sk-`, `ghp_`), or a
//!   case variant of the first three letters of `Bearer`, `Basic`, `Authorization`,
//!   `X-API-Key` or `API_Key`: 55 case-sensitive strings, few enough for one SIMD (Teddy)
//!   scan. At each such start an anchored regex says whether a match starts there, without
//!   scanning on through the rest of the text.
//! - `email`, `card`, `phone`, `ip`: every match lies inside a *run* of bytes of a small ASCII
//!   class (`card`: digits, spaces, dashes) and holds a *trigger* (`email`: `@`; `ip`: `.` or
//!   `:`; `card`, `phone`: a digit). The finder jumps from trigger to trigger (`memchr`, or
//!   eight bytes at a time for digits), widens each to its run, skips runs that cannot hold
//!   a match (a card needs 13 digits) or a match the detector accepts (`12:30:45` is no IPv6
//!   address; a 13-digit order number fails the Luhn check), and runs the regex on the rest.
//!
//! [`Finder::find`] gives the matches of `regex.find_iter(text)` that the detector accepts:
//! a match cannot cross a byte outside the class, so it lies in one run; the regex sees the
//! run with one character of context on each side (`find_at` keeps what precedes the run,
//! the slice keeps the next character), which is all the ASCII word boundaries (`(?-u:\b)`)
//! of the patterns look at. A property test checks this against the plain regex on
//! arbitrary text.

use std::ops::Range;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use regex::Regex;

use super::Detector;
use super::detectors::luhn;
use crate::scrub::KEY_PREFIXES;

/// Finds one detector's matches.
#[derive(Debug, Clone)]
pub(crate) struct Finder {
    detector: Detector,
    /// The detector's regex; for [`By::Starts`], anchored at its start (`^`), so that it says
    /// whether a match starts at a given place without searching on.
    regex: Regex,
    by: By,
}

#[derive(Debug, Clone)]
enum By {
    /// The strings every match starts with.
    Starts(AhoCorasick),
    /// The runs every match lies in.
    Runs(Shape),
}

/// Where a detector's matches can be: inside a run of `class` bytes holding a `trigger`, at
/// least `min_len` long and passing `possible`, starting at most `back` bytes before the run's
/// first trigger; those it can accept, in a run passing `acceptable` too.
#[derive(Debug, Clone)]
struct Shape {
    /// Whether each byte is in the class: one load per byte, where calling a `fn` pointer cost
    /// a call per byte.
    class: Box<[bool; 256]>,
    trigger: Trigger,
    /// Widening a trigger to the start of its run costs a mispredicted branch at least; a
    /// digit-triggered detector need not (the run holds no digit before its first one).
    back: usize,
    /// Checked before `possible`, which would cost a call: most runs in prose are short
    /// (`7`, `12:30`, `end.`).
    min_len: usize,
    possible: fn(&[u8]) -> bool,
    acceptable: fn(&[u8]) -> bool,
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
            Trigger::Digit => next_digit(rest),
        };
        found.map(|i| from + i)
    }
}

/// The index of the first ASCII digit in `bytes`, read eight bytes at a time (SWAR): a
/// byte-at-a-time walk cost about 1 ns per byte, and prose holds few digits.
fn next_digit(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    let mut chunks = bytes.chunks_exact(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        // `b ^ b'0'` is below 10 exactly for a digit. A lane below 10 sets its high bit in
        // `(x - 10) & !x`; the borrow it causes may set later lanes too, so only the lowest
        // set lane (the first byte, read little-endian) is exact, which is the one wanted.
        let x = u64::from_le_bytes(chunk.try_into().expect("chunks of 8")) ^ (ONES * 0x30);
        let below_ten = x.wrapping_sub(ONES * 10) & !x & (ONES * 0x80);
        if below_ten != 0 {
            return Some(i * 8 + below_ten.trailing_zeros() as usize / 8);
        }
    }
    let tail = chunks.remainder();
    let at = bytes.len() - tail.len();
    tail.iter().position(u8::is_ascii_digit).map(|i| at + i)
}

/// The table of the bytes `is_in` accepts.
fn table(is_in: impl Fn(u8) -> bool) -> Box<[bool; 256]> {
    let mut table = Box::new([false; 256]);
    for b in 0..=u8::MAX {
        table[usize::from(b)] = is_in(b);
    }
    table
}

/// The words the `api_key` pattern matches case-insensitively (`(?i:...)`), besides the key
/// formats' [`KEY_PREFIXES`], which it matches as written.
const CREDENTIAL_WORDS: &[&str] = &[
    "bearer",
    "basic",
    "authorization",
    "x-api-key",
    "api_key",
    "api-key",
];

/// How many leading characters of each [`CREDENTIAL_WORDS`] entry are spelt out in every case:
/// three keep the strings specific enough for prose to yield few false starts, and few enough
/// (40) for the SIMD scan's limit of 64 strings with the key prefixes.
const CASED_LEN: usize = 3;

/// The characters `(?i:c)` matches, for an ASCII `c` of the first [`CASED_LEN`] of a
/// credential word. The pattern's `(?i:...)` is Unicode-aware: `s` also matches `ſ` (U+017F),
/// and `k` the Kelvin sign (U+212A), which is why no word is spelt out as far as its `k`.
fn case_variants(c: char) -> Vec<char> {
    let mut variants = vec![c.to_ascii_lowercase(), c.to_ascii_uppercase()];
    if c == 's' {
        variants.push('\u{17f}');
    }
    variants.dedup();
    variants
}

/// Every string an `api_key` match starts with: the key prefixes, and every case variant of
/// the first [`CASED_LEN`] characters of each credential word.
fn key_starts() -> Vec<String> {
    let mut starts: Vec<String> = KEY_PREFIXES.iter().map(|p| p.to_string()).collect();
    for word in CREDENTIAL_WORDS {
        let mut spellings = vec![String::new()];
        for c in word.chars().take(CASED_LEN) {
            spellings = (spellings.iter())
                .flat_map(|s| case_variants(c).into_iter().map(move |v| format!("{s}{v}")))
                .collect();
        }
        for spelling in spellings {
            if !starts.contains(&spelling) {
                starts.push(spelling); // `api_key` and `api-key` share theirs
            }
        }
    }
    starts
}

fn digits(run: &[u8]) -> usize {
    run.iter().filter(|b| b.is_ascii_digit()).count()
}

fn count(run: &[u8], byte: u8) -> usize {
    run.iter().filter(|&&b| b == byte).count()
}

impl Finder {
    /// The finder of `detector`.
    pub(crate) fn new(detector: Detector) -> Self {
        let pattern = match detector {
            // The pattern has no look-behind at its start (no `\b`), so matching it on the
            // text from a start on finds the match the whole text has there.
            Detector::ApiKey => format!("^(?:{})", detector.pattern()).into(),
            _ => detector.pattern(),
        };
        let regex = Regex::new(&pattern).expect("the built-in patterns compile");
        let shape = |class: fn(u8) -> bool, trigger, back, min_len, possible| {
            By::Runs(Shape {
                class: table(class),
                trigger,
                back,
                min_len,
                possible,
                acceptable: |_| true,
            })
        };
        let by = match detector {
            Detector::ApiKey => By::Starts(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(key_starts())
                    .expect("the key prefixes compile"),
            ),
            Detector::Email => shape(
                |b| b.is_ascii_alphanumeric() || b"._%+-@".contains(&b),
                Trigger::Byte(b'@'),
                usize::MAX,
                "a@b.cd".len(),
                |_| true,
            ),
            // 13 to 19 digits, the first one first. A number written without spaces or dashes
            // (an order number, a timestamp in ms) can only match whole, so its Luhn check
            // tells without the regex whether a card can be accepted in it.
            Detector::Card => By::Runs(Shape {
                class: table(|b| b.is_ascii_digit() || b == b' ' || b == b'-'),
                trigger: Trigger::Digit,
                back: 0,
                min_len: 13,
                possible: |run| digits(run) >= 13,
                acceptable: |run| {
                    let last = run.iter().rposition(u8::is_ascii_digit).unwrap_or(0);
                    let number = &run[..=last];
                    !number.iter().all(u8::is_ascii_digit) || luhn(number)
                },
            }),
            // `+` and a number, or 10 digits in groups, two of which a ` `, `.` or `-` parts:
            // a long number alone (an order number) is not run through the regex. The first
            // digit, or the `(` or `+` just before it, starts it.
            Detector::Phone => shape(
                |b| b.is_ascii_digit() || b" .-()+".contains(&b),
                Trigger::Digit,
                1,
                "+1234".len(),
                |run| {
                    let plus = |w: &[u8]| w[0] == b'+' && matches!(w[1], b'1'..=b'9');
                    let apart = |w: &[u8]| {
                        w[0].is_ascii_digit() && b" .-".contains(&w[1]) && w[2].is_ascii_digit()
                    };
                    run.windows(2).any(plus) || (digits(run) >= 10 && run.windows(3).any(apart))
                },
            ),
            // IPv4 has three dots, IPv6 two colons at least, and an IPv6 address is accepted
            // with a `::` or a group of three digits: times (`12:30:45`) need no regex.
            Detector::Ip => By::Runs(Shape {
                class: table(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':'),
                trigger: Trigger::TwoBytes(b'.', b':'),
                back: usize::MAX,
                min_len: "::".len(),
                possible: |run| count(run, b'.') >= 3 || count(run, b':') >= 2,
                acceptable: |run| {
                    let group = |w: &[u8]| w.iter().all(u8::is_ascii_hexdigit);
                    count(run, b'.') >= 3
                        || (count(run, b':') >= 2
                            && (run.windows(2).any(|w| w == b"::") || run.windows(3).any(group)))
                },
            }),
        };
        Self {
            detector,
            regex,
            by,
        }
    }

    /// The ranges `self.regex.find_iter(text)` gives that the detector
    /// [accepts](Detector::accepts), in order; no allocation when none.
    pub(crate) fn find(&self, text: &str) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        let mut keep = |m: Range<usize>| {
            if self.detector.accepts(text, m.start, m.end) {
                found.push(m);
            }
        };
        match &self.by {
            By::Starts(starts) => {
                // Every match begins at a start, so the first start (in order) where the
                // anchored regex matches is where the leftmost match begins, and the anchored
                // match there is the one leftmost-first `find_iter` gives.
                let mut from = 0;
                while let Some(hit) = starts.find(Input::new(text).span(from..text.len())) {
                    let at = hit.start();
                    match self.regex.find(&text[at..]) {
                        Some(m) => {
                            keep(at..at + m.end());
                            from = at + m.end();
                        }
                        None => from = at + 1,
                    }
                }
            }
            By::Runs(shape) => {
                let bytes = text.as_bytes();
                let mut from = 0;
                let inside = |b: &&u8| shape.class[usize::from(**b)];
                while let Some(at) = shape.trigger.next(bytes, from) {
                    let before = &bytes[at.saturating_sub(shape.back)..at];
                    let start = at - before.iter().rev().take_while(inside).count();
                    let end = at + bytes[at..].iter().take_while(inside).count();
                    let run = &bytes[start..end];
                    if run.len() >= shape.min_len
                        && (shape.possible)(run)
                        && (shape.acceptable)(run)
                    {
                        // The run's bytes are ASCII, so `start` and `end` are char boundaries.
                        let next = text[end..].chars().next().map_or(0, char::len_utf8);
                        let haystack = &text[..end + next];
                        let mut search = start;
                        while let Some(m) = self.regex.find_at(haystack, search) {
                            if m.is_empty() {
                                break; // no built-in pattern matches empty text
                            }
                            search = m.end();
                            keep(m.range());
                        }
                    }
                    from = end;
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spelt-out starts rest on `case_variants` being exactly what the regex crate's
    /// `(?i:...)` matches; checked over every `char`.
    #[test]
    fn case_variants_are_what_the_pattern_matches() {
        let every_char: String = (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .collect();
        let mut letters: Vec<char> = (CREDENTIAL_WORDS.iter())
            .flat_map(|w| w.chars().take(CASED_LEN))
            .collect();
        letters.sort_unstable();
        letters.dedup();
        for c in letters {
            let regex = Regex::new(&format!("(?i:{})", regex::escape(&c.to_string()))).unwrap();
            let mut matched: Vec<char> = (regex.find_iter(&every_char))
                .flat_map(|m| m.as_str().chars())
                .collect();
            let mut expected = case_variants(c);
            matched.sort_unstable();
            expected.sort_unstable();
            assert_eq!(matched, expected, "for {c:?}");
        }
    }

    /// Over 64 strings, the scan for key starts loses its SIMD search (Teddy) and runs at
    /// several times the cost.
    #[test]
    fn next_digit_finds_the_first_digit_in_any_lane() {
        // Every position in and after the 8-byte words, after every byte value that is not a
        // digit, and digits after it that the word's borrow could wrongly flag first.
        for len in 0..20 {
            for at in 0..=len {
                for filler in (0..=u8::MAX).filter(|b| !b.is_ascii_digit()) {
                    let mut bytes = vec![filler; len];
                    if at < len {
                        bytes[at] = b'0' + (at % 10) as u8;
                        bytes[at..]
                            .iter_mut()
                            .skip(1)
                            .step_by(2)
                            .for_each(|b| *b = b'9');
                    }
                    let expected = bytes.iter().position(u8::is_ascii_digit);
                    assert_eq!(next_digit(&bytes), expected, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn key_starts_fit_the_simd_scan() {
        let starts = key_starts();
        assert!(starts.len() <= 64, "{} starts", starts.len());
        assert!(starts.iter().any(|s| s == "Ba\u{17f}"));
        assert!(starts.iter().any(|s| s == "AuT"));
    }
}
