//! A client connection's socket, registered with the reactor through async-io's `Async` itself
//! rather than async-std's `TcpStream` (the same reactor: async-std runs on async-io 2), because
//! async-std hides the one call a keep-alive loop needs: waiting until the socket is readable
//! without reading it ([`Socket::poll_readable`]).
//!
//! Why it matters: the socket is registered one-shot (async-io arms `EPOLLONESHOT` and re-arms
//! with `epoll_ctl` for every wait). Reading first, right after a response went out, nearly
//! always finds nothing (the client has not answered yet), and async-io then also reports the
//! readiness that woke the previous read as new, so one more empty read follows before the real
//! wait: three `recv` and one `epoll_ctl` per keep-alive request. Waiting first (the accept loop
//! does, between requests: [`super::stream::ClientStream::next_head`]) takes one `epoll_ctl` and
//! one `recv` that finds the request.
//!
//! Everything else reads and writes as before, through `AsyncRead`/`AsyncWrite` on `&Socket`.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_io::Async;
use futures_lite::io::{AsyncRead, AsyncWrite};

/// A listening socket on the reactor.
pub type Listener = Async<TcpListener>;

/// Binds a listening socket on the reactor.
pub fn bind(addr: SocketAddr) -> io::Result<Listener> {
    Async::<TcpListener>::bind(addr)
}

/// A connected socket on the reactor; clones share it.
#[derive(Debug, Clone)]
pub struct Socket(Arc<Async<TcpStream>>);

impl Socket {
    /// Wraps an accepted connection.
    pub fn new(stream: Async<TcpStream>) -> Socket {
        Socket(Arc::new(stream))
    }

    /// Opens a connection (tests).
    pub async fn connect(addr: SocketAddr) -> io::Result<Socket> {
        Async::<TcpStream>::connect(addr).await.map(Socket::new)
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.get_ref().set_nodelay(on)
    }

    /// Shuts the connection down in one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get_ref().shutdown(how)
    }

    /// Reads without consuming (`MSG_PEEK`).
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.peek(buf).await
    }

    /// Ready once the socket is readable (or closed, or in error); registers the task to be
    /// woken otherwise. May be ready with nothing to read: a read then finds `WouldBlock` and
    /// waits again.
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_readable(cx)
    }
}

impl AsyncRead for &Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for &Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.0).poll_close(cx)
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}
