//! The receiving side of `bench fanout`: a thread that reads every subscriber handed to it with
//! one epoll readiness loop (epoll(7), level-triggered), one reused buffer per socket and a
//! [`Decoder`], and checks off each subscriber's sequence numbers.
//!
//! Counts and latency histograms are the thread's own while it runs; the thread publishes its
//! running totals once per wake-up (for progress and the end of the drain) and hands the whole
//! [`Tally`] back when stopped, so a delivery costs no shared atomic and no cross-thread wake-up.

use std::io::{self, Write as _};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rustix::buffer::spare_capacity;
use rustix::event::{epoll, eventfd, EventfdFlags, Timespec};

use super::client::number_after;
use super::decode::{Decoder, Flow, Framing, Item};
use super::histogram::Histogram;
use super::now_micros;
use crate::wire::websocket::{self, opcode, Frame};

/// Bytes asked of one `read` (and room kept per subscriber: 8 MiB for 2,000 of them).
const READ_SIZE: usize = 4 << 10;
/// Largest unfinished message a subscriber may leave buffered.
pub const MAX_UNPARSED: usize = 1 << 20;
/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 1024;
/// The epoll key of the wake-up eventfd; subscribers are keyed by their index.
const WAKE: u64 = u64::MAX;
/// The longest the loop sleeps without an event before it looks at the stop flag again.
const IDLE_WAIT: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};

/// A subscriber after its handshake, for the loop to read.
#[derive(Debug)]
pub struct Handoff {
    /// Its socket (non-blocking).
    pub stream: TcpStream,
    /// Bytes already read past the handshake.
    pub buffered: Vec<u8>,
    /// How its stream is framed.
    pub framing: Framing,
}

/// What every subscriber expects: messages `0..messages`, due `interval_us` apart.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Timed messages to be published.
    pub messages: u64,
    /// µs between two messages' due times.
    pub interval_us: f64,
}

/// What one loop counted.
#[derive(Debug, Default)]
pub struct Tally {
    /// Distinct (subscriber, message) pairs received.
    pub delivered: u64,
    /// Subscribers that saw a warm-up message.
    pub ready: u64,
    /// Receive − send time, µs.
    pub latencies: Histogram,
    /// Receive − due time, µs.
    pub from_schedule: Histogram,
    /// The last delivery's receive time (unix µs; 0 before any).
    pub last_delivery: u64,
    /// Subscribers whose stream ended or failed before the stop.
    pub ended: u64,
    /// The first such ending, said precisely.
    pub first_error: Option<String>,
}

