//! Scores set after the fact (library, JSON API, the trace page's form), shown in the list,
//! filtered on, and averaged per prompt version; prompt keys other than the default ones.

use llmtrace::exporter::{
    Page, PromptKeys, Score, ScoreValue, SqliteStore, StoreError, TraceFilter,
};
use serde_json::json;

use crate::support::{Spec, record, serve, store_with, workflow};

fn ids(store: &SqliteStore, filter: TraceFilter) -> Vec<String> {
    let page = store.traces(&filter).unwrap();
    page.traces.into_iter().map(|t| t.trace_id).collect()
}

fn scored(score: &str) -> TraceFilter {
    TraceFilter {
        score: Some(score.to_owned()),
        ..TraceFilter::default()
    }
}

#[test]
fn library_scores_show_in_the_list_filter_and_average_per_prompt_version() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let store = store_with(dir.path(), &records);
    let id = |i: usize| records[i].trace_id.to_string();

    store
        .score(&id(0), &Score::number("helpfulness", 0.2).source("ann"))
        .unwrap();
    store
        .score(&id(1), &Score::number("helpfulness", 0.6))
        .unwrap();
    store
        .score(&id(2), &Score::number("helpfulness", 0.9).comment("good"))
        .unwrap();
    store
        .score(&id(2), &Score::label("verdict", "correct"))
        .unwrap();
    // Setting a score again replaces it.
    store
        .score(&id(1), &Score::number("helpfulness", 0.4))
        .unwrap();

    assert_eq!(ids(&store, scored("helpfulness<0.5")), [id(1), id(0)]);
    assert_eq!(ids(&store, scored("score:helpfulness>=0.9")), [id(2)]);
    assert_eq!(ids(&store, scored("verdict=correct")), [id(2)]);
    assert_eq!(
        ids(&store, scored("verdict!=correct")),
        Vec::<String>::new()
    );
    let search = TraceFilter {
        q: Some("Plot score:helpfulness<0.3".into()),
        ..TraceFilter::default()
    };
    assert_eq!(ids(&store, search), [id(0)]);

    let page = store.traces(&TraceFilter::default()).unwrap();
    let row = page.traces.iter().find(|t| t.trace_id == id(2)).unwrap();
    assert_eq!(row.scores["helpfulness"], ScoreValue::Number(0.9));
    assert_eq!(row.scores["verdict"], ScoreValue::Label("correct".into()));
    let session = store.session("s-1").unwrap().unwrap();
    assert_eq!(
        session.traces[1].scores["helpfulness"],
        ScoreValue::Number(0.4)
    );

    let scores = store.scores(&id(2)).unwrap();
    assert_eq!(scores[0].comment.as_deref(), Some("good"));
    assert_eq!(
        store.scores(&id(0)).unwrap()[0].source.as_deref(),
        Some("ann")
    );

    // Versions 1 (0.2 and 0.4) and 2 (0.9) compared on their mean score.
    let summary = store.summary(&TraceFilter::default()).unwrap();
    let means: Vec<_> = summary
        .by_prompt
        .iter()
        .map(|p| (p.version.as_deref(), p.scores.get("helpfulness").copied()))
        .collect();
    assert_eq!(means.len(), 2);
    assert_eq!(means[0].0, Some("1"));
    assert!((means[0].1.unwrap() - 0.3).abs() < 1e-9, "{means:?}");
    assert_eq!(means[1], (Some("2"), Some(0.9)));
}

#[test]
fn scores_need_a_stored_trace_a_name_and_a_finite_number() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let store = store_with(dir.path(), &records);
    let id = records[0].trace_id.to_string();
    let missing = uuid::Uuid::new_v4().to_string();
    assert!(matches!(
        store.score(&missing, &Score::number("helpfulness", 1.0)),
        Err(StoreError::UnknownTrace(t)) if t == missing
    ));
    for bad in [
        Score::number("", 1.0),
        Score::number("a<b", 1.0),
        Score::number("x", f64::NAN),
    ] {
        let error = store.score(&id, &bad).unwrap_err();
        assert!(matches!(error, StoreError::BadScore { .. }), "{error}");
    }
    for bad in ["helpfulness", "helpfulness<", "verdict<yes", "<0.5"] {
        let error = store.traces(&scored(bad)).unwrap_err();
        assert!(
            matches!(&error, StoreError::BadFilter { key, .. } if key == "score"),
            "{bad}: {error}"
        );
    }
}

