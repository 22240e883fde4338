//! Hub behaviour on the manual clock, with no sleeps: ordering, replay-then-live, the bounded log,
//! lag cut-off, long-poll wake and release, shutdown, channel bounds and the ticker.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::{block_on, poll_once};

use super::*;
use crate::clock::Clock;

fn hub_with(log_capacity: usize, subscriber_queue: usize) -> Hub {
    Hub::new(HubConfig {
        log_capacity,
        subscriber_queue,
        ..HubConfig::default()
    })
}

async fn publish_n(hub: &Hub, channel: &str, n: usize) {
    for i in 0..n {
        hub.publish(channel, "message", format!("m{i}"))
            .await
            .expect("publish");
    }
}

fn ids(messages: &[Arc<Message>]) -> Vec<u64> {
    messages.iter().map(|m| m.id).collect()
}

fn drain(sub: &mut Subscription) -> (Vec<u64>, Option<EndReason>) {
    let mut got = Vec::new();
    while let Some(next) = sub.try_next() {
        match next {
            Next::Message(m) => got.push(m.id),
            Next::Ended(reason) => return (got, Some(reason)),
        }
    }
    (got, None)
}

#[async_std::test]
async fn ids_rise_by_one_from_one_per_channel() {
    let hub = Hub::default();
    for expected in 1..=3 {
        let m = hub.publish("a", "message", "x".into()).await.unwrap();
        assert_eq!(m.id, expected);
    }
    let b = hub.publish("b", "custom", "y".into()).await.unwrap();
    assert_eq!(
        (b.id, b.event.as_str(), b.data.as_str()),
        (1, "custom", "y")
    );
    assert_eq!(ids(&hub.since("a", 0).messages), vec![1, 2, 3]);
}

#[async_std::test]
async fn since_returns_messages_after_id_and_the_last_id() {
    let hub = Hub::default();
    publish_n(&hub, "c", 5).await;
    let backlog = hub.since("c", 2);
    assert_eq!(ids(&backlog.messages), vec![3, 4, 5]);
    assert_eq!(backlog.last, 5);
    assert_eq!(backlog.missed, None);
    assert!(hub.since("c", 5).messages.is_empty());
}

#[async_std::test]
async fn since_past_last_id_returns_nothing() {
    let hub = Hub::default();
    publish_n(&hub, "c", 2).await;
    let backlog = hub.since("c", 99);
    assert!(backlog.messages.is_empty());
    assert_eq!((backlog.last, backlog.missed), (2, None));
}

#[test]
fn since_on_unknown_channel_is_empty_and_creates_nothing() {
    let hub = Hub::default();
    let backlog = hub.since("nowhere", 7);
    assert!(backlog.messages.is_empty());
    assert_eq!(backlog.last, 0);
    assert_eq!(hub.channel_count(), 0);
}

#[async_std::test]
async fn bounded_log_keeps_the_last_messages_and_reports_what_was_missed() {
    let hub = hub_with(3, 16);
    publish_n(&hub, "c", 5).await;
    assert_eq!(hub.stats("c").logged, 3);
    let from_start = hub.since("c", 0);
    assert_eq!(ids(&from_start.messages), vec![3, 4, 5]);
    assert_eq!(from_start.missed, Some(Missed { from: 1, to: 2 }));
    assert_eq!(hub.since("c", 1).missed, Some(Missed { from: 2, to: 2 }));
    let in_log = hub.since("c", 2);
    assert_eq!(
        (ids(&in_log.messages), in_log.missed),
        (vec![3, 4, 5], None)
    );
}

#[async_std::test]
async fn a_message_is_shared_not_copied() {
    let hub = Hub::default();
    let mut a = hub.subscribe("c", None);
    let mut b = hub.subscribe("c", None);
    let sent = hub.publish("c", "message", "x".into()).await.unwrap();
    let (Some(Next::Message(ma)), Some(Next::Message(mb))) = (a.try_next(), b.try_next()) else {
        panic!("both subscribers should hold the message");
    };
    assert!(Arc::ptr_eq(&sent, &ma) && Arc::ptr_eq(&ma, &mb));
    assert!(Arc::ptr_eq(&sent, &hub.since("c", 0).messages[0]));
}

