//! The client is `Clone + Send + Sync`; concurrent use loses nothing and never panics
//! (the reference's deque raised "mutated during iteration" here).

use std::collections::HashSet;

use llmtrace::sink::TraceQuery;
use llmtrace::{Client, GenerateRequest, Session};

use crate::support::stub;

fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

#[test]
fn client_is_clone_send_sync_and_sessions_are_send_sync() {
    assert_send_sync::<Client>();
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Session>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_writers_and_concurrent_readers_lose_nothing() {
    const WRITERS: usize = 64;
    const CALLS: usize = 20;
    let client = stub().max_traces(WRITERS * CALLS).build();

    let readers: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut reads = 0;
                while client.store().len() < WRITERS * CALLS {
                    let recent = client.get_traces(TraceQuery::last(10));
                    for trace in &recent {
                        assert!(client.get_trace(&trace.trace_id).is_some());
                    }
                    let _ = client.get_traces(TraceQuery::all().metadata("writer", 3));
                    reads += 1;
                    tokio::task::yield_now().await;
                }
                reads
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let client = client.clone();
            tokio::spawn(async move {
                let session = client.session();
                let mut ids = Vec::new();
                for call in 0..CALLS {
                    let request =
                        GenerateRequest::new(format!("{writer}/{call}")).metadata("writer", writer);
                    let response = if call % 2 == 0 {
                        client.generate(request).await.unwrap()
                    } else {
                        session.generate(request).await.unwrap()
                    };
                    ids.push(response.trace_id().unwrap());
                }
                assert_eq!(session.traces().len(), CALLS / 2);
                ids
            })
        })
        .collect();

    let mut ids = HashSet::new();
    for writer in writers {
        ids.extend(writer.await.unwrap());
    }
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }

    assert_eq!(ids.len(), WRITERS * CALLS, "trace ids are unique");
    let stored = client.get_traces(TraceQuery::all());
    assert_eq!(stored.len(), WRITERS * CALLS);
    assert!(stored.iter().all(|trace| ids.contains(&trace.trace_id)));
    assert_eq!(
        client
            .get_traces(TraceQuery::all().metadata("writer", 7))
            .len(),
        CALLS
    );
}
