//! Property tests over arbitrary bytes for the stream decoders: no panic, the same frames
//! however the bytes are cut into reads, and every rejection a named error.
//!
//! `scripts/fuzz.sh` runs them with many more cases than the default 256.

use proptest::prelude::*;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::sse::{FrameError, SseCodec, SseEvent};
use super::stream::JsonLines;

/// Frames decoded from `input` fed in reads cut at `cuts`, up to the first error, which is
/// returned as its message.
fn decode<C>(mut codec: C, input: &[u8], cuts: &[usize]) -> (Vec<C::Item>, Option<String>)
where
    C: Decoder<Error = FrameError>,
{
    let mut cuts: Vec<usize> = cuts.iter().map(|&cut| cut % (input.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(input.len());
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut start = 0;
    for cut in cuts {
        buf.extend_from_slice(&input[start..cut]);
        start = cut;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(error) => return (frames, Some(error.to_string())),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, None),
            Err(error) => return (frames, Some(error.to_string())),
        }
    }
}

/// An error message names the line or the limit at fault.
fn is_named(message: &Option<String>) -> bool {
    message.as_deref().is_none_or(|m| m.contains("line"))
}

/// Events serialized with `ending` after every line, a comment before each.
fn serialize(events: &[(String, Vec<String>)], ending: &str) -> String {
    let mut text = String::new();
    for (name, lines) in events {
        text.push_str(&format!(":keep-alive{ending}"));
        if !name.is_empty() {
            text.push_str(&format!("event: {name}{ending}"));
        }
        for line in lines {
            text.push_str(&format!("data: {line}{ending}"));
        }
        text.push_str(ending);
    }
    text
}

proptest! {
    #[test]
    fn sse_any_bytes_decode_alike_however_cut(
        input in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        max in 1usize..512,
    ) {
        let whole = decode(SseCodec::new(max), &input, &[]);
        let pieces = decode(SseCodec::new(max), &input, &cuts);
        prop_assert!(is_named(&whole.1), "{:?}", whole.1);
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn sse_events_round_trip_with_any_line_ending(
        events in proptest::collection::vec(
            ("[a-z_]{0,8}", proptest::collection::vec("[^\r\n]{0,24}", 1..4)),
            0..8,
        ),
        ending in prop_oneof![Just("\n"), Just("\r"), Just("\r\n")],
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let text = serialize(&events, ending);
        let expected: Vec<SseEvent> = events
            .iter()
            .map(|(name, lines)| SseEvent {
                event: if name.is_empty() { "message".to_owned() } else { name.clone() },
                data: lines.join("\n"),
            })
            .collect();
        prop_assert_eq!(decode(SseCodec::new(1 << 20), text.as_bytes(), &cuts), (expected, None));
    }

    #[test]
    fn ndjson_any_bytes_decode_alike_however_cut(
        input in proptest::collection::vec(any::<u8>(), 0..2048),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = decode(JsonLines::new(), &input, &[]);
        let pieces = decode(JsonLines::new(), &input, &cuts);
        prop_assert!(is_named(&whole.1), "{:?}", whole.1);
        prop_assert_eq!(whole, pieces);
    }
}
