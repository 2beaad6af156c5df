//! The HTML pages over HTTP: content, links, escaping, offline assets.

use crate::support::{serve, store_with, workflow};

async fn page(url: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

#[tokio::test]
async fn pages_show_traces_sessions_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let base = serve(store_with(dir.path(), &records)).await;

    let (status, list, _) = page(&format!("{base}/?session=s-1")).await;
    assert_eq!(status, 200);
    assert_eq!(list.matches("class=\"trace\"").count(), 3, "{list}");
    assert!(list.contains(&format!("/traces/{}", records[0].trace_id)));
    assert!(list.contains("code_generation #2") && list.contains("timeout"));
    assert!(
        list.contains(r#"value="s-1""#),
        "the filter stays in the form"
    );

    let (status, trace, _) = page(&format!("{base}/traces/{}", records[2].trace_id)).await;
    assert_eq!(status, 200);
    for part in [
        "You are terse.",
        "earlier question",
        "Plot the ages, third try",
        "plt.hist(ages)",
        "lookup",
        "&quot;temperature&quot;: 0.2",
        "href=\"/sessions/s-1\"",
        "Raw JSON",
    ] {
        assert!(trace.contains(part), "{part} missing from the trace page");
    }
    let (_, failed, _) = page(&format!("{base}/traces/{}", records[1].trace_id)).await;
    assert!(failed.contains("the call failed: timeout") && failed.contains("503"));

    let (status, session, _) = page(&format!("{base}/sessions/s-1")).await;
    assert_eq!(status, 200);
    let order: Vec<usize> = records[..3]
        .iter()
        .map(|r| session.find(&r.trace_id.to_string()).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "steps in order");

    let (status, summary, _) = page(&format!("{base}/summary")).await;
    assert_eq!(status, 200);
    assert!(summary.contains(r#"<dd id="calls">5</dd>"#), "{summary}");
    assert_eq!(summary.matches("<svg").count(), 4);
    assert!(
        summary.contains("/?prompt_name=plot&amp;prompt_version=2"),
        "{summary}"
    );

    let (status, missing, _) = page(&format!("{base}/traces/nope")).await;
    assert_eq!(status, 404);
    assert!(missing.contains("trace nope not found"));
    let (status, bad, _) = page(&format!("{base}/?from=someday")).await;
    assert_eq!(status, 400);
    assert!(bad.contains("someday"));
}

#[tokio::test]
async fn untrusted_text_is_escaped_and_inline_scripts_are_forbidden() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let base = serve(store_with(dir.path(), &records)).await;
    let hostile = &records[4];
    for url in [
        format!("{base}/traces/{}", hostile.trace_id),
        format!("{base}/?q=%3Cscript%3E"),
        format!("{base}/?session=%22%3E%3Cscript%3Ex%3C/script%3E"),
    ] {
        let (_, html, headers) = page(&url).await;
        // The only script element is the embedded asset.
        assert_eq!(html.matches("<script").count(), 1, "{url}: {html}");
        assert!(!html.contains("<img src=x"), "{url}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
    }
    let (_, html, _) = page(&format!("{base}/traces/{}", hostile.trace_id)).await;
    assert!(
        html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt; what is this?")
    );
}

#[tokio::test]
async fn assets_are_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let base = serve(store_with(dir.path(), &workflow())).await;
    for (path, kind) in [
        ("/assets/style.css", "text/css"),
        ("/assets/app.js", "text/javascript"),
    ] {
        let (status, body, headers) = page(&format!("{base}{path}")).await;
        assert_eq!(status, 200);
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
        assert!(!body.is_empty());
    }
    let (_, html, _) = page(&format!("{base}/")).await;
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no remote resources"
    );
}
