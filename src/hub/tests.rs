//! Hub behaviour on the manual clock, with no sleeps: ordering, replay-then-live, the bounded log,
//! lag cut-off, long-poll wake and release, shutdown, channel bounds and the ticker.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::{block_on, poll_once};

use super::*;
use crate::clock::Clock;

/// An unpaced hub (publishes never wait): these tests are about order, bounds and ends.
fn hub_with(log_capacity: usize, subscriber_queue: usize) -> Hub {
    Hub::new(HubConfig {
        log_capacity,
        subscriber_queue,
        pacing: None,
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

/// A hub on a manual clock whose publishes wait for subscribers with more than `window` queued.
fn paced_hub(window: usize, grace: Duration, subscriber_queue: usize) -> (Hub, Clock) {
    let clock = Clock::manual();
    let config = HubConfig {
        subscriber_queue,
        pacing: Some(Pacing { window, grace }),
        ..HubConfig::default()
    };
    let hub = Hub::on_clock(config, clock.clone());
    (hub, clock)
}

#[test]
fn a_publish_is_answered_once_subscribers_in_step_have_taken_it_within_the_window() {
    let (hub, _clock) = paced_hub(2, Duration::from_secs(3600), 100);
    let mut sub = hub.subscribe("c", None);
    // Two queued: within the window, answered at once.
    for _ in 0..2 {
        assert!(block_on(poll_once(hub.publish("c", "message", "x".into()))).is_some());
    }
    let mut third = Box::pin(hub.publish("c", "message", "x".into()));
    assert!(block_on(poll_once(third.as_mut())).is_none(), "ran ahead");
    assert!(block_on(poll_once(third.as_mut())).is_none(), "ran ahead");
    // The subscriber takes one: two queued again, the publish is answered.
    assert!(matches!(sub.try_next(), Some(Next::Message(m)) if m.id == 1));
    let third = block_on(poll_once(third.as_mut())).expect("answered once taken");
    assert_eq!(third.expect("published").id, 3);
    assert_eq!(drain(&mut sub), (vec![2, 3], None));
}

#[test]
fn a_subscriber_that_takes_nothing_holds_publishes_for_the_grace_once_then_is_cut_off() {
    let grace = Duration::from_millis(100);
    let (hub, clock) = paced_hub(1, grace, 4);
    let manual = clock.as_manual().expect("manual clock").clone();
    let mut stalled = hub.subscribe("c", None);
    let mut healthy = hub.subscribe("c", None);
    let mut healthy_got = Vec::new();
    assert!(block_on(poll_once(hub.publish("c", "message", "1".into()))).is_some());
    healthy_got.extend(drain(&mut healthy).0);
    // The stalled subscriber now has two queued: the publish waits for it, on the clock.
    let mut second = Box::pin(hub.publish("c", "message", "2".into()));
    assert!(block_on(poll_once(second.as_mut())).is_none());
    healthy_got.extend(drain(&mut healthy).0);
    manual.advance(grace - Duration::from_millis(1));
    assert!(block_on(poll_once(second.as_mut())).is_none());
    manual.advance(Duration::from_millis(1));
    assert!(block_on(poll_once(second.as_mut())).is_some());
    // Marked slow: not waited for again; cut off by its queue bound as before (the fifth).
    for n in 3..=6 {
        let published = block_on(poll_once(hub.publish("c", "message", n.to_string())));
        assert!(
            published.is_some(),
            "publish {n} waited for a slow subscriber"
        );
        healthy_got.extend(drain(&mut healthy).0);
    }
    assert_eq!(healthy_got, (1..=6).collect::<Vec<u64>>());
    assert_eq!(drain(&mut stalled), (vec![], Some(EndReason::Lagged)));
    assert_eq!(hub.stats("c").subscribers, 1);
}

#[test]
fn a_slow_subscriber_that_catches_up_is_waited_for_again() {
    let grace = Duration::from_millis(100);
    let (hub, clock) = paced_hub(1, grace, 100);
    let manual = clock.as_manual().expect("manual clock").clone();
    let mut sub = hub.subscribe("c", None);
    assert!(block_on(poll_once(hub.publish("c", "message", "1".into()))).is_some());
    let mut second = Box::pin(hub.publish("c", "message", "2".into()));
    assert!(block_on(poll_once(second.as_mut())).is_none());
    manual.advance(grace);
    assert!(block_on(poll_once(second.as_mut())).is_some());
    assert!(block_on(poll_once(hub.publish("c", "message", "3".into()))).is_some());
    assert_eq!(drain(&mut sub), (vec![1, 2, 3], None));
    // Back in step: two queued is one past the window again, and the publish waits.
    assert!(block_on(poll_once(hub.publish("c", "message", "4".into()))).is_some());
    let mut fifth = Box::pin(hub.publish("c", "message", "5".into()));
    assert!(block_on(poll_once(fifth.as_mut())).is_none());
    assert!(matches!(sub.try_next(), Some(Next::Message(m)) if m.id == 4));
    assert!(block_on(poll_once(fifth.as_mut())).is_some());
}

#[test]
fn a_subscriber_that_leaves_while_behind_releases_the_publish() {
    let (hub, _clock) = paced_hub(1, Duration::from_secs(3600), 100);
    let sub = hub.subscribe("c", None);
    assert!(block_on(poll_once(hub.publish("c", "message", "1".into()))).is_some());
    let mut second = Box::pin(hub.publish("c", "message", "2".into()));
    assert!(block_on(poll_once(second.as_mut())).is_none());
    drop(sub);
    assert!(block_on(poll_once(second.as_mut())).is_some());
}

/// Whether `publish` is answered on its first poll (it did not wait).
fn answered_at_once<F: std::future::Future>(publish: F) -> bool {
    block_on(poll_once(std::pin::pin!(publish))).is_some()
}

#[test]
fn a_publish_to_a_channel_without_subscribers_or_with_long_polls_only_is_answered_at_once() {
    let (hub, _clock) = paced_hub(0, Duration::from_secs(3600), 100);
    for n in 0..10 {
        assert!(answered_at_once(hub.publish("c", "message", n.to_string())));
    }
    // A long poll has no queue: it is released, never waited for.
    let mut waiting = Box::pin(hub.wait_since("c", 10));
    assert!(block_on(poll_once(waiting.as_mut())).is_none());
    assert_eq!(hub.stats("c").waiters, 1);
    for n in 10..20 {
        assert!(answered_at_once(hub.publish("c", "message", n.to_string())));
    }
    let backlog = block_on(poll_once(waiting.as_mut())).expect("released");
    assert_eq!(backlog.messages.first().map(|m| m.id), Some(11));
}

#[test]
fn a_subscriber_that_publishes_does_not_wait_for_its_own_queue() {
    // As a `/ws` client does: the task that would drain its queue is the one publishing.
    let (hub, _clock) = paced_hub(1, Duration::from_secs(3600), 100);
    let mut own = hub.subscribe("c", None);
    let publisher = own.publisher();
    for n in 1..=5 {
        assert!(
            answered_at_once(hub.publish_from(&publisher, "c", "message", n.to_string())),
            "publish {n} waited for its own queue"
        );
    }
    // Its queue is behind all the same: another publisher waits for it, until it drains.
    let mut other = Box::pin(hub.publish("c", "message", "6".into()));
    assert!(block_on(poll_once(other.as_mut())).is_none());
    assert_eq!(drain(&mut own), (vec![1, 2, 3, 4, 5, 6], None));
    assert!(block_on(poll_once(other.as_mut())).is_some());
}

#[test]
fn a_subscriber_that_publishes_still_waits_for_the_others() {
    let (hub, _clock) = paced_hub(1, Duration::from_secs(3600), 100);
    let own = hub.subscribe("c", None);
    let publisher = own.publisher();
    let mut healthy = hub.subscribe("c", None);
    assert!(answered_at_once(hub.publish_from(
        &publisher,
        "c",
        "message",
        "1".into()
    )));
    let mut second = Box::pin(hub.publish_from(&publisher, "c", "message", "2".into()));
    assert!(block_on(poll_once(second.as_mut())).is_none());
    assert_eq!(drain(&mut healthy), (vec![1, 2], None));
    assert!(block_on(poll_once(second.as_mut())).is_some());
    drop(second);
    // Its own publish over, its queue (two behind) is waited for again.
    let mut third = Box::pin(hub.publish("c", "message", "3".into()));
    assert!(block_on(poll_once(third.as_mut())).is_none());
    drop(own);
    assert!(block_on(poll_once(third.as_mut())).is_some());
}

#[test]
fn no_publish_waits_past_the_grace_however_many_wait_at_once() {
    let grace = Duration::from_millis(100);
    let (hub, clock) = paced_hub(0, grace, 1000);
    let manual = clock.as_manual().expect("manual clock").clone();
    let mut stalled = hub.subscribe("c", None);
    let mut waiting: Vec<_> = (1..=3)
        .map(|n| Box::pin(hub.publish("c", "message", n.to_string())))
        .collect();
    for publish in &mut waiting {
        assert!(block_on(poll_once(publish.as_mut())).is_none());
    }
    manual.advance(grace);
    for publish in &mut waiting {
        let published = block_on(poll_once(publish.as_mut())).expect("answered at the grace");
        assert!(published.is_ok());
    }
    // Slow now: not waited for again until it catches up.
    assert!(answered_at_once(hub.publish("c", "message", "4".into())));
    assert_eq!(drain(&mut stalled), (vec![1, 2, 3, 4], None));
    let mut fifth = Box::pin(hub.publish("c", "message", "5".into()));
    assert!(
        block_on(poll_once(fifth.as_mut())).is_none(),
        "in step again"
    );
}

#[test]
fn an_unpaced_hub_never_waits() {
    let hub = hub_with(100, 100);
    let _stalled = hub.subscribe("c", None);
    for n in 0..50 {
        assert!(answered_at_once(hub.publish("c", "message", n.to_string())));
    }
}
