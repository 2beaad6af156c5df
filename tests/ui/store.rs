//! The exporter's file and the store's queries.

use std::time::Duration;

use chrono::Utc;
use llmtrace::exporter::{SqliteExporter, SqliteStore, StoreError, TraceFilter};

use crate::support::{Spec, export, record, store_with, workflow};

fn filter(f: impl FnOnce(&mut TraceFilter)) -> TraceFilter {
    let mut filter = TraceFilter::default();
    f(&mut filter);
    filter
}

fn ids(store: &SqliteStore, filter: &TraceFilter) -> Vec<String> {
    store
        .traces(filter)
        .unwrap()
        .traces
        .into_iter()
        .map(|t| t.trace_id)
        .collect()
}

#[test]
fn stored_traces_come_back_whole_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let store = store_with(dir.path(), &records);
    let page = store.traces(&TraceFilter::default()).unwrap();
    let expected: Vec<String> = records
        .iter()
        .rev()
        .map(|r| r.trace_id.to_string())
        .collect();
    assert_eq!(
        page.traces
            .iter()
            .map(|t| t.trace_id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(page.next, None);
    let first = &page.traces[4];
    assert_eq!(first.session_id.as_deref(), Some("s-1"));
    assert_eq!(first.step_type.as_deref(), Some("code_generation"));
    assert_eq!(first.attempt, Some(1));
    assert_eq!(
        (
            first.prompt_tokens,
            first.completion_tokens,
            first.total_tokens
        ),
        (Some(12), Some(30), Some(42))
    );
    assert_eq!(
        (first.latency_ms, first.ttft_ms, first.cost),
        (850.0, Some(120.0), Some(0.0125))
    );
    assert_eq!(page.traces[3].outcome, "timeout");
    for record in &records {
        let stored = store.trace(&record.trace_id.to_string()).unwrap();
        assert_eq!(stored.as_ref(), Some(record));
    }
    assert_eq!(store.trace("not-an-id").unwrap(), None);
}

#[test]
fn every_filter_selects_its_traces() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let store = store_with(dir.path(), &records);
    let id = |i: usize| records[i].trace_id.to_string();
    let cases = [
        (
            filter(|f| f.session = Some("s-1".into())),
            vec![id(2), id(1), id(0)],
        ),
        (
            filter(|f| f.model = Some("claude-sonnet".into())),
            vec![id(3)],
        ),
        (
            filter(|f| f.provider = Some("anthropic".into())),
            vec![id(3)],
        ),
        (filter(|f| f.outcome = Some("error".into())), vec![id(1)]),
        (filter(|f| f.outcome = Some("timeout".into())), vec![id(1)]),
        (filter(|f| f.outcome = Some("rate_limited".into())), vec![]),
        (
            filter(|f| f.outcome = Some("ok".into())),
            vec![id(4), id(3), id(2), id(0)],
        ),
        (filter(|f| f.meta = Some("user=bob".into())), vec![id(3)]),
        (
            filter(|f| f.meta = Some("attempt_number=3".into())),
            vec![id(2)],
        ),
        (
            filter(|f| f.from = Some("2025-11-09".into())),
            vec![id(4), id(3)],
        ),
        (
            filter(|f| f.to = Some("2025-11-08T10:00:05Z".into())),
            vec![id(0)],
        ),
        (filter(|f| f.q = Some("quarterly".into())), vec![id(3)]),
        // Answers are searched too, and every word must match.
        (filter(|f| f.q = Some("plt.hist".into())), vec![id(2)]),
        (filter(|f| f.q = Some("ages third".into())), vec![id(2)]),
        // The system prompt and history count as the prompt.
        (
            filter(|f| f.q = Some("terse".into())),
            vec![id(4), id(3), id(2), id(1), id(0)],
        ),
        // FTS syntax in user text is just text.
        (filter(|f| f.q = Some("\"quarterly AND (".into())), vec![]),
        (
            filter(|f| {
                f.session = Some("s-1".into());
                f.outcome = Some("ok".into());
                f.meta = Some("user=ann".into());
            }),
            vec![id(2), id(0)],
        ),
        // Empty form fields are no filter.
        (
            filter(|f| f.session = Some(" ".into())),
            (0..5).rev().map(id).collect(),
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(ids(&store, &filter), expected, "{filter:?}");
    }
}

#[test]
fn bad_filter_values_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &workflow());
    for (filter, key) in [
        (filter(|f| f.from = Some("yesterday".into())), "from"),
        (filter(|f| f.meta = Some("user".into())), "meta"),
        (filter(|f| f.cursor = Some("12".into())), "cursor"),
    ] {
        match store.traces(&filter) {
            Err(StoreError::BadFilter { key: found, .. }) => assert_eq!(found, key),
            other => panic!("{filter:?}: {other:?}"),
        }
    }
}

