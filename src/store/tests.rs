//! The store under a hub: what a publish commits is there after a reopen, concurrent publishes
//! share commits, and ids above a floor signal what a client cannot have.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_std::task::block_on;

use super::Store;
use crate::hub::{Hub, HubConfig, Missed};

/// A fresh database path of this test process.
fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "longconn-store-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join("test.db")
}

fn open(path: &std::path::Path, config: HubConfig) -> Hub {
    let (store, opened) = Store::open(path, config.log_capacity).expect("open store");
    Hub::with_store(config, store, opened).expect("start writer")
}

fn ids(messages: &[std::sync::Arc<crate::hub::Message>]) -> Vec<u64> {
    messages.iter().map(|m| m.id).collect()
}

#[test]
fn a_committed_publish_is_there_after_reopening_and_ids_continue() {
    let path = scratch("reopen");
    let config = HubConfig::default();
    let hub = open(&path, config);
    for data in ["one", "two", "three"] {
        block_on(hub.publish("news", "message", data.into())).expect("publish");
    }
    drop(hub);
    let hub = open(&path, config);
    let backlog = hub.since("news", 1);
    assert_eq!(ids(&backlog.messages), vec![2, 3]);
    assert_eq!(backlog.messages[1].data, "three");
    assert_eq!(backlog.missed, None);
    let next = block_on(hub.publish("news", "message", "four".into())).expect("publish");
    assert_eq!(next.id, 4);
}

#[test]
fn the_store_keeps_only_the_log_capacity() {
    let path = scratch("capacity");
    let config = HubConfig {
        log_capacity: 2,
        ..HubConfig::default()
    };
    let hub = open(&path, config);
    for n in 0..5 {
        block_on(hub.publish("news", "message", n.to_string())).expect("publish");
    }
    drop(hub);
    let hub = open(&path, config);
    let backlog = hub.since("news", 0);
    assert_eq!(ids(&backlog.messages), vec![4, 5]);
    assert_eq!(backlog.missed, Some(Missed { from: 1, to: 3 }));
}

#[test]
fn concurrent_publishes_are_all_acknowledged_once_in_id_order() {
    let path = scratch("concurrent");
    let hub = open(&path, HubConfig::default());
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let hub = hub.clone();
            async_std::task::spawn(
                async move { hub.publish("load", "message", format!("m{n}")).await },
            )
        })
        .collect();
    let mut acked: Vec<u64> = block_on(async {
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.expect("publish").id);
        }
        ids
    });
    acked.sort_unstable();
    assert_eq!(acked, (1..=200).collect::<Vec<u64>>());
    assert_eq!(ids(&hub.since("load", 0).messages), acked);
}

#[test]
fn a_new_channel_starts_above_the_floor_and_an_older_id_gets_the_gap() {
    let hub = Hub::new(HubConfig {
        id_floor: 1000,
        ..HubConfig::default()
    });
    let gap = hub.since("news", 5);
    assert_eq!(gap.missed, Some(Missed { from: 6, to: 1000 }));
    let first = block_on(hub.publish("news", "message", "a".into())).expect("publish");
    assert_eq!(first.id, 1001);
    let old = hub.since("news", 5);
    assert_eq!(ids(&old.messages), vec![1001]);
    assert_eq!(old.missed, Some(Missed { from: 6, to: 1000 }));
    let fresh = hub.since("news", 0);
    assert_eq!(ids(&fresh.messages), vec![1001]);
    assert_eq!(fresh.missed, None);
}

#[test]
fn a_subscriber_resuming_from_an_unknown_id_gets_the_log_and_the_gap() {
    let hub = Hub::new(HubConfig {
        id_floor: 1000,
        ..HubConfig::default()
    });
    block_on(hub.publish("news", "message", "a".into())).expect("publish");
    let subscription = hub.subscribe("news", Some(8));
    assert_eq!(ids(&subscription.backlog), vec![1001]);
    assert_eq!(subscription.missed, Some(Missed { from: 9, to: 1000 }));
}

#[test]
fn sizes_read_binary_and_decimal_units() {
    assert_eq!(super::parse_bytes("256MiB"), Ok(256 * 1024 * 1024));
    assert_eq!(super::parse_bytes("1000"), Ok(1000));
    assert_eq!(super::parse_bytes("2 KB"), Ok(2000));
    assert!(super::parse_bytes("12 parsecs").is_err_and(|e| e.contains("unknown unit 'parsecs'")));
    assert!(super::parse_bytes("MiB").is_err());
}

