//! `bench floor`: the least a server can do for a fan-out, to measure others against. It takes
//! SSE (`/sseStream`) and WebSocket (`/ws`) subscribers and `POST /publish`, and writes each
//! published message to every subscriber with one plain blocking `write` per socket, from the
//! publishing connection's thread, before it answers `{"id":N}`. The bytes are the ones
//! `longconn serve` sends ([`Message::sse_event`], [`Message::websocket_frame`]), so
//! `bench fanout` measures both alike and CPU per delivery compares directly.
//!
//! Nothing else: no channels (every subscriber gets every message), no log, no heartbeats, no
//! limits beyond the request head's; a subscriber whose write fails is dropped. It is a yardstick
//! for loopback benchmarks, not a server.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::hub::Message;
use crate::wire::http::{parse_request_head, RequestHead};
use crate::wire::websocket::accept_key;

/// Arguments of `bench floor`.
#[derive(Debug, Clone, clap::Args)]
pub struct FloorArgs {
    /// Where to listen (loopback; port 0 picks a free one, printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
}

/// The subscribers, by encoding.
#[derive(Default)]
struct Subscribers {
    sse: Vec<TcpStream>,
    ws: Vec<TcpStream>,
    published: u64,
}

/// Serves until the process is killed; returns only when the address cannot be bound.
pub fn serve(args: &FloorArgs) -> io::Result<()> {
    if !args.addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the floor listens on loopback addresses only",
        ));
    }
    let listener = TcpListener::bind(args.addr)?;
    println!("listening on http://{}", listener.local_addr()?);
    let subscribers = Arc::new(Mutex::new(Subscribers::default()));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let subscribers = subscribers.clone();
        // A thread per connection only while its head is read (a publisher's: for its life).
        std::thread::spawn(move || {
            let _ = connection(stream, &subscribers);
        });
    }
    Ok(())
}

fn connection(mut stream: TcpStream, subscribers: &Mutex<Subscribers>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::new();
    loop {
        let head = read_head(&mut stream, &mut buf)?;
        buf.drain(..head.length);
        let path = head.target().split('?').next().unwrap_or("");
        match (head.method(), path) {
            ("GET", "/sseStream") => {
                stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
                )?;
                lock(subscribers).sse.push(stream);
                return Ok(());
            }
            ("GET", "/ws") => {
                let key = head.header("Sec-WebSocket-Key").unwrap_or("");
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    accept_key(key)
                );
                stream.write_all(answer.as_bytes())?;
                lock(subscribers).ws.push(stream);
                return Ok(());
            }
            ("POST", "/publish") => {
                let length: usize = head
                    .header("Content-Length")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < length {
                    let mut chunk = [0u8; 4096];
                    let n = stream.read(&mut chunk)?;
                    if n == 0 {
                        return Ok(());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body: Vec<u8> = buf.drain(..length).collect();
                let id = publish(subscribers, String::from_utf8_lossy(&body).into_owned());
                let json = format!(r#"{{"id":{id}}}"#);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
                    json.len()
                );
                stream.write_all(answer.as_bytes())?;
            }
            _ => {
                stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            }
        }
    }
}

/// Writes the message to every subscriber, one blocking write each; returns its id.
fn publish(subscribers: &Mutex<Subscribers>, data: String) -> u64 {
    let mut subscribers = lock(subscribers);
    subscribers.published += 1;
    let message = Message::new(subscribers.published, "message", data);
    let (sse, ws) = (message.sse_event(), message.websocket_frame());
    subscribers.sse.retain_mut(|s| s.write_all(&sse).is_ok());
    subscribers.ws.retain_mut(|s| s.write_all(&ws).is_ok());
    subscribers.published
}

/// Reads until `buf` holds a whole request head.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<RequestHead> {
    loop {
        match parse_request_head(buf) {
            Ok(Some(head)) => return Ok(head),
            Ok(None) => {}
            Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn lock(subscribers: &Mutex<Subscribers>) -> std::sync::MutexGuard<'_, Subscribers> {
    subscribers.lock().unwrap_or_else(|e| e.into_inner())
}