#[test]
fn pages_walk_every_trace_once_even_with_equal_times() {
    let dir = tempfile::tempdir().unwrap();
    // 7 traces at the same instant, 5 later ones: the cursor must break ties.
    let records: Vec<_> = (0..12)
        .map(|i| {
            record(&Spec {
                at: if i < 7 {
                    "2025-11-08T12:00:00Z"
                } else {
                    "2025-11-08T13:00:00Z"
                }
                .parse()
                .unwrap(),
                ..Spec::default()
            })
        })
        .collect();
    let store = store_with(dir.path(), &records);
    let mut seen = Vec::new();
    let mut page_filter = filter(|f| f.limit = Some(5));
    let mut pages = 0;
    loop {
        let page = store.traces(&page_filter).unwrap();
        pages += 1;
        seen.extend(page.traces.into_iter().map(|t| t.trace_id));
        match page.next {
            Some(next) => page_filter.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = records.iter().map(|r| r.trace_id.to_string()).collect();
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    expected.sort();
    assert_eq!(sorted_seen, expected, "every trace exactly once");
}

#[test]
fn sessions_read_in_order_and_summary_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let store = store_with(dir.path(), &records);
    let session = store.session("s-1").unwrap().unwrap();
    let steps: Vec<_> = session
        .traces
        .iter()
        .map(|t| {
            (
                t.step_type.clone().unwrap(),
                t.attempt.unwrap(),
                t.outcome.clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("code_generation".to_owned(), 1, "ok".to_owned()),
            ("code_generation".to_owned(), 2, "timeout".to_owned()),
            ("code_generation".to_owned(), 3, "ok".to_owned()),
        ]
    );
    assert_eq!(store.session("nobody").unwrap(), None);

    let summary = store.summary(&TraceFilter::default()).unwrap();
    assert_eq!(
        (summary.calls, summary.errors, summary.total_tokens),
        (5, 1, 4 * 42)
    );
    assert_eq!(summary.latency_p50_ms, Some(850.0));
    assert_eq!(
        summary
            .latency_histogram
            .iter()
            .map(|(_, n)| n)
            .sum::<u64>(),
        5
    );
    assert_eq!(summary.over_time.iter().map(|b| b.calls).sum::<u64>(), 5);
    let models: Vec<_> = summary
        .by_model
        .iter()
        .map(|g| (g.model.as_str(), g.calls))
        .collect();
    assert_eq!(models, [("gpt-4o", 4), ("claude-sonnet", 1)]);
    let versions: Vec<_> = summary
        .by_prompt
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_deref(),
                p.calls,
                p.errors,
                p.total_tokens,
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("plot", Some("1"), 2, 1, 42), ("plot", Some("2"), 1, 0, 42)]
    );
    let only_s2 = store
        .summary(&filter(|f| f.session = Some("s-2".into())))
        .unwrap();
    assert_eq!((only_s2.calls, only_s2.errors), (1, 0));
}

#[test]
fn reopening_keeps_traces_and_skips_ones_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/traces.db");
    let records = workflow();
    export(&path, SqliteExporter::new(&path), &records[..3]);
    // A second exporter on the same file: earlier rows stay, a repeated trace is not doubled.
    export(&path, SqliteExporter::new(&path), &records[2..]);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), 5);
    assert_eq!(
        ids(&store, &filter(|f| f.q = Some("third".into()))),
        [records[2].trace_id.to_string()]
    );
}

#[test]
fn a_file_from_a_newer_llmtrace_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    SqliteExporter::new(&path).open().unwrap();
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
    }
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(error, StoreError::NewerSchema { found: 99, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("traces.db"), "{error}");
    assert!(SqliteExporter::new(&path).open().is_err());
    let missing = SqliteStore::open(dir.path().join("none.db")).unwrap_err();
    assert!(matches!(missing, StoreError::Missing { .. }), "{missing:?}");
}