#[async_std::test]
async fn subscribe_without_since_is_live_only() {
    let hub = Hub::default();
    publish_n(&hub, "c", 2).await;
    let mut sub = hub.subscribe("c", None);
    assert!(sub.backlog.is_empty());
    assert_eq!(sub.last, 2);
    publish_n(&hub, "c", 1).await;
    assert_eq!(drain(&mut sub), (vec![3], None));
}

#[async_std::test]
async fn subscribe_from_id_replays_then_goes_live() {
    let hub = Hub::default();
    publish_n(&hub, "c", 3).await;
    let mut sub = hub.subscribe("c", Some(1));
    assert_eq!(ids(&sub.backlog), vec![2, 3]);
    publish_n(&hub, "c", 2).await;
    assert_eq!(drain(&mut sub), (vec![4, 5], None));
}

#[test]
fn subscribe_replays_then_goes_live_without_gap_or_duplicate_under_concurrent_publish() {
    const TOTAL: usize = 1000;
    let hub = hub_with(TOTAL, TOTAL);
    // A plain thread, so the publisher truly runs beside the subscribing task.
    let publisher = {
        let hub = hub.clone();
        std::thread::spawn(move || {
            for _ in 0..TOTAL {
                block_on(publish_n(&hub, "race", 1));
                std::thread::yield_now();
            }
        })
    };
    // Subscribe over and over while the publisher runs, each time a little behind the last id, so
    // the seam between backlog and live falls at many points of the race.
    let mut subs = Vec::new();
    let mut seen = u64::MAX;
    loop {
        let last = hub.since("race", u64::MAX).last;
        if last != seen {
            seen = last;
            let since = last.saturating_sub(2);
            subs.push((since, hub.subscribe("race", Some(since))));
        }
        if last as usize >= TOTAL || subs.len() >= 100 {
            break;
        }
        std::thread::yield_now();
    }
    publisher.join().expect("publisher thread");
    assert!(subs.len() > 1);
    for (since, mut sub) in subs {
        assert_eq!(sub.missed, None);
        let mut got = ids(&sub.backlog);
        let (live, end) = drain(&mut sub);
        assert_eq!(end, None);
        got.extend(live);
        let expected: Vec<u64> = (since + 1..=TOTAL as u64).collect();
        assert_eq!(got, expected, "subscription from {since}");
    }
}

#[async_std::test]
async fn slow_subscriber_is_cut_off_while_another_gets_every_message() {
    let hub = hub_with(100, 4);
    let mut slow = hub.subscribe("c", None);
    let mut fast = hub.subscribe("c", None);
    let mut fast_got = Vec::new();
    for _ in 0..10 {
        publish_n(&hub, "c", 1).await;
        fast_got.extend(drain(&mut fast).0);
    }
    assert_eq!(fast_got, (1..=10).collect::<Vec<u64>>());
    // Cut off on the fifth message: the four queued ones are dropped, the end comes first.
    assert!(matches!(
        slow.try_next(),
        Some(Next::Ended(EndReason::Lagged))
    ));
    assert!(matches!(slow.next().await, Next::Ended(EndReason::Lagged)));
    assert_eq!(hub.stats("c").subscribers, 1);
}

#[async_std::test]
async fn next_wakes_on_publish() {
    let hub = Hub::default();
    let mut sub = hub.subscribe("c", None);
    {
        let mut next = Box::pin(sub.next());
        assert!(poll_once(next.as_mut()).await.is_none());
        hub.publish("c", "message", "x".into()).await.unwrap();
        let Next::Message(m) = next.await else {
            panic!("expected a message");
        };
        assert_eq!(m.id, 1);
    }
    assert!(sub.try_next().is_none());
}

