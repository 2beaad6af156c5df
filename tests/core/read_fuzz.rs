//! The trace-file reader on arbitrary and damaged input: it never panics, always ends, and
//! names every rejection with a line of the input. `PROPTEST_CASES=N` runs more cases.

use std::io::Cursor;

use llmtrace::TraceRecord;
use llmtrace::read::{ReadError, TraceFileReader};
use llmtrace::report::{ReportFormat, export_traces};
use proptest::prelude::*;

/// A record as our exporters write it, with text that exercises escapes and brackets.
fn record(i: usize) -> TraceRecord {
    serde_json::from_value(serde_json::json!({
        "trace_id": format!("00000000-0000-4000-8000-{i:012}"),
        "timestamp": "2025-11-08T12:34:56.789+00:00",
        "provider": "echo",
        "model": "m",
        "system_prompt": null,
        "prompt": format!("p{i} \"quoted\" [x] {{y}}, \\ \u{e9}"),
        "messages": [],
        "tools": [],
        "parameters": {},
        "response": null,
        "metadata": {"n": i},
    }))
    .unwrap()
}

/// Reads everything, checking what must hold for any input; returns records and errors.
fn read_checked(input: &[u8]) -> (Vec<TraceRecord>, Vec<ReadError>) {
    let lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut reader = TraceFileReader::new(Cursor::new(input)).with_path("f");
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    // Each item uses up at least one byte, so more items than bytes would mean a loop.
    for _ in 0..input.len() + 2 {
        match reader.next() {
            None => break,
            Some(Ok(record)) => records.push(record),
            Some(Err(error)) => {
                let line = error.line().expect("reading errors have a line");
                assert!(
                    (1..=lines).contains(&line),
                    "line {line} of {lines}: {error}"
                );
                assert!(
                    error.to_string().starts_with(&format!("f:{line}: ")),
                    "{error}"
                );
                let recoverable = error.is_recoverable();
                errors.push(error);
                if !recoverable {
                    assert!(reader.next().is_none(), "a fatal error ends the reading");
                    break;
                }
            }
        }
    }
    assert!(reader.next().is_none(), "the reader ends");
    (records, errors)
}

fn file_of(format: ReportFormat, count: usize) -> Vec<u8> {
    let records: Vec<TraceRecord> = (0..count).map(record).collect();
    export_traces(&records, format, None).unwrap().into_bytes()
}

/// One edit of a file: replace, insert or delete a byte at a position (taken modulo length).
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to the scanner come up often; any byte can.
    let byte = prop_oneof![
        proptest::sample::select(b"[]{},\"\\\n\r :0a".to_vec()),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

fn apply(file: &mut Vec<u8>, edits: &[Edit]) {
    for edit in edits {
        let len = file.len();
        match *edit {
            Edit::Replace(at, b) if len > 0 => file[at % len] = b,
            Edit::Insert(at, b) => file.insert(at % (len + 1), b),
            Edit::Delete(at) if len > 0 => {
                file.remove(at % len);
            }
            _ => {}
        }
    }
}

/// A line that is not a record: any bytes but a newline, not blank.
fn garbage_line() -> impl Strategy<Value = Vec<u8>> {
    let byte = any::<u8>().prop_map(|b| if b == b'\n' { b'x' } else { b });
    proptest::collection::vec(byte, 1..80).prop_map(|mut line| {
        if line.trim_ascii().is_empty() {
            line.push(b'x');
        }
        line
    })
}

/// 1000 cases per property, unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 1000;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_or_hang(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read_checked(&input);
    }

    #[test]
    fn damaged_files_never_panic_or_hang(
        json in any::<bool>(),
        count in 0usize..4,
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let format = if json { ReportFormat::Json } else { ReportFormat::Jsonl };
        let mut file = file_of(format, count);
        apply(&mut file, &edits);
        let (records, _) = read_checked(&file);
        prop_assert!(records.len() <= count + edits.len());
    }

    #[test]
    fn jsonl_keeps_every_good_line_and_names_every_bad_one(
        lines in proptest::collection::vec(proptest::option::of(garbage_line()), 1..20),
        crlf in any::<bool>(),
    ) {
        // The first line is a record, so that the file is JSONL whatever the garbage holds.
        let mut file = Vec::new();
        let (mut expected, mut bad_lines) = (vec![record(0)], Vec::new());
        file.extend_from_slice(serde_json::to_string(&expected[0]).unwrap().as_bytes());
        for (i, line) in lines.iter().enumerate() {
            file.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            match line {
                Some(garbage) => {
                    file.extend_from_slice(garbage);
                    bad_lines.push(i + 2);
                }
                None => {
                    let good = record(i + 1);
                    file.extend_from_slice(serde_json::to_string(&good).unwrap().as_bytes());
                    expected.push(good);
                }
            }
        }

        let (records, errors) = read_checked(&file);

        prop_assert_eq!(records, expected);
        prop_assert!(errors.iter().all(ReadError::is_recoverable), "{:?}", errors);
        let lines: Vec<usize> = errors.iter().filter_map(ReadError::line).collect();
        prop_assert_eq!(lines, bad_lines);
    }
}
