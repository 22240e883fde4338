//! Server-side HTTP/1.x under the tide app: the response encoder ([`encode`]) and the exchange of
//! one request for one response ([`exchange`]). The head is parsed once ([`super::request`]), the
//! body is read through the connection's gate ([`super::stream`]), tide routes the request.

pub mod encode;
pub mod exchange;
