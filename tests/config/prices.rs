//! `[prices]`: replacing and extending the shipped price table, and every bad price named.

use figment::Jail;
use llmtrace::config::Origin;
use llmtrace::cost::PriceTable;
use llmtrace::{Client, GenerateRequest, Usage};

use crate::{issue, load};

#[test]
fn a_price_replaces_the_shipped_one_and_an_alias_or_prefix_reaches_it() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "prices.toml",
            r#"
            [prices."gpt-4o"]
            input = 5
            output = 20.0
            cached_input = 2.5
            as_of = "2026-01-01"

            [prices."house-model"]
            input = 1
            output = 2

            [prices.aliases]
            "azure-prod" = "gpt-4o"
            "house-model-*" = "house-model"
            "sonnet" = "claude-sonnet-4"
            "#,
        )?;
        let table = load("prices.toml")
            .expect("a valid file")
            .prices
            .table()
            .unwrap();
        let usage = Usage::new(1_000_000, 1_000_000);

        assert_eq!(
            table.cost("gpt-4o", &usage),
            Some(25.0),
            "the file's price wins"
        );
        assert_eq!(table.cost("gpt-4o-2024-08-06", &usage), Some(25.0));
        assert_eq!(table.cost("azure-prod", &usage), Some(25.0));
        assert_eq!(table.cost("house-model-v3", &usage), Some(3.0));
        assert_eq!(
            table.cost("sonnet", &usage),
            Some(18.0),
            "aliases reach shipped prices"
        );
        assert_eq!(
            table.cost("gpt-4o-mini", &usage),
            Some(0.75),
            "the rest stays shipped"
        );
        assert_eq!(
            table.get("gpt-4o").unwrap().as_of.unwrap().to_string(),
            "2026-01-01"
        );
        Ok(())
    });
}

#[test]
fn negative_prices_bad_dates_and_aliases_to_nothing_are_named_with_their_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "bad.toml",
            r#"
            [prices."gpt-4o"]
            input = -1
            output = 10

            [prices.cheap]
            output = 1
            as_of = "last week"
            cached = 0.1

            [prices.aliases]
            "x" = "no-such-model"
            "#,
        )?;
        let error = load("bad.toml").unwrap_err();
        let at_file = |key: &str, text: &str| {
            let found = issue(&error, key);
            assert!(found.message.contains(text), "{key}: {}", found.message);
            assert!(
                matches!(&found.origin, Origin::File(path) if path.ends_with("bad.toml")),
                "{key}: {:?}",
                found.origin
            );
        };
        at_file(
            "prices.gpt-4o.input",
            "must be a number of dollars, 0 or more; found -1",
        );
        at_file("prices.cheap.input", "missing required key \"input\"");
        at_file("prices.cheap.as_of", "\"last week\"");
        at_file("prices.cheap.cached", "unknown key");
        at_file("prices.aliases.x", "\"no-such-model\"");
        Ok(())
    });
}

#[tokio::test]
async fn a_client_built_from_a_file_prices_with_the_file_s_table() {
    // The echo provider names its model as configured; give that model a price.
    let config = llmtrace::config::Config::from_toml_str(
        r#"
        [provider]
        type = "echo"
        model = "house-model"

        [prices.house-model]
        input = 1000000
        output = 0
        "#,
    )
    .unwrap();
    let client = config.build().unwrap();
    let response = client.generate(GenerateRequest::new("four")).await.unwrap();
    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();

    let prompt_tokens = trace
        .response
        .as_ref()
        .unwrap()
        .usage
        .unwrap()
        .prompt_tokens;
    assert_eq!(
        trace.cost_usd,
        Some(prompt_tokens as f64),
        "$1 per input token"
    );

    // Without the table, the same model has no price: no cost, not 0.
    let unpriced = Client::builder()
        .provider(llmtrace::provider::EchoProvider::new().model("house-model"))
        .build();
    let response = unpriced
        .generate(GenerateRequest::new("four"))
        .await
        .unwrap();
    let trace = unpriced.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.cost_usd, None);
    assert!(!PriceTable::builtin().contains("house-model"));
}