#[test]
fn config_finds_the_store_and_its_prompt_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let config = dir.path().join("llmtrace.toml");
    std::fs::write(
        &config,
        format!(
            "[exporters.local]\ntype = \"sqlite\"\npath = {:?}\nprompt_name_key = \"template\"\nprompt_version_key = \"template_rev\"\n",
            db.display().to_string()
        ),
    )
    .unwrap();
    let client = llmtrace::Client::from_config(&config).unwrap();
    drop(client);
    let config = llmtrace::config::Config::load(Some(config.as_path())).unwrap();
    let store = SqliteStore::from_config(&config).unwrap().unwrap();
    assert_eq!(store.path(), db);
    assert_eq!(
        store.prompt_keys(),
        &PromptKeys {
            name: "template".into(),
            version: "template_rev".into()
        }
    );
    let none = llmtrace::config::Config::default();
    assert!(SqliteStore::from_config(&none).unwrap().is_none());
}

#[test]
fn prompt_keys_other_than_the_defaults_filter_and_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = vec![record(&Spec::default()), record(&Spec::default())];
    for (record, rev) in records.iter_mut().zip(["a", "b"]) {
        record.metadata.insert("template".into(), json!("greet"));
        record.metadata.insert("template_rev".into(), json!(rev));
    }
    let store = store_with(dir.path(), &records).with_prompt_keys(PromptKeys {
        name: "template".into(),
        version: "template_rev".into(),
    });
    let filter = TraceFilter {
        prompt_name: Some("greet".into()),
        prompt_version: Some("b".into()),
        ..TraceFilter::default()
    };
    assert_eq!(ids(&store, filter), [records[1].trace_id.to_string()]);
    let summary = store.summary(&TraceFilter::default()).unwrap();
    let versions: Vec<_> = summary
        .by_prompt
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_deref(), p.calls))
        .collect();
    assert_eq!(versions, [("greet", Some("a"), 1), ("greet", Some("b"), 1)]);
}

#[tokio::test]
async fn api_sets_scores_and_the_list_filters_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let base = serve(store_with(dir.path(), &records)).await;
    let http = reqwest::Client::new();
    let id = records[3].trace_id;

    let response = http
        .post(format!("{base}/api/traces/{id}/scores"))
        .header("content-type", "application/json")
        .body(
            json!({"name": "helpfulness", "value": 0.25, "comment": "vague", "source": "eval-v2"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let scores: Vec<Score> = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        scores,
        [Score::number("helpfulness", 0.25)
            .comment("vague")
            .source("eval-v2")]
    );

    let page = http
        .get(format!("{base}/api/traces?score=helpfulness%3C0.5"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page: Page = serde_json::from_str(&page).unwrap();
    assert_eq!(page.traces.len(), 1);
    assert_eq!(page.traces[0].trace_id, id.to_string());

    let list = http
        .get(format!("{base}/?q=score%3Ahelpfulness%3C0.5"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(list.matches("class=\"trace\"").count(), 1, "{list}");
    assert!(list.contains(r#"<span class="score">helpfulness: 0.25</span>"#));

    let missing = uuid::Uuid::new_v4();
    for (path, body, status) in [
        (missing.to_string(), json!({"name": "x", "value": 1}), 404),
        (id.to_string(), json!({"name": "", "value": 1}), 400),
    ] {
        let response = http
            .post(format!("{base}/api/traces/{path}/scores"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        let error: serde_json::Value =
            serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert!(error["error"].is_string(), "{error}");
    }
}

#[tokio::test]
async fn the_trace_page_form_sets_a_score_and_cross_site_posts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let base = serve(store_with(dir.path(), &records)).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let id = records[0].trace_id;
    let page = http
        .get(format!("{base}/traces/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!(r#"action="/traces/{id}/scores""#)));

    let post = |origin: String| {
        http.post(format!("{base}/traces/{id}/scores"))
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=verdict&value=%3Cb%3Ewrong%3C%2Fb%3E&comment=&source=ann")
            .send()
    };
    let refused = post("http://evil.example".to_owned()).await.unwrap();
    assert_eq!(refused.status(), 403);

    let host = base.trim_start_matches("http://").to_owned();
    let done = post(format!("http://{host}")).await.unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(
        done.headers()["location"],
        format!("/traces/{id}#scores").as_str()
    );
    let page = http
        .get(format!("{base}/traces/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<dt>verdict</dt><dd>&lt;b&gt;wrong&lt;/b&gt; <small>by ann</small></dd>"),
        "{page}"
    );
}
