//! Pure byte formats, shared by the server that writes them and the runner that reads them.
//! No I/O in here: every encoder is a function from values to bytes, every decoder a function from
//! bytes to values (or a precise error), each tested against byte literals beside it.

pub mod deflate;
pub mod escape;
#[cfg(test)]
mod fuzz;
pub mod html;
pub mod http;
pub mod jsonp;
pub mod sse;
pub mod websocket;
