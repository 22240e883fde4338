//! `publish: { channel, event, data, server }`: `POST /publish?channel=C&event=E` through surf, the
//! HTTP client the user chose, aimed at the server (over the runner's own TLS stream for an
//! `https`/`wss` target); the answer (`{"id":N}`) goes in the transcript.

use std::time::{Duration, Instant};

use super::error::StepFailure;
use super::transcript::{quoted, Transcript};
use super::transport::{self, TlsTarget};
use crate::spec::Publish;

/// A surf client for `authority` (`host:port`), through TLS when `tls` is given.
pub fn client(
    authority: &str,
    tls: Option<&TlsTarget>,
    timeout: Duration,
) -> Result<surf::Client, StepFailure> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = surf::Url::parse(&format!("{scheme}://{authority}/")).map_err(|error| {
        StepFailure::Publish(format!("bad server address {authority}: {error}"))
    })?;
    let mut config = surf::Config::new()
        .set_base_url(base)
        .set_timeout(Some(timeout));
    if let Some(tls) = tls {
        config = config.set_http_client(TlsClient {
            authority: authority.to_string(),
            tls: tls.clone(),
            timeout,
        });
    }
    config
        .try_into()
        .map_err(|error: std::convert::Infallible| StepFailure::Publish(error.to_string()))
}

/// surf's HTTP client for a TLS target: one connection per request, through the runner's TLS
/// stream (its roots, `--cacert`, `--insecure`, SNI), with async-h1 writing and reading the
/// HTTP/1.1 exchange as surf's own h1 client does over TCP.
#[derive(Debug)]
struct TlsClient {
    authority: String,
    tls: TlsTarget,
    /// For the connection, the handshake and the response head together.
    timeout: Duration,
}

#[async_trait::async_trait]
impl surf::HttpClient for TlsClient {
    async fn send(
        &self,
        request: surf::http::Request,
    ) -> Result<surf::http::Response, surf::Error> {
        let deadline = Instant::now() + self.timeout;
        let connected = transport::connect(&self.authority, Some(&self.tls), self.timeout)
            .await
            .map_err(|error| surf::Error::from_str(surf::StatusCode::BadGateway, error))?;
        let left = deadline.saturating_duration_since(Instant::now());
        async_std::future::timeout(left, async_h1::connect(connected.stream, request))
            .await
            .map_err(|_| {
                surf::Error::from_str(
                    surf::StatusCode::GatewayTimeout,
                    format!("no answer from {} in time", self.authority),
                )
            })?
    }
}

/// Runs one `publish` step.
pub async fn publish(
    client: &surf::Client,
    step: &Publish,
    prefix: &str,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let mut url = client
        .config()
        .base_url
        .clone()
        .ok_or_else(|| StepFailure::Publish("the client has no base URL".into()))?;
    url.set_path(&format!("{prefix}/publish"));
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("channel", &step.channel);
        if let Some(event) = &step.event {
            query.append_pair("event", event);
        }
    }
    let request = client.post(url).body_string(step.data.clone());
    // One deadline for the whole exchange, head and body: a server that never ends its answer,
    // or sends it a byte at a time, cannot hold the step; the body is read with a bound, so one
    // that sends without end cannot fill the memory.
    let exchange = async {
        let mut response = client
            .send(request)
            .await
            .map_err(|error| StepFailure::Publish(error.to_string()))?;
        let mut body = Vec::new();
        let mut reader = futures_lite::io::AsyncReadExt::take(response.take_body(), MAX_ANSWER + 1);
        futures_lite::io::AsyncReadExt::read_to_end(&mut reader, &mut body)
            .await
            .map_err(|error| StepFailure::Publish(error.to_string()))?;
        Ok::<_, StepFailure>((response.status(), body))
    };
    let (status, body) = async_std::future::timeout(crate::spec::DEFAULT_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            StepFailure::Publish(format!(
                "the answer did not end within {}",
                super::transcript::format_duration(crate::spec::DEFAULT_TIMEOUT)
            ))
        })??;
    if body.len() as u64 > MAX_ANSWER {
        return Err(StepFailure::Publish(format!(
            "the answer's body is over {MAX_ANSWER} bytes"
        )));
    }
    let mut note = format!("publish channel={}", step.channel);
    if let Some(event) = &step.event {
        note.push_str(&format!(" event={}", quoted(event.as_bytes())));
    }
    note.push_str(&format!(
        " data={} -> {} {}",
        quoted(step.data.as_bytes()),
        u16::from(status),
        quoted(&body)
    ));
    transcript.note(note);
    super::request::check_status(step.status, u16::from(status))
}

/// The most bytes of a publish answer the runner reads.
const MAX_ANSWER: u64 = 1024 * 1024;
