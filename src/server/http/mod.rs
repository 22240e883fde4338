//! Server-side HTTP/1.x under the tide app, which stays the only router: the accept loop and
//! each connection's life ([`accept`]), connection accounting ([`connections`]), the one head
//! parse and its checks ([`head`]), request bodies ([`body`], read through the connection's gate,
//! [`client`]), the exchange of a request for a response ([`exchange`]), the one response
//! encoder with the date cache ([`encode`]), the wait for the next head ([`deadline`]), the
//! answers the accept loop writes itself for the route table's fast responders ([`fast`]), and
//! the read readiness that keeps a connection's wake-ups from reading its socket ([`readiness`]).

pub mod accept;
pub mod body;
pub mod client;
pub mod connections;
pub mod deadline;
pub mod encode;
pub mod exchange;
pub mod fast;
pub mod head;
pub mod readiness;