#[test]
fn max_rows_keeps_the_newest_traces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let start = Utc::now() - chrono::Duration::hours(1);
    let records: Vec<_> = (0..300)
        .map(|i| {
            record(&Spec {
                at: start + chrono::Duration::seconds(i),
                ..Spec::default()
            })
        })
        .collect();
    export(&path, SqliteExporter::new(&path).max_rows(100), &records);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), 100);
    let newest: Vec<String> = records[200..]
        .iter()
        .rev()
        .map(|r| r.trace_id.to_string())
        .collect();
    assert_eq!(ids(&store, &filter(|f| f.limit = Some(500))), newest);
    // Deleted traces leave the search index and the metadata filter too.
    assert_eq!(
        store
            .traces(&filter(|f| {
                f.q = Some("hello".into());
                f.limit = Some(500);
            }))
            .unwrap()
            .traces
            .len(),
        100
    );
    assert_eq!(
        store
            .summary(&filter(|f| f.meta = Some("user=ann".into())))
            .unwrap()
            .calls,
        100
    );
}

#[test]
fn max_rows_counts_the_traces_already_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let start = Utc::now() - chrono::Duration::hours(1);
    let records: Vec<_> = (0..5)
        .map(|i| {
            record(&Spec {
                at: start + chrono::Duration::seconds(i),
                ..Spec::default()
            })
        })
        .collect();
    export(&path, SqliteExporter::new(&path), &records[..3]);
    // Not opened before its first batch (as a worker opens it): the 3 stored traces count.
    export(&path, SqliteExporter::new(&path).max_rows(3), &records[3..]);
    let store = SqliteStore::open(&path).unwrap();
    let newest: Vec<String> = records[2..]
        .iter()
        .rev()
        .map(|r| r.trace_id.to_string())
        .collect();
    assert_eq!(ids(&store, &TraceFilter::default()), newest);
}

#[test]
fn max_age_deletes_old_traces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let now = Utc::now();
    let old = record(&Spec {
        at: now - chrono::Duration::days(3),
        ..Spec::default()
    });
    let recent = record(&Spec {
        at: now - chrono::Duration::minutes(5),
        ..Spec::default()
    });
    export(
        &path,
        SqliteExporter::new(&path).max_age(Duration::from_secs(86400)),
        &[old.clone(), recent.clone()],
    );
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        ids(&store, &TraceFilter::default()),
        [recent.trace_id.to_string()]
    );
    assert_eq!(store.trace(&old.trace_id.to_string()).unwrap(), None);
}

#[test]
fn config_builds_a_sqlite_exporter_and_names_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let toml = format!(
        "[exporters.local]\ntype = \"sqlite\"\npath = {:?}\nmax_rows = 1000\nmax_age = \"30d\"\nbatch_interval_ms = 10\n",
        path.to_str().unwrap()
    );
    let config = llmtrace::config::Config::from_toml_str(&toml).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = config.build().unwrap();
        client.generate("stored by config").await.unwrap();
        client.shutdown().await;
    });
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), 1);

    let bad = "[exporters.local]\ntype = \"sqlite\"\nmax_rows = 0\nmax_age = \"soon\"\n";
    let error = llmtrace::config::Config::from_toml_str(bad).unwrap_err();
    let keys: Vec<_> = error.issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "exporters.local.path",
            "exporters.local.max_rows",
            "exporters.local.max_age"
        ],
        "{error}"
    );
    assert!(error.to_string().contains("\"soon\""), "{error}");
}

#[test]
fn the_cost_column_is_the_record_s_cost_usd_before_any_metadata_cost() {
    let dir = tempfile::tempdir().unwrap();
    let mut priced = record(&Spec::default());
    priced.cost_usd = Some(0.5);
    let mut unpriced = record(&Spec::default());
    unpriced.metadata.remove("cost_usd");
    let store = store_with(dir.path(), &[priced.clone(), unpriced.clone()]);

    let cost = |id: uuid::Uuid| {
        let page = store.traces(&TraceFilter::default()).unwrap();
        let row = page
            .traces
            .into_iter()
            .find(|t| t.trace_id == id.to_string());
        row.unwrap().cost
    };
    assert_eq!(
        cost(priced.trace_id),
        Some(0.5),
        "the trace layer's price wins"
    );
    assert_eq!(cost(unpriced.trace_id), None, "no cost, not 0");
}

