//! The outgoing side of a WebSocket connection: the bounded queue of bytes waiting for the socket,
//! and the [`Feed`] of ready frames a pushing route hands over, pulled in batches so that frames
//! already waiting go out in one write.
//!
//! A frame from the feed is written from the hub's shared bytes (no copy while it goes out alone);
//! frames encoded for this connection are taken as they are. Nothing is allocated while nothing
//! waits.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::io::AsyncWrite;
use futures_lite::{ready, Stream};

use crate::wire::websocket::{encode_frame, Frame};

/// Unwritten bytes a connection keeps before a send waits and reading pauses.
pub const OUTBOX_BYTES: usize = 64 * 1024;
/// Bytes of ready feed frames gathered into one write.
pub const BATCH_BYTES: usize = 64 * 1024;

/// What a [`Feed`] yields.
#[derive(Debug, Clone)]
pub enum Push {
    /// A whole encoded server frame (shared: the same bytes may go to many connections).
    Frame(Arc<[u8]>),
    /// Start the closing handshake with this code and reason (the feed is over).
    Close(u16, &'static str),
}

/// Frames the connection pulls by itself once everything sent before is written, and never once a
/// close is under way; ending without [`Push::Close`] just stops pulling.
pub type Feed = Pin<Box<dyn Stream<Item = Push> + Send>>;

/// What one pull of the feed gave ([`Outgoing::pull`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pulled {
    /// Nothing ready: the feed will wake the task when something is.
    Nothing,
    /// Frames, now queued; the feed may have more ready (the batch filled up).
    Frames,
    /// Frames, now queued, and nothing more ready: the feed will wake the task when it is, so it
    /// need not be pulled again until then.
    FramesThenNothing,
    /// A close to start (frames before it are queued).
    Close(u16, &'static str),
    /// The feed ended without a close (frames before its end are queued): pull no more.
    End,
}

/// One unfragmented, unmasked server frame, header and payload in one buffer (RFC 6455 §5.1: a
/// server must not mask).
pub fn server_frame(op: u8, payload: Vec<u8>) -> Vec<u8> {
    encode_frame(&Frame {
        fin: true,
        rsv: 0,
        opcode: op,
        mask: None,
        payload,
    })
}

/// The bytes waiting to be written, in order: a frame from the feed (written from the hub's shared
/// bytes), then frames encoded for this connection. Empty, with nothing allocated, once written.
#[derive(Debug, Default)]
pub struct Outgoing {
    shared: Option<Arc<[u8]>>,
    owned: Vec<u8>,
    /// Bytes of the first of the two already written.
    written: usize,
    /// A write failed (the peer is gone): nothing more is kept or written.
    broken: bool,
    /// The failed write waited past the send timeout: the peer reads nothing, and may send
    /// nothing either, so the connection ends now rather than waiting for its reads to fail.
    stalled: bool,
}

impl Outgoing {
    /// Bytes not written yet.
    pub fn pending(&self) -> usize {
        match &self.shared {
            Some(frame) => frame.len() - self.written + self.owned.len(),
            None => self.owned.len() - self.written,
        }
    }

    /// Whether everything queued is written.
    pub fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// Whether a write waited past the send timeout (the peer reads nothing).
    pub fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// Whether nothing is held: no bytes and no allocation.
    pub fn holds_nothing(&self) -> bool {
        self.shared.is_none() && self.owned.capacity() == 0
    }

    /// Queues a frame encoded for this connection.
    pub fn push_frame(&mut self, frame: Vec<u8>) {
        if self.is_empty() {
            // Taken as it is: no copy.
            *self = Outgoing {
                owned: frame,
                broken: self.broken,
                stalled: self.stalled,
                ..Outgoing::default()
            };
        } else {
            self.push_bytes(&frame);
        }
    }

    /// Queues a frame from the feed.
    pub fn push_shared(&mut self, frame: Arc<[u8]>) {
        if self.is_empty() {
            *self = Outgoing {
                shared: Some(frame),
                broken: self.broken,
                stalled: self.stalled,
                ..Outgoing::default()
            };
        } else {
            self.push_bytes(&frame);
        }
    }

