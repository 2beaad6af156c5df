//! [`SamplePolicy`]: which finished records an exporter sends, decided on the whole record.

use crate::TraceRecord;

/// Which records an exporter keeps: every failed call, every call slower than a threshold,
/// and a fraction of the rest, chosen per session.
///
/// The decision is made on the finished record, so it can look at the outcome and the
/// duration. The fraction is chosen by a hash of the session id (of the trace id outside a
/// session): a kept session keeps all its steps, and every process makes the same choice.
/// Records left out are counted in [`ExporterStats::sampled_out`](super::ExporterStats).
///
/// ```
/// use llmtrace::sink::SamplePolicy;
///
/// // 5 % of the ordinary calls, plus every failure and every call over 2 s.
/// let policy = SamplePolicy::ratio(0.05).slow_ms(2000.0);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplePolicy {
    ratio: f64,
    keep_errors: bool,
    slow_ms: Option<f64>,
}

impl SamplePolicy {
    /// Keeps `ratio` (0 to 1, clamped) of the records, and every failed call.
    pub fn ratio(ratio: f64) -> Self {
        Self {
            ratio: if ratio.is_nan() {
                0.0
            } else {
                ratio.clamp(0.0, 1.0)
            },
            keep_errors: true,
            slow_ms: None,
        }
    }

    /// Whether every failed call is kept, whatever the ratio. Defaults to `true`.
    pub fn keep_errors(mut self, keep: bool) -> Self {
        self.keep_errors = keep;
        self
    }

    /// Also keeps every call that took at least `ms` milliseconds.
    pub fn slow_ms(mut self, ms: f64) -> Self {
        self.slow_ms = Some(ms);
        self
    }

    /// The fraction of ordinary records kept.
    pub fn kept_ratio(&self) -> f64 {
        self.ratio
    }

    /// Whether `record` is kept.
    pub fn keeps(&self, record: &TraceRecord) -> bool {
        if self.keep_errors && record.is_error() {
            return true;
        }
        if self
            .slow_ms
            .is_some_and(|slow| record.duration_ms() >= slow)
        {
            return true;
        }
        let hash = match record.session_id() {
            Some(session) => hash(session.as_bytes()),
            None => hash(record.trace_id.as_bytes()),
        };
        // The top 53 bits as a fraction in [0, 1): exact in an f64.
        ((hash >> 11) as f64 / (1u64 << 53) as f64) < self.ratio
    }
}

/// FNV-1a, then a SplitMix64 finalizer so that the top bits are well mixed even for short,
/// similar ids. Stable across processes and Rust versions, unlike `DefaultHasher`.
fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_holds_over_many_sessions() {
        let policy = SamplePolicy::ratio(0.05);
        let kept = (0..20_000)
            .filter(|i| {
                let h = hash(format!("session-{i}").as_bytes());
                ((h >> 11) as f64 / (1u64 << 53) as f64) < policy.ratio
            })
            .count();
        assert!((800..1200).contains(&kept), "kept {kept} of 20000 at 5 %");
    }
}
