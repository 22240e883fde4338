//! Why a route refused a request, as a typed enum; each variant knows its status and body.

use tide::{Response, StatusCode};

use super::params::ParamError;
use crate::hub::HubError;

/// A refusal a route answers with a 4xx/5xx status and a one-line plain-text body.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A query parameter that cannot be used.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// `/jsonp` without `callback`.
    #[error("\"callback\" parameter required")]
    CallbackMissing,
    /// `/jsonp` with a callback outside `^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$`.
    #[error("invalid \"callback\" parameter")]
    CallbackInvalid,
    /// A `Last-Event-ID` header that is not a message id.
    #[error("invalid \"Last-Event-ID\" header")]
    LastEventId,
    /// A `/publish` body that is not UTF-8.
    #[error("body must be UTF-8")]
    NotUtf8,
    /// A `/publish` body over `--max-message-bytes`.
    #[error("body larger than {max} bytes")]
    TooLarge {
        /// The configured limit.
        max: usize,
    },
    /// A request body that stalled mid-way.
    #[error("request body timed out")]
    BodyTimeout,
    /// A request body that could not be read (bad chunked framing, connection error).
    #[error("request body could not be read")]
    BodyRead,
    /// A request from a page whose `Origin` is not allowed.
    #[error("origin not allowed")]
    ForeignOrigin,
    /// The hub refused the publish.
    #[error(transparent)]
    Hub(#[from] HubError),
}

impl RouteError {
    /// The status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            RouteError::Param(_)
            | RouteError::CallbackMissing
            | RouteError::CallbackInvalid
            | RouteError::LastEventId
            | RouteError::NotUtf8
            | RouteError::BodyRead => StatusCode::BadRequest,
            RouteError::TooLarge { .. } => StatusCode::PayloadTooLarge,
            RouteError::BodyTimeout => StatusCode::RequestTimeout,
            RouteError::ForeignOrigin => StatusCode::Forbidden,
            RouteError::Hub(HubError::ShuttingDown) => StatusCode::ServiceUnavailable,
            RouteError::Hub(HubError::TooManyChannels { .. }) => StatusCode::InsufficientStorage,
            RouteError::Hub(HubError::Unavailable { .. } | HubError::Store(_)) => {
                StatusCode::ServiceUnavailable
            }
        }
    }
}

impl From<RouteError> for Response {
    fn from(error: RouteError) -> Response {
        let status = error.status();
        let mut res = Response::new(status);
        res.set_body(error.to_string());
        res.set_content_type("text/plain; charset=utf-8");
        if matches!(
            error,
            RouteError::TooLarge { .. } | RouteError::BodyTimeout | RouteError::BodyRead
        ) {
            // The rest of the body is not worth reading (or cannot be framed): close instead of
            // keeping the connection; the accept loop then never reads it.
            res.insert_header("Connection", "close");
        }
        res
    }
}

/// Turns a route's result into the response tide sends.
pub fn respond(result: Result<Response, RouteError>) -> tide::Result {
    Ok(result.unwrap_or_else(Response::from))
}