#[test]
fn dropped_subscription_is_removed_and_an_unused_channel_retired() {
    let hub = Hub::default();
    let a = hub.subscribe("empty", Some(0));
    let b = hub.subscribe("empty", None);
    assert_eq!(hub.stats("empty").subscribers, 2);
    drop(a);
    assert_eq!(hub.stats("empty").subscribers, 1);
    drop(b);
    assert_eq!(hub.channel_count(), 0);
}

#[async_std::test]
async fn channels_with_messages_are_bounded_but_default_is_always_allowed() {
    let hub = Hub::new(HubConfig {
        max_channels: 2,
        ..HubConfig::default()
    });
    publish_n(&hub, "a", 1).await;
    publish_n(&hub, "b", 1).await;
    let refused = hub.publish("c", "message", "x".into()).await;
    assert!(matches!(refused, Err(HubError::TooManyChannels { max: 2 })));
    assert_eq!(hub.channel_count(), 2);
    publish_n(&hub, "a", 1).await;
    publish_n(&hub, DEFAULT_CHANNEL, 1).await;
}

#[async_std::test]
async fn wait_since_returns_at_once_when_the_log_has_news() {
    let hub = Hub::default();
    publish_n(&hub, "c", 3).await;
    let backlog = hub.wait_since("c", 1).await;
    assert_eq!(ids(&backlog.messages), vec![2, 3]);
    assert_eq!(hub.stats("c").waiters, 0);
}

#[async_std::test]
async fn wait_since_wakes_on_publish() {
    let hub = Hub::default();
    publish_n(&hub, "c", 1).await;
    let mut wait = Box::pin(hub.wait_since("c", 1));
    assert!(poll_once(wait.as_mut()).await.is_none());
    assert_eq!(hub.stats("c").waiters, 1);
    publish_n(&hub, "other", 1).await;
    assert!(poll_once(wait.as_mut()).await.is_none());
    publish_n(&hub, "c", 1).await;
    let backlog = wait.await;
    assert_eq!((ids(&backlog.messages), backlog.last), (vec![2], 2));
    assert_eq!(hub.stats("c").waiters, 0);
}

#[async_std::test]
async fn wait_since_wakes_from_another_task() {
    let hub = Hub::default();
    let waiter = {
        let hub = hub.clone();
        async_std::task::spawn(async move { hub.wait_since("c", 0).await })
    };
    while hub.stats("c").waiters == 0 {
        async_std::task::yield_now().await;
    }
    publish_n(&hub, "c", 1).await;
    assert_eq!(ids(&waiter.await.messages), vec![1]);
}

#[test]
fn dropped_wait_since_releases_its_waiter() {
    let hub = Hub::default();
    let mut wait = Box::pin(hub.wait_since("c", 0));
    assert!(block_on(poll_once(wait.as_mut())).is_none());
    assert_eq!(hub.stats("c").waiters, 1);
    drop(wait);
    assert_eq!(hub.stats("c").waiters, 0);
    assert_eq!(hub.channel_count(), 0);
}

#[async_std::test]
async fn wait_since_past_the_last_id_waits_for_the_id_after_it() {
    // A client that holds 1..=3 polls a restarted server whose log is being published again.
    let hub = Hub::default();
    publish_n(&hub, "c", 1).await;
    let mut wait = Box::pin(hub.wait_since("c", 3));
    assert!(poll_once(wait.as_mut()).await.is_none());
    publish_n(&hub, "c", 2).await;
    assert!(
        poll_once(wait.as_mut()).await.is_none(),
        "2 and 3 are not news"
    );
    publish_n(&hub, "c", 1).await;
    let backlog = wait.await;
    assert_eq!((ids(&backlog.messages), backlog.last), (vec![4], 4));
}

#[async_std::test]
async fn subscribe_past_the_last_id_skips_live_messages_up_to_it() {
    // An SSE or WebSocket client that holds 1..=3 reconnects to a restarted server whose log is
    // being published again: it gets 4 next, not 2 and 3 a second time.
    let hub = Hub::default();
    publish_n(&hub, "c", 1).await;
    let mut sub = hub.subscribe("c", Some(3));
    assert!(sub.backlog.is_empty());
    assert_eq!(sub.last, 1);
    publish_n(&hub, "c", 3).await;
    assert_eq!(drain(&mut sub), (vec![4], None));
    publish_n(&hub, "c", 1).await;
    assert_eq!(drain(&mut sub), (vec![5], None));
}

