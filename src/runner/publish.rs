//! `publish: { channel, event, data, server }`: `POST /publish?channel=C&event=E` through surf, the
//! HTTP client the user chose, aimed at the server; the answer (`{"id":N}`) goes in the transcript.

use std::time::Duration;

use super::error::StepFailure;
use super::transcript::{quoted, Transcript};
use crate::spec::Publish;

/// A surf client for `authority` (`host:port`).
pub fn client(authority: &str, timeout: Duration) -> Result<surf::Client, StepFailure> {
    let base = surf::Url::parse(&format!("http://{authority}/")).map_err(|error| {
        StepFailure::Publish(format!("bad server address {authority}: {error}"))
    })?;
    let config = surf::Config::new()
        .set_base_url(base)
        .set_timeout(Some(timeout));
    config
        .try_into()
        .map_err(|error: std::convert::Infallible| StepFailure::Publish(error.to_string()))
}

/// Runs one `publish` step.
pub async fn publish(
    client: &surf::Client,
    step: &Publish,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let mut url = client
        .config()
        .base_url
        .clone()
        .ok_or_else(|| StepFailure::Publish("the client has no base URL".into()))?;
    url.set_path("/publish");
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("channel", &step.channel);
        if let Some(event) = &step.event {
            query.append_pair("event", event);
        }
    }
    let request = client.post(url).body_string(step.data.clone());
    let mut response = client
        .send(request)
        .await
        .map_err(|error| StepFailure::Publish(error.to_string()))?;
    let status = response.status();
    let body = response
        .body_bytes()
        .await
        .map_err(|error| StepFailure::Publish(error.to_string()))?;
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
    Ok(())
}