#[test]
fn full_text_search_pages_common_and_rare_words_alike() {
    // Enough matches that "common" and "ancient" count as common (the store reads the time
    // order in chunks and checks each chunk's matches) and "ancient" only in the oldest
    // traces (several chunks without a match): every way pages the same.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let start: chrono::DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
    let records: Vec<_> = (0..7_000)
        .map(|i| {
            // Inserted out of time order: pages follow time, not insertion.
            let second = i * 7919 % 7_000;
            let age = if second < 5_000 { "ancient" } else { "recent" };
            let rare = if i % 1000 == 7 { "rare" } else { "" };
            record(&Spec {
                at: start + chrono::Duration::seconds(second as i64),
                prompt: &format!("common {age} {rare}"),
                ..Spec::default()
            })
        })
        .collect();
    let mut exporter = SqliteExporter::new(&path).open().unwrap();
    exporter.insert(&records).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let mut by_time: Vec<_> = records.iter().collect();
    by_time.sort_by_key(|r| std::cmp::Reverse(r.timestamp));
    for (q, every) in [("common", 7_000), ("ancient", 5_000), ("common rare", 7)] {
        let expected: Vec<String> = by_time
            .iter()
            .filter(|r| q.split(' ').all(|w| r.prompt.contains(w)))
            .map(|r| r.trace_id.to_string())
            .collect();
        assert_eq!(expected.len(), every);
        let mut seen = Vec::new();
        let mut cursor = None;
        for _ in 0..3 {
            let page = store
                .traces(&filter(|f| {
                    f.q = Some(q.into());
                    f.limit = Some(50);
                    f.cursor = cursor.clone();
                }))
                .unwrap();
            seen.extend(page.traces.into_iter().map(|t| t.trace_id));
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, expected[..expected.len().min(150)], "{q}");
    }
    // With another filter too: the chunks walk only the traces it selects.
    let page = store
        .traces(&filter(|f| {
            f.q = Some("ancient".into());
            f.to = Some("2025-01-01T00:00:10Z".into());
        }))
        .unwrap();
    assert_eq!(page.traces.len(), 10);
}

#[test]
fn metadata_a_column_holds_is_stored_once_and_still_filters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut exact = record(&Spec {
        session: Some("s-1"),
        step: "plan",
        attempt: 2,
        ..Spec::default()
    });
    exact.trace_id = uuid::Uuid::new_v4();
    // Values of another type than their column's keep their metadata row.
    let mut odd = record(&Spec::default());
    odd.metadata
        .insert("session_id".into(), serde_json::json!(7));
    odd.metadata
        .insert("attempt_number".into(), serde_json::json!(2.5));
    let mut exporter = SqliteExporter::new(&path).open().unwrap();
    exporter.insert(&[exact.clone(), odd.clone()]).unwrap();
    drop(exporter);
    let rows: Vec<(String, String)> = rusqlite::Connection::open(&path)
        .unwrap()
        .prepare("SELECT key, value FROM trace_metadata ORDER BY key, value")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    // `exact`: user and cost_usd only; `odd`: also its numeric session_id and attempt_number.
    assert_eq!(
        keys,
        [
            "attempt_number",
            "cost_usd",
            "cost_usd",
            "session_id",
            "user",
            "user"
        ],
        "{rows:?}"
    );
    let store = SqliteStore::open(&path).unwrap();
    let meta = |m: &str| ids(&store, &filter(|f| f.meta = Some(m.into())));
    let exact_id = exact.trace_id.to_string();
    let odd_id = odd.trace_id.to_string();
    for (query, found) in [
        ("session_id=s-1", &exact_id),
        ("step_type=plan", &exact_id),
        ("attempt_number=2", &exact_id),
        ("session_id=7", &odd_id),
        ("attempt_number=2.5", &odd_id),
    ] {
        assert_eq!(meta(query), std::slice::from_ref(found), "{query}");
    }
    assert_eq!(meta("attempt_number=02"), Vec::<String>::new());
    assert_eq!(
        ids(&store, &filter(|f| f.session = Some("s-1".into()))),
        [exact_id]
    );
}