#[test]
fn twenty_thousand_channel_names_over_time_all_publish_under_a_bound_of_a_thousand() {
    let clock = crate::clock::Clock::manual();
    let manual = clock.as_manual().expect("manual clock").clone();
    let hub = Hub::on_clock(
        HubConfig {
            max_channels: 1000,
            retain: Some(std::time::Duration::from_secs(10)),
            ..HubConfig::default()
        },
        clock,
    );
    for n in 0..20_000 {
        if n % 500 == 0 {
            manual.advance(std::time::Duration::from_secs(5));
        }
        let published = block_on(hub.publish(&format!("user-{n}"), "message", "hi".into()));
        assert!(published.is_ok(), "publish {n}: {published:?}");
    }
    assert!(hub.channel_count() <= 1000, "{}", hub.channel_count());
    manual.advance(std::time::Duration::from_secs(11));
    // A retired name numbers above its old ids: none is ever issued twice.
    let again = block_on(hub.publish("user-0", "message", "again".into())).expect("publish");
    assert!(again.id > 1, "{}", again.id);
}

#[test]
fn aged_messages_leave_and_a_listened_channel_stays() {
    let clock = crate::clock::Clock::manual();
    let manual = clock.as_manual().expect("manual clock").clone();
    let hub = Hub::on_clock(
        HubConfig {
            retain: Some(std::time::Duration::from_secs(10)),
            ..HubConfig::default()
        },
        clock,
    );
    block_on(hub.publish("kept", "message", "a".into())).expect("publish");
    block_on(hub.publish("gone", "message", "a".into())).expect("publish");
    let _listener = hub.subscribe("kept", None);
    manual.advance(std::time::Duration::from_secs(11));
    hub.sweep();
    assert_eq!(hub.stats("gone").last, 0, "retired");
    assert_eq!(hub.stats("kept").logged, 0, "aged out");
    assert_eq!(hub.stats("kept").last, 1, "still there: someone listens");
    let backlog = hub.since("kept", 0);
    assert_eq!(backlog.missed, Some(Missed { from: 1, to: 1 }));
}

#[test]
fn the_memory_ceiling_evicts_the_largest_channels_oldest_first() {
    // About 64 messages of 16 KiB, each counted with its three encodings.
    let max = 4 * 1024 * 1024;
    let hub = Hub::new(HubConfig {
        max_store_bytes: max,
        ..HubConfig::default()
    });
    let body = "x".repeat(16 * 1024);
    for n in 0..100 {
        block_on(hub.publish("big", "message", body.clone())).expect("publish");
        if n % 10 == 0 {
            block_on(hub.publish("small", "message", body.clone())).expect("publish");
        }
        assert!(hub.held_bytes() <= max, "{} > {max}", hub.held_bytes());
    }
    let big = hub.since("big", 0);
    assert!(big.missed.is_some_and(|m| m.from == 1), "{:?}", big.missed);
    assert_eq!(big.messages.last().map(|m| m.id), Some(100));
    // The small channel was not the largest: it kept all ten.
    assert_eq!(hub.stats("small").logged, 10);
}

/// Rows in the store's tables `(channels, messages)`, read with a connection of its own.
fn rows(path: &std::path::Path) -> (i64, i64) {
    let connection = rusqlite::Connection::open(path).expect("open");
    let count = |table: &str| {
        connection
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .expect("count")
    };
    (count("channels"), count("messages"))
}

#[test]
fn aged_out_rows_and_retired_channels_leave_the_disk_and_stay_gone_after_a_restart() {
    let path = scratch("retire");
    let config = HubConfig {
        log_capacity: 5,
        retain: Some(std::time::Duration::from_secs(10)),
        ..HubConfig::default()
    };
    let clock = crate::clock::Clock::manual();
    let manual = clock.as_manual().expect("manual clock").clone();
    let (store, opened) = Store::open(&path, config.log_capacity).expect("open store");
    let hub = Hub::with_store_on_clock(config, store, opened, clock).expect("start writer");
    for n in 0..200 {
        for data in ["a", "b", "c"] {
            block_on(hub.publish(&format!("user-{n}"), "message", data.into())).expect("publish");
        }
    }
    for n in 0..20 {
        block_on(hub.publish("kept", "message", n.to_string())).expect("publish");
    }
    let _listener = hub.subscribe("kept", None);
    // Past the log capacity, the store already holds only the last five of "kept".
    manual.advance(std::time::Duration::from_secs(11));
    hub.sweep();
    // A later publish is acknowledged once its transaction, and every change queued before it,
    // is committed.
    block_on(hub.publish("fresh", "message", "new".into())).expect("publish");
    drop(_listener);
    drop(hub);
    // "kept" stays (someone listened) with no message; the 200 retired channels are gone.
    assert_eq!(rows(&path), (2, 1));

    let (store, opened) = Store::open(&path, config.log_capacity).expect("reopen");
    let mut names: Vec<&str> = opened.channels.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["fresh", "kept"]);
    assert_eq!(opened.retired_last, 3);
    let hub = Hub::with_store(config, store, opened).expect("start writer");
    assert_eq!(hub.channel_count(), 2, "retired channels are not loaded");
    // A retired name, used again after the restart, numbers above its old ids.
    let again = block_on(hub.publish("user-0", "message", "again".into())).expect("publish");
    assert_eq!(again.id, 4);
    assert_eq!(hub.stats("kept").last, 20, "kept's numbering survives");
}
