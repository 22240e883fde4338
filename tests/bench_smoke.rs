//! Smoke of `longconn bench` through the library API, so the load generator cannot rot: each
//! workload runs with a few clients for about a second against the embedded server, and the test
//! checks the figures are there and fan-out loses nothing. No timing assertions: CI machines vary.
//!
//! - `idle_ws_holds_every_client`, `idle_sse_holds_every_client`
//! - `fanout_ws_loses_nothing`, `fanout_sse_loses_nothing`
//! - `poll_reports_throughput_and_latency`
//! - `bench_refuses_a_non_loopback_target`

use std::time::Duration;

use longconn::bench::{fanout, idle, poll, BenchError, FanoutArgs, IdleArgs, PollArgs, Transport};
use longconn::clock::Clock;
use longconn::server::{Config, Server};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn server() -> Result<(Server, String), Box<dyn std::error::Error>> {
    let config = Config {
        addr: "127.0.0.1:0".parse()?,
        ..Default::default()
    };
    let server = Server::start(config, Clock::System).await?;
    let url = format!("http://{}", server.addr());
    Ok((server, url))
}

fn fields(report: &impl serde::Serialize) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(report)
}

fn assert_has(json: &serde_json::Value, names: &[&str]) {
    for name in names {
        assert!(json.get(name).is_some(), "no `{name}` in {json}");
    }
}

async fn idle_holds_every_client(transport: Transport) -> TestResult {
    let (server, target) = server().await?;
    let args = IdleArgs {
        target,
        transport,
        clients: 5,
        hold: Duration::from_millis(500),
    };
    let report = idle(&args).await?;
    let json = fields(&report)?;
    assert_has(&json, &["workload", "transport", "clients", "held"]);
    assert_eq!(json["workload"], "idle");
    assert_eq!(report.held, 5, "{json}");
    server.shutdown().await;
    Ok(())
}

#[async_std::test]
async fn idle_ws_holds_every_client() -> TestResult {
    idle_holds_every_client(Transport::Ws).await
}

#[async_std::test]
async fn idle_sse_holds_every_client() -> TestResult {
    idle_holds_every_client(Transport::Sse).await
}

async fn fanout_loses_nothing(transport: Transport) -> TestResult {
    let (server, target) = server().await?;
    let args = FanoutArgs {
        target: vec![target],
        transport,
        clients: 5,
        messages: 10,
        rate: 20.0,
        drain: Duration::from_secs(5),
        channel: None,
    };
    let report = fanout(&args).await?;
    let json = fields(&report)?;
    assert_has(
        &json,
        &[
            "expected",
            "delivered",
            "lost",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "p50_from_schedule_ms",
            "p99_from_schedule_ms",
            "published_per_s",
            "client_cpu_us_per_delivery",
        ],
    );
    assert_eq!(report.expected, 50, "{json}");
    // Ten messages: the rate between the first publish and the last is known.
    assert!(report.published_per_s.is_some_and(|r| r > 0.0), "{json}");
    // Latency from the schedule counts from no later than the send time (histogram buckets are
    // within 1%; 50 µs for the two clocks the stamps are read on).
    assert!(
        report.p99_from_schedule_ms >= report.p99_ms * 0.99 - 0.05,
        "{json}"
    );
    assert!(report.client_cpu_us_per_delivery.is_some(), "{json}");
    assert_eq!(report.lost, 0, "{json}");
    server.shutdown().await;
    Ok(())
}

#[async_std::test]
async fn fanout_ws_loses_nothing() -> TestResult {
    fanout_loses_nothing(Transport::Ws).await
}

#[async_std::test]
async fn fanout_sse_loses_nothing() -> TestResult {
    fanout_loses_nothing(Transport::Sse).await
}

#[async_std::test]
async fn poll_reports_throughput_and_latency() -> TestResult {
    let (server, target) = server().await?;
    let args = PollArgs {
        target,
        connections: 2,
        duration: Duration::from_millis(500),
    };
    let report = poll(&args).await?;
    let json = fields(&report)?;
    assert_has(&json, &["workload", "requests_per_s", "p99_ms"]);
    assert!(report.requests > 0, "{json}");
    assert_eq!(report.errors, 0, "{json}");
    server.shutdown().await;
    Ok(())
}

#[async_std::test]
async fn bench_refuses_a_non_loopback_target() {
    let args = PollArgs {
        target: "http://192.0.2.1:80".into(),
        connections: 1,
        duration: Duration::from_millis(10),
    };
    assert!(matches!(poll(&args).await, Err(BenchError::Target(_))));
}