/// The tables, indexes and triggers of a file written by llmtrace at schema version 3, as
/// that version created them.
const SCHEMA_3: &str = r#"
    CREATE TABLE schema_version (version INTEGER NOT NULL);
    INSERT INTO schema_version (version) VALUES (3);
    CREATE TABLE traces (
        id INTEGER PRIMARY KEY, trace_id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL,
        provider TEXT NOT NULL, model TEXT NOT NULL, session_id TEXT, step_type TEXT,
        attempt INTEGER, error_kind TEXT, prompt_tokens INTEGER, completion_tokens INTEGER,
        total_tokens INTEGER, cost REAL, latency_ms REAL NOT NULL, ttft_ms REAL,
        record TEXT NOT NULL
    );
    CREATE INDEX traces_ts ON traces (ts);
    CREATE INDEX traces_session ON traces (session_id, ts);
    CREATE INDEX traces_model ON traces (model, ts);
    CREATE INDEX traces_provider ON traces (provider, ts);
    CREATE INDEX traces_error_kind ON traces (error_kind, ts);
    CREATE TABLE trace_metadata (
        trace INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (key, value, trace)
    ) WITHOUT ROWID;
    CREATE INDEX trace_metadata_trace ON trace_metadata (trace);
    CREATE VIRTUAL TABLE traces_fts USING fts5 (prompt, answer);
    CREATE TRIGGER traces_delete AFTER DELETE ON traces BEGIN
        DELETE FROM trace_metadata WHERE trace = old.id;
        DELETE FROM traces_fts WHERE rowid = old.id;
    END;
    CREATE TABLE trace_scores (
        trace_id TEXT NOT NULL, name TEXT NOT NULL, number REAL, label TEXT, comment TEXT,
        source TEXT, ts INTEGER NOT NULL, PRIMARY KEY (trace_id, name)
    ) WITHOUT ROWID;
    CREATE INDEX trace_scores_name ON trace_scores (name, number);
    CREATE TRIGGER traces_delete_scores AFTER DELETE ON traces BEGIN
        DELETE FROM trace_scores WHERE trace_id = old.trace_id;
    END;
"#;

#[test]
fn a_schema_3_file_migrates_and_its_traces_stay_searchable_and_deletable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let start = Utc::now() - chrono::Duration::hours(1);
    let old = record(&Spec {
        at: start,
        prompt: "an ancient question",
        ..Spec::default()
    });
    {
        // The trace as schema 3 stored it: its row, and its text in the full-text table.
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch(SCHEMA_3).unwrap();
        connection
            .execute(
                "INSERT INTO traces (id, trace_id, ts, provider, model, latency_ms, record)
                 VALUES (1, ?1, ?2, 'openai', 'gpt-4o-mini', 850.0, ?3)",
                rusqlite::params![
                    old.trace_id.to_string(),
                    old.timestamp.timestamp_micros(),
                    serde_json::to_string(&old).unwrap()
                ],
            )
            .unwrap();
        connection
            .execute(
                "INSERT INTO traces_fts (rowid, prompt, answer) VALUES (1, ?1, 'an old answer')",
                [&old.prompt],
            )
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let search = |q: &str| ids(&store, &filter(|f| f.q = Some(q.into())));
    assert_eq!(search("ancient"), [old.trace_id.to_string()]);
    assert_eq!(search("old answer"), [old.trace_id.to_string()]);
    let new = record(&Spec {
        at: start + chrono::Duration::seconds(1),
        prompt: "a recent question",
        ..Spec::default()
    });
    // Retention deletes the migrated trace from the index too.
    export(
        &path,
        SqliteExporter::new(&path).max_rows(1),
        std::slice::from_ref(&new),
    );
    assert_eq!(search("recent"), [new.trace_id.to_string()]);
    assert_eq!(search("ancient"), Vec::<String>::new());
    let connection = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = connection
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    // Since schema 4 the index keeps no second copy of the prompts and answers.
    let copies: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE '%_content'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(copies, 0);
    // Entries of deleted traces are gone from the index itself, not only hidden by the join.
    let entries: i64 = connection
        .query_row(
            "SELECT count(*) FROM traces_text WHERE traces_text MATCH 'question'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(entries, 1);
}
