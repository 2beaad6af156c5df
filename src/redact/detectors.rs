//! The built-in detectors: what each one finds, and the checks a pattern alone cannot make.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::scrub::KEY_PREFIXES;

/// A built-in kind of sensitive text, enabled by its [`name`](Self::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Detector {
    /// API keys in common provider formats (`sk-...`, `sk-ant-...`, `ghp_...`, `AKIA...`,
    /// `AIza...`, `hf_...`, `xoxb-...`, `glpat-...`), `Bearer`/`Basic` credentials and
    /// `Authorization` values. Name: `api_key`.
    ApiKey,
    /// E-mail addresses. Name: `email`.
    Email,
    /// Phone numbers written with a country code (`+33 6 12 34 56 78`) or in groups
    /// (`(555) 123-4567`, `555-123-4567`). Name: `phone`.
    Phone,
    /// Payment card numbers (13 to 19 digits, spaces or dashes allowed) that pass the Luhn
    /// check, so that order and tracking numbers are left alone. Name: `card`.
    Card,
    /// IPv4 and IPv6 addresses. Name: `ip`.
    Ip,
}

impl Detector {
    /// Every detector, in the order a policy applies them: the most specific first, so that a
    /// card number is not half-taken for a phone number.
    pub const ALL: [Detector; 5] = [
        Detector::ApiKey,
        Detector::Email,
        Detector::Card,
        Detector::Ip,
        Detector::Phone,
    ];

    /// The name that enables it in a configuration file, also written in its marker
    /// (`[REDACTED:email]`).
    pub fn name(self) -> &'static str {
        match self {
            Detector::ApiKey => "api_key",
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::Card => "card",
            Detector::Ip => "ip",
        }
    }

    /// The regular expression that finds candidates; [`accepts`](Self::accepts) has the last
    /// word. ASCII word boundaries (`(?-u:\b)`) keep the scan on the fast automaton.
    pub(crate) fn pattern(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Detector::ApiKey => {
                let prefixes: Vec<String> = KEY_PREFIXES.iter().map(|p| regex::escape(p)).collect();
                return Cow::Owned(format!(
                    "{}{}{}",
                    format_args!(r"(?:{})[A-Za-z0-9_\-]{{16,}}", prefixes.join("|")),
                    r"|(?i:bearer|basic)[ \t]+[A-Za-z0-9._~+/\-]{8,}=*",
                    r#"|(?i:authorization|x-api-key|api[_-]key)["']?[ \t]*[:=][ \t]*["']?[^\s"',}]{8,}"#,
                ));
            }
            Detector::Email => {
                r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
            }
            Detector::Phone => concat!(
                r"\+[1-9][0-9]{0,2}(?:[ .\-]?\(?[0-9]{1,4}\)?){2,5}[0-9]",
                r"|(?:\([0-9]{3}\)[ .\-]?|(?-u:\b)[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}(?-u:\b)",
            ),
            Detector::Card => r"(?-u:\b)[0-9](?:[ \-]?[0-9]){12,18}(?-u:\b)",
            Detector::Ip => concat!(
                r"(?-u:\b)(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?-u:\b)",
                r"|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]*:[0-9A-Fa-f]{0,4}",
            ),
        })
    }

    /// Whether the candidate `found` at `start..end` of `text` is really one: a card number
    /// must pass the Luhn check, an IPv6 candidate must parse, stand alone (not the `e::f` of
    /// `crate::fmt`) and look like an address (a group of 3+ digits, or a leading `::`), so
    /// that `a::b` in prose stays.
    pub(crate) fn accepts(self, text: &str, start: usize, end: usize) -> bool {
        let found = &text[start..end];
        match self {
            Detector::Card => luhn(found.as_bytes()),
            Detector::Ip if found.contains(':') => {
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(text[..start].chars().next_back())
                    && !word(text[end..].chars().next())
                    && (found.starts_with("::") || found.split(':').any(|g| g.len() >= 3))
                    && found.parse::<std::net::Ipv6Addr>().is_ok()
            }
            _ => true,
        }
    }
}

/// The Luhn checksum of the digits in `text` (spaces and dashes ignored) is valid.
pub(crate) fn luhn(text: &[u8]) -> bool {
    let digits = (text.iter())
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'));
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| match (i % 2, d * 2) {
            (0, _) => d,
            (_, doubled) if doubled > 9 => doubled - 9,
            (_, doubled) => doubled,
        })
        .sum();
    sum.is_multiple_of(10)
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A detector name that is not one of [`Detector::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown detector {name:?}; expected one of api_key, email, phone, card, ip")]
pub struct UnknownDetector {
    /// The name given.
    pub name: String,
}

impl FromStr for Detector {
    type Err = UnknownDetector;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Detector::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| UnknownDetector {
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_order_numbers() {
        assert!(luhn(b"4111 1111 1111 1111"));
        assert!(luhn(b"5500-0000-0000-0004"));
        assert!(!luhn(b"4111 1111 1111 1112"));
        assert!(!luhn(b"1234567890123"));
    }

    #[test]
    fn names_round_trip() {
        for detector in Detector::ALL {
            assert_eq!(detector.name().parse::<Detector>(), Ok(detector));
        }
        assert!("mail".parse::<Detector>().is_err());
    }
}
