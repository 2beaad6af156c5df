//! The viewer in a real headless Chromium, driven over WebDriver (chromedriver).
//!
//! Ignored by default: `tests/browser/run.sh` checks that Chromium and chromedriver are
//! installed, then runs it with `--ignored`. Screenshots of the four pages are saved under
//! `target/ui-screenshots/`. `LLMTRACE_CHROMEDRIVER` and `LLMTRACE_CHROMIUM` override the
//! programs used (default: `chromedriver` on the PATH and `/usr/bin/chromium`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::{serve, store_with, workflow};

/// Kills chromedriver (and with it the browser) when the test ends.
struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_browser(profile: &std::path::Path) -> (Driver, Client) {
    let port = free_port();
    let program = std::env::var("LLMTRACE_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let driver = Command::new(&program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e} (run tests/browser/run.sh)"));
    let driver = Driver(driver);
    let chromium =
        std::env::var("LLMTRACE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1366,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let url = format!("http://127.0.0.1:{port}");
    // chromedriver takes a moment to listen: retry until a deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("cannot open a WebDriver session on {url}: {error}"),
        }
    }
}

async fn screenshot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn rows(client: &Client) -> usize {
    client
        .find_all(Locator::Css("table.traces tbody tr"))
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and chromedriver: run tests/browser/run.sh"]
async fn browser_filters_opens_a_trace_and_its_session_and_never_runs_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let base = serve(store_with(dir.path(), &records)).await;
    let (_driver, client) = start_browser(&dir.path().join("profile")).await;
    let wait = || client.wait().at_most(Duration::from_secs(20));

    // The list, newest first.
    client.goto(&format!("{base}/")).await.unwrap();
    wait()
        .for_element(Locator::Css("table.traces"))
        .await
        .unwrap();
    assert_eq!(rows(&client).await, 5);
    screenshot(&client, "list").await;

    // Filter by session with the form, as a user does.
    let form = client.form(Locator::Css("form.filters")).await.unwrap();
    form.set_by_name("session", "s-1").await.unwrap();
    form.submit().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap_or("")
        .contains("session=s-1")
    {
        assert!(
            Instant::now() < deadline,
            "the filter form did not load the filtered list"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait()
        .for_element(Locator::Css("table.traces"))
        .await
        .unwrap();
    assert_eq!(rows(&client).await, 3);

    // Open the newest trace of the session: its prompt and answer show.
    client
        .find(Locator::Css("a.trace"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let answer = wait().for_element(Locator::Css("#answer")).await.unwrap();
    assert!(answer.text().await.unwrap().contains("plt.hist(ages)"));
    let conversation = client.find(Locator::Css("#conversation")).await.unwrap();
    assert!(
        conversation
            .text()
            .await
            .unwrap()
            .contains("Plot the ages, third try")
    );
    screenshot(&client, "trace").await;

    // Its session page lists the three steps in order.
    client
        .find(Locator::Id("session-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait()
        .for_element(Locator::Css("table.traces"))
        .await
        .unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/sessions/s-1")
    );
    let steps = client
        .find_all(Locator::Css("table.traces tbody tr"))
        .await
        .unwrap();
    let mut attempts = Vec::new();
    for step in &steps {
        let text = step.text().await.unwrap();
        attempts.push(
            text.contains("#1") as u8
                + 2 * text.contains("#2") as u8
                + 3 * text.contains("#3") as u8,
        );
    }
    assert_eq!(attempts, [1, 2, 3]);
    screenshot(&client, "session").await;

    // A prompt holding <script> (and an answer holding an onerror handler) is shown as text
    // and never runs.
    client
        .goto(&format!("{base}/traces/{}", records[4].trace_id))
        .await
        .unwrap();
    let conversation = wait()
        .for_element(Locator::Css("#conversation"))
        .await
        .unwrap();
    assert!(
        conversation
            .text()
            .await
            .unwrap()
            .contains("<script>document.title='pwned'</script>")
    );
    let answer = client.find(Locator::Css("#answer")).await.unwrap();
    assert!(answer.text().await.unwrap().contains("<img src=x onerror="));
    assert!(
        client
            .find_all(Locator::Css("main script, main img"))
            .await
            .unwrap()
            .is_empty()
    );
    let title = client
        .execute("return document.title", vec![])
        .await
        .unwrap();
    assert!(!title.as_str().unwrap().contains("pwned"), "{title}");

    // The summary with its charts.
    client.goto(&format!("{base}/summary")).await.unwrap();
    wait()
        .for_element(Locator::Css("figure.chart svg"))
        .await
        .unwrap();
    assert_eq!(
        client
            .find_all(Locator::Css("figure.chart svg"))
            .await
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        client
            .find(Locator::Id("calls"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "5"
    );
    screenshot(&client, "summary").await;

    client.close().await.unwrap();
}