    /// Appends `bytes` after what is waiting, so that all of it can go out in one write.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        if let Some(shared) = self.shared.take() {
            let rest = &shared[self.written..];
            let mut owned = Vec::with_capacity(rest.len() + self.owned.len() + bytes.len());
            owned.extend_from_slice(rest);
            owned.extend_from_slice(&self.owned);
            self.owned = owned;
            self.written = 0;
        } else if self.written > 0 && self.written >= self.owned.len() - self.written {
            // More written than waiting: drop the written part (amortised, bounded memory).
            self.owned.drain(..self.written);
            self.written = 0;
        }
        self.owned.extend_from_slice(bytes);
    }

    /// Pulls `feed`: a frame, with those already ready behind it (up to [`BATCH_BYTES`] queued)
    /// for one write, a close, or its end.
    ///
    /// Inlined: it runs once per delivery, inside the connection's loop, as when it lived there.
    #[inline]
    pub fn pull(&mut self, feed: &mut Feed, cx: &mut Context<'_>) -> Pulled {
        match feed.as_mut().poll_next(cx) {
            Poll::Pending => Pulled::Nothing,
            Poll::Ready(None) => Pulled::End,
            Poll::Ready(Some(Push::Close(code, reason))) => Pulled::Close(code, reason),
            Poll::Ready(Some(Push::Frame(first))) => {
                self.push_shared(first);
                // Frames already waiting go out with this one, in one write.
                while self.pending() < BATCH_BYTES {
                    match feed.as_mut().poll_next(cx) {
                        Poll::Ready(Some(Push::Frame(frame))) => self.push_bytes(&frame),
                        Poll::Ready(Some(Push::Close(code, reason))) => {
                            return Pulled::Close(code, reason)
                        }
                        Poll::Ready(None) => return Pulled::End,
                        Poll::Pending => return Pulled::FramesThenNothing,
                    }
                }
                Pulled::Frames
            }
        }
    }

    /// Writes until nothing is waiting (then frees what held it).
    pub fn poll_write<S>(&mut self, stream: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        loop {
            if self.broken {
                return Poll::Ready(Ok(()));
            }
            let piece = match &self.shared {
                Some(frame) => &frame[self.written..],
                None => &self.owned[self.written..],
            };
            if piece.is_empty() {
                if self.shared.take().is_some() {
                    self.written = 0;
                    continue;
                }
                self.owned = Vec::new();
                self.written = 0;
                return Poll::Ready(Ok(()));
            }
            let n = match ready!(Pin::new(&mut *stream).poll_write(cx, piece)) {
                Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                result => result,
            };
            match n {
                Ok(n) => self.written += n,
                Err(error) => {
                    *self = Outgoing {
                        broken: true,
                        stalled: error.kind() == io::ErrorKind::TimedOut,
                        ..Outgoing::default()
                    };
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::{block_on, poll_fn};
    use futures_lite::StreamExt;

    use super::*;

    /// A socket that takes at most `limit` bytes per write and records each write.
    struct Recorder {
        writes: Vec<Vec<u8>>,
        limit: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.limit);
            self.writes.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn recorder(limit: usize) -> Recorder {
        Recorder {
            writes: Vec::new(),
            limit,
        }
    }

    fn write_all(out: &mut Outgoing, socket: &mut Recorder) -> Vec<Vec<u8>> {
        let written = block_on(poll_fn(|cx| out.poll_write(socket, cx)));
        assert!(written.is_ok());
        std::mem::take(&mut socket.writes)
    }

    fn pull(out: &mut Outgoing, feed: &mut Feed) -> Pulled {
        block_on(poll_fn(|cx| Poll::Ready(out.pull(feed, cx))))
    }

    fn feed_of(pushes: Vec<Push>) -> Feed {
        Box::pin(futures_lite::stream::iter(pushes))
    }

    #[test]
    fn server_frame_is_unmasked_and_final() {
        assert_eq!(server_frame(0x1, b"Hello".to_vec()), b"\x81\x05Hello");
        assert_eq!(server_frame(0xA, b"hi".to_vec()), b"\x8a\x02hi");
    }

    #[test]
    fn queued_frames_go_out_in_order_in_one_write() {
        let mut out = Outgoing::default();
        out.push_shared(Arc::from(&b"\x81\x01a"[..]));
        out.push_frame(b"\x8a\x00".to_vec());
        out.push_bytes(b"\x81\x01b");
        assert_eq!(out.pending(), 8);
        let writes = write_all(&mut out, &mut recorder(usize::MAX));
        assert_eq!(writes, vec![b"\x81\x01a\x8a\x00\x81\x01b".to_vec()]);
        assert!(out.is_empty() && out.holds_nothing());
    }

    #[test]
    fn a_partly_written_frame_resumes_where_the_socket_stopped() {
        let mut out = Outgoing::default();
        out.push_shared(Arc::from(&b"\x81\x03abc"[..]));
        let writes = write_all(&mut out, &mut recorder(2));
        assert_eq!(
            writes,
            vec![b"\x81\x03".to_vec(), b"ab".to_vec(), b"c".to_vec()]
        );
        assert!(out.holds_nothing());
    }

    #[test]
    fn pull_batches_ready_frames_and_stops_at_a_close() {
        let mut feed = feed_of(vec![
            Push::Frame(Arc::from(&b"\x81\x01a"[..])),
            Push::Frame(Arc::from(&b"\x81\x01b"[..])),
            Push::Close(1008, "subscriber fell behind"),
            Push::Frame(Arc::from(&b"\x81\x01c"[..])),
        ]);
        let mut out = Outgoing::default();
        let pulled = pull(&mut out, &mut feed);
        assert_eq!(pulled, Pulled::Close(1008, "subscriber fell behind"));
        let writes = write_all(&mut out, &mut recorder(usize::MAX));
        assert_eq!(writes, vec![b"\x81\x01a\x81\x01b".to_vec()]);
    }

    #[test]
    fn pull_says_when_the_feed_was_left_waiting() {
        let ready = futures_lite::stream::iter(vec![
            Push::Frame(Arc::from(&b"\x81\x01a"[..])),
            Push::Frame(Arc::from(&b"\x81\x01b"[..])),
        ]);
        let mut feed: Feed = Box::pin(ready.chain(futures_lite::stream::pending()));
        let mut out = Outgoing::default();
        assert_eq!(pull(&mut out, &mut feed), Pulled::FramesThenNothing);
        assert_eq!(out.pending(), 6);
        assert_eq!(pull(&mut out, &mut feed), Pulled::Nothing);
    }

    #[test]
    fn pull_reports_the_end_of_the_feed() {
        let mut feed = feed_of(vec![Push::Frame(Arc::from(&b"\x81\x01a"[..]))]);
        let mut out = Outgoing::default();
        let pulled = pull(&mut out, &mut feed);
        assert_eq!(pulled, Pulled::End);
        assert_eq!(out.pending(), 3);
    }

    #[test]
    fn one_batch_stops_once_it_holds_batch_bytes() {
        let frame: Arc<[u8]> = server_frame(0x2, vec![0; 1000]).into();
        let mut feed: Feed = Box::pin(futures_lite::stream::repeat(Push::Frame(frame.clone())));
        let mut out = Outgoing::default();
        let pulled = pull(&mut out, &mut feed);
        assert_eq!(pulled, Pulled::Frames);
        assert!(out.pending() >= BATCH_BYTES && out.pending() < BATCH_BYTES + frame.len());
    }

    #[test]
    fn a_failed_write_drops_what_waits_and_writes_nothing_after() {
        struct Broken;
        impl AsyncWrite for Broken {
            fn poll_write(
                self: Pin<&mut Self>,
                _cx: &mut Context<'_>,
                _buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let mut out = Outgoing::default();
        out.push_frame(b"\x81\x01a".to_vec());
        let result = block_on(poll_fn(|cx| out.poll_write(&mut Broken, cx)));
        assert_eq!(result.map_err(|e| e.kind()), Err(io::ErrorKind::TimedOut));
        assert!(out.is_stalled() && out.holds_nothing());
        out.push_frame(b"\x81\x01b".to_vec());
        out.push_bytes(b"\x81\x01c");
        let writes = write_all(&mut out, &mut recorder(usize::MAX));
        assert!(writes.is_empty(), "nothing is written after a failure");
    }
}