#[async_std::test]
async fn shutdown_ends_subscriptions_releases_waiters_and_refuses_publish() {
    let hub = Hub::default();
    let mut sub = hub.subscribe("c", None);
    publish_n(&hub, "c", 1).await;
    let mut wait = Box::pin(hub.wait_since("c", 1));
    assert!(poll_once(wait.as_mut()).await.is_none());

    hub.shutdown();

    assert!(matches!(sub.next().await, Next::Ended(EndReason::Shutdown)));
    assert!(wait.await.messages.is_empty());
    assert_eq!(hub.stats("c").waiters, 0);
    let refused = hub.publish("c", "message", "x".into()).await;
    assert!(matches!(refused, Err(HubError::ShuttingDown)));
    let mut late = hub.subscribe("c", Some(0));
    assert_eq!(ids(&late.backlog), vec![1]);
    assert!(matches!(
        late.try_next(),
        Some(Next::Ended(EndReason::Shutdown))
    ));
}

#[async_std::test]
async fn ticker_publishes_one_tick_per_interval_with_the_boundary_time() {
    let hub = Hub::default();
    let clock = Clock::manual();
    let manual = clock.as_manual().expect("manual clock").clone();
    let mut ticker = Ticker::new(hub.clone(), clock, Duration::from_secs(1));
    assert_eq!(ticker.fire_due().await, 0);
    manual.advance(Duration::from_millis(3500));
    assert_eq!(ticker.fire_due().await, 3);
    assert_eq!(ticker.fire_due().await, 0);
    let data: Vec<String> = hub
        .since(DEFAULT_CHANNEL, 0)
        .messages
        .iter()
        .map(|m| m.data.clone())
        .collect();
    assert_eq!(
        data,
        [
            "2024-01-01T00:00:01Z",
            "2024-01-01T00:00:02Z",
            "2024-01-01T00:00:03Z"
        ]
    );
    manual.advance(Duration::from_millis(500));
    assert_eq!(ticker.fire_due().await, 1);
    assert_eq!(
        hub.since(DEFAULT_CHANNEL, 3).messages[0].data,
        "2024-01-01T00:00:04Z"
    );
}

#[async_std::test]
async fn ticker_caps_catch_up_after_a_huge_advance() {
    let hub = Hub::default();
    let clock = Clock::manual();
    let manual = clock.as_manual().expect("manual clock").clone();
    let mut ticker = Ticker::new(hub.clone(), clock.clone(), Duration::from_secs(1));
    manual.advance(Duration::from_secs(100_000));
    assert_eq!(ticker.fire_due().await, Ticker::MAX_CATCH_UP);
    assert_eq!(ticker.fire_due().await, 0);
    assert_eq!(ticker.next_due(), clock.now() + Duration::from_secs(1));
}

#[async_std::test]
async fn ticker_run_sleeps_on_the_clock_and_stops_at_shutdown() {
    let hub = Hub::default();
    let clock = Clock::manual();
    let manual = clock.as_manual().expect("manual clock").clone();
    let mut sub = hub.subscribe(DEFAULT_CHANNEL, None);
    let running =
        async_std::task::spawn(Ticker::new(hub.clone(), clock, Duration::from_secs(1)).run());
    manual.advance(Duration::from_secs(1));
    let Next::Message(tick) = sub.next().await else {
        panic!("expected a tick");
    };
    assert_eq!(tick.data, "2024-01-01T00:00:01Z");
    while manual.sleepers() == 0 {
        async_std::task::yield_now().await;
    }
    hub.shutdown();
    manual.advance(Duration::from_secs(1));
    running.await;
    assert_eq!(hub.since(DEFAULT_CHANNEL, 0).last, 1);
}