impl Tally {
    /// Adds `other`'s counts into this one.
    pub fn merge(&mut self, other: &Tally) {
        self.delivered += other.delivered;
        self.ready += other.ready;
        self.latencies.merge(&other.latencies);
        self.from_schedule.merge(&other.from_schedule);
        self.last_delivery = self.last_delivery.max(other.last_delivery);
        self.ended += other.ended;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

/// What the loop and the task driving the workload share: written once per wake-up or more
/// rarely, never per delivery.
#[derive(Debug)]
struct Board {
    inbox: Mutex<Vec<Handoff>>,
    wake: OwnedFd,
    stop: AtomicBool,
    /// When the first timed message was due (unix µs; 0 until publishing starts).
    schedule_start: AtomicU64,
    delivered: AtomicU64,
    ready: AtomicU64,
    ended: AtomicU64,
}

impl Board {
    fn wake(&self) {
        // eventfd(2): a write adds to the counter and makes the fd readable. It can only fail
        // when the counter would overflow, and then it is readable already.
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

/// One receiving thread.
#[derive(Debug)]
pub struct Receiver {
    board: Arc<Board>,
    thread: Mutex<Option<JoinHandle<io::Result<Tally>>>>,
}

impl Receiver {
    /// Starts a thread that receives for `plan`.
    pub fn start(plan: Plan) -> io::Result<Receiver> {
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        let board = Arc::new(Board {
            inbox: Mutex::new(Vec::new()),
            wake,
            stop: AtomicBool::new(false),
            schedule_start: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            ready: AtomicU64::new(0),
            ended: AtomicU64::new(0),
        });
        let looped = board.clone();
        let thread = std::thread::Builder::new()
            .name("fanout-receiver".into())
            .spawn(move || receive(&looped, plan))?;
        Ok(Receiver {
            board,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Gives the loop one more subscriber.
    pub fn hand(&self, handoff: Handoff) {
        if let Ok(mut inbox) = self.board.inbox.lock() {
            inbox.push(handoff);
        }
        self.board.wake();
    }

    /// Says when the first timed message was due (unix µs).
    pub fn start_schedule(&self, micros: u64) {
        self.board.schedule_start.store(micros, Ordering::Release);
    }

    /// Deliveries so far (as of the loop's last wake-up).
    pub fn delivered(&self) -> u64 {
        self.board.delivered.load(Ordering::Relaxed)
    }

    /// Subscribers ready so far (as of the loop's last wake-up).
    pub fn ready(&self) -> u64 {
        self.board.ready.load(Ordering::Relaxed)
    }

    /// Subscribers whose stream ended or failed so far (as of the loop's last wake-up).
    pub fn ended(&self) -> u64 {
        self.board.ended.load(Ordering::Relaxed)
    }

    /// Stops the loop (WebSocket subscribers are sent a close frame) and returns its tally;
    /// an empty one when stopped before.
    pub fn stop(&self) -> io::Result<Tally> {
        self.board.stop.store(true, Ordering::Release);
        self.board.wake();
        let thread = self.thread.lock().ok().and_then(|mut thread| thread.take());
        match thread.map(JoinHandle::join) {
            Some(Ok(tally)) => tally,
            Some(Err(_)) => Err(io::Error::other("the receiving thread panicked")),
            None => Ok(Tally::default()),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // A receiver dropped without `stop` (an early error return) still ends its thread.
        self.board.stop.store(true, Ordering::Release);
        self.board.wake();
    }
}

/// One subscriber inside the loop.
struct Subscriber {
    stream: TcpStream,
    buf: Vec<u8>,
    decoder: Decoder,
    framing: Framing,
    checks: Checklist,
}

/// Why a subscriber stopped before the loop did.
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Decode(#[from] super::decode::DecodeError),
    #[error("the server closed the connection")]
    Eof,
    #[error("the server sent a close frame{}", code.map(|c| format!(" ({c})")).unwrap_or_default())]
    Closed { code: Option<u16> },
    #[error("the server ended the chunked body")]
    LastChunk,
    #[error("a pong could not be written at once (the send buffer is full)")]
    PongBlocked,
}

/// The loop: runs until the stop flag is set.
fn receive(board: &Board, plan: Plan) -> io::Result<Tally> {
    let poller = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(
        &poller,
        &board.wake,
        epoll::EventData::new_u64(WAKE),
        epoll::EventFlags::IN,
    )?;
    let mut subscribers: Vec<Option<Subscriber>> = Vec::new();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
    let mut tally = Tally::default();
    let words = usize::try_from(plan.messages.div_ceil(64)).unwrap_or(0);
    loop {
        events.clear();
        match epoll::wait(&poller, spare_capacity(&mut events), Some(&IDLE_WAIT)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        }
        let schedule_start = board.schedule_start.load(Ordering::Acquire);
        for event in &events {
            let key = event.data.u64();
            if key == WAKE {
                let mut counter = [0u8; 8];
                let _ = rustix::io::read(&board.wake, &mut counter);
                let handed = board
                    .inbox
                    .lock()
                    .map(|mut inbox| std::mem::take(&mut *inbox))
                    .unwrap_or_default();
                for handoff in handed {
                    let index = subscribers.len();
                    let mut subscriber = Subscriber {
                        decoder: Decoder::new(handoff.framing, MAX_UNPARSED),
                        framing: handoff.framing,
                        stream: handoff.stream,
                        buf: handoff.buffered,
                        checks: Checklist {
                            seen: vec![0; words],
                            ready: false,
                            delivered: 0,
                        },
                    };
                    let registered = epoll::add(
                        &poller,
                        &subscriber.stream,
                        epoll::EventData::new_u64(index as u64),
                        epoll::EventFlags::IN,
                    );
                    // Bytes that came with the handshake may hold messages already.
                    let outcome = match registered {
                        Ok(()) => subscriber.decode(&mut tally, plan, schedule_start),
                        Err(error) => Err(Ended::Io(error.into())),
                    };
                    subscribers.push(Some(subscriber));
                    if let Err(ended) = outcome {
                        end(&poller, &mut subscribers, index, &ended, &mut tally);
                    }
                }
                continue;
            }
            let index = usize::try_from(key).unwrap_or(usize::MAX);
            let Some(Some(subscriber)) = subscribers.get_mut(index) else {
                continue;
            };
            if let Err(ended) = subscriber.read(&mut tally, plan, schedule_start) {
                end(&poller, &mut subscribers, index, &ended, &mut tally);
            }
        }
        board.delivered.store(tally.delivered, Ordering::Relaxed);
        board.ready.store(tally.ready, Ordering::Relaxed);
        board.ended.store(tally.ended, Ordering::Relaxed);
        if board.stop.load(Ordering::Acquire) {
            break;
        }
    }
    for subscriber in subscribers.into_iter().flatten() {
        subscriber.close();
    }
    Ok(tally)
}

/// Takes subscriber `index` out of the loop and says why, once.
fn end(
    poller: &OwnedFd,
    subscribers: &mut [Option<Subscriber>],
    index: usize,
    why: &Ended,
    tally: &mut Tally,
) {
    let Some(subscriber) = subscribers.get_mut(index).and_then(Option::take) else {
        return;
    };
    let _ = epoll::delete(poller, &subscriber.stream);
    tally.ended += 1;
    tally.first_error.get_or_insert_with(|| {
        format!(
            "subscriber {index}: {why} after {} of its messages",
            subscriber.checks.delivered
        )
    });
    if let Ended::Closed { .. } = why {
        // RFC 6455 §5.5.1: a close frame is answered with a close frame.
        subscriber.close();
    }
}

impl Subscriber {
    /// Reads what the socket has (one `read`; the loop is level-triggered, so more waiting is
    /// reported again) and decodes it.
    fn read(&mut self, tally: &mut Tally, plan: Plan, schedule_start: u64) -> Result<(), Ended> {
        self.buf.reserve(READ_SIZE);
        match rustix::io::read(&self.stream, spare_capacity(&mut self.buf)) {
            Ok(0) => return Err(Ended::Eof),
            Ok(_) => {}
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => return Ok(()),
            Err(error) => return Err(Ended::Io(error.into())),
        }
        self.decode(tally, plan, schedule_start)
    }

    /// Counts every whole message in the buffer.
    fn decode(&mut self, tally: &mut Tally, plan: Plan, schedule_start: u64) -> Result<(), Ended> {
        let received = now_micros();
        let mut pong = None;
        let checks = &mut self.checks;
        let flow = self.decoder.decode(&mut self.buf, |item| match item {
            Item::Message(data) => checks.check(data, received, tally, plan, schedule_start),
            // Only the latest ping needs an answer (RFC 6455 §5.5.3: "an endpoint MAY elect to
            // send a Pong frame for only the most recently processed Ping").
            Item::Ping(payload) => pong = Some(masked_frame(opcode::PONG, payload)),
        })?;
        if let Some(pong) = pong {
            match (&self.stream).write(&pong) {
                Ok(n) if n == pong.len() => {}
                Ok(_) => return Err(Ended::PongBlocked),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return Err(Ended::PongBlocked)
                }
                Err(error) => return Err(Ended::Io(error)),
            }
        }
        match flow {
            Flow::Open => Ok(()),
            Flow::Closed(code) if self.framing == Framing::WebSocket => Err(Ended::Closed { code }),
            Flow::Closed(_) => Err(Ended::LastChunk),
        }
    }

    /// Says goodbye: a WebSocket close frame (1000) if the send buffer takes it; SSE just drops.
    fn close(self) {
        if self.framing == Framing::WebSocket {
            let frame = masked_frame(opcode::CLOSE, &1000u16.to_be_bytes());
            let _ = (&self.stream).write(&frame);
        }
    }
}

/// One subscriber's checklist: the timed messages it saw, and whether it saw a warm-up one.
#[derive(Debug)]
struct Checklist {
    /// One bit per timed message.
    seen: Vec<u64>,
    ready: bool,
    delivered: u64,
}

impl Checklist {
    /// Checks off one message's sequence number (once, however often it comes), or notes a
    /// warm-up message.
    fn check(&mut self, data: &[u8], received: u64, tally: &mut Tally, plan: Plan, start: u64) {
        if let (Some(sent), Some(seq)) = (number_after(data, b"t"), number_after(data, b"seq")) {
            let Some(word) = self.seen.get_mut((seq / 64) as usize) else {
                return;
            };
            let bit = 1u64 << (seq % 64);
            if seq < plan.messages && *word & bit == 0 {
                *word |= bit;
                self.delivered += 1;
                tally.delivered += 1;
                tally.latencies.record_mut(received.saturating_sub(sent));
                let due = due_micros(start, seq, plan.interval_us);
                tally.from_schedule.record_mut(received.saturating_sub(due));
                tally.last_delivery = tally.last_delivery.max(received);
            }
        } else if !self.ready && number_after(data, b"warmup").is_some() {
            self.ready = true;
            tally.ready += 1;
        }
    }
}

/// When message `seq` was due (unix µs): `start` plus `seq` intervals of `interval_us`.
pub fn due_micros(start: u64, seq: u64, interval_us: f64) -> u64 {
    start.saturating_add((seq as f64 * interval_us) as u64)
}

/// A masked client frame (RFC 6455 §5.3: "a client MUST mask all frames that it sends").
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = (now_micros() as u32 ^ 0x5bd1_e995).to_le_bytes();
    websocket::encode_frame(&Frame::new(opcode, payload.to_vec()).masked(mask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    /// A connected pair of loopback sockets: (the server's end, the subscriber's, non-blocking).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        client.set_nonblocking(true).expect("non-blocking");
        let (server, _) = listener.accept().expect("accept");
        (server, client)
    }

    /// Waits (by the event it waits for, with a deadline against a hang) until `done` holds.
    fn until(done: impl Fn() -> bool) {
        let end = Instant::now() + Duration::from_secs(20);
        while !done() && Instant::now() < end {
            std::thread::yield_now();
        }
        assert!(done(), "not reached within 20 s");
    }

    const PLAN: Plan = Plan {
        messages: 3,
        interval_us: 1000.0,
    };

    #[test]
    fn a_stream_the_server_closes_is_named_and_its_messages_counted_once() {
        let receiver = Receiver::start(PLAN).expect("thread");
        let (mut server, client) = pair();
        // The first message came with the handshake's bytes; its copy and the rest by the socket.
        receiver.hand(Handoff {
            stream: client,
            buffered: b"data: {\"t\":1,\"seq\":0}\n\n".to_vec(),
            framing: Framing::Sse { chunked: false },
        });
        server
            .write_all(b"data: {\"warmup\":0}\n\n: comment\n\ndata: {\"t\":1,\"seq\":0}\n\ndata: {\"t\":2,\"seq\":2}\n\n")
            .expect("write");
        drop(server);
        until(|| receiver.ended() == 1);
        let tally = receiver.stop().expect("tally");
        assert_eq!((tally.delivered, tally.ready, tally.ended), (2, 1, 1));
        assert_eq!(
            tally.first_error.as_deref(),
            Some("subscriber 0: the server closed the connection after 2 of its messages")
        );
        assert_eq!(tally.latencies.count(), 2);
    }

    #[test]
    fn a_ping_is_answered_with_a_masked_pong_and_a_close_frame_with_a_close() {
        let receiver = Receiver::start(PLAN).expect("thread");
        let (mut server, client) = pair();
        receiver.hand(Handoff {
            stream: client,
            buffered: Vec::new(),
            framing: Framing::WebSocket,
        });
        server.write_all(b"\x89\x02hi").expect("ping");
        let mut pong = [0u8; 8];
        server.read_exact(&mut pong).expect("pong");
        // FIN + pong, MASK + length 2, then the key and the masked payload (RFC 6455 §5.3).
        assert_eq!(&pong[..2], b"\x8a\x82");
        let key = [pong[2], pong[3], pong[4], pong[5]];
        assert_eq!([pong[6] ^ key[0], pong[7] ^ key[1]], *b"hi");
        server.write_all(b"\x88\x02\x03\xe8").expect("close");
        let mut close = [0u8; 8];
        server.read_exact(&mut close).expect("close answered");
        assert_eq!(&close[..2], b"\x88\x82");
        until(|| receiver.ended() == 1);
        let tally = receiver.stop().expect("tally");
        assert_eq!(
            tally.first_error.as_deref(),
            Some("subscriber 0: the server sent a close frame (1000) after 0 of its messages")
        );
    }

    #[test]
    fn a_message_is_due_its_sequence_number_of_intervals_after_the_first() {
        assert_eq!(due_micros(1_000_000, 0, 20_000.0), 1_000_000);
        assert_eq!(due_micros(1_000_000, 3, 20_000.0), 1_060_000);
        // 3 per second: 333,333.33 µs apart, rounded down.
        assert_eq!(due_micros(0, 2, 1e6 / 3.0), 666_666);
        assert_eq!(due_micros(u64::MAX - 1, 5, 10.0), u64::MAX);
    }
}
