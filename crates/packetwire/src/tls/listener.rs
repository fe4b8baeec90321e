//! The TLS listener: accepts TCP connections and runs their handshakes concurrently, so a
//! slow or silent client never holds up the others.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use super::config::TlsAcceptor;
use super::error::TlsHandshakeError;
use super::stream::TlsStream;
use crate::net::{TcpListener, TcpServer, TcpStream};
use crate::runtime::Runtime;

/// What a [`TlsListener`] calls for each failed handshake: the peer's address and why.
pub type HandshakeErrorHandler = Arc<dyn Fn(SocketAddr, &TlsHandshakeError) + Send + Sync>;

/// How many handshakes a [`TlsListener`] runs at once by default.
pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 256;

type Handshake =
    Pin<Box<dyn Future<Output = (SocketAddr, Result<TlsStream, TlsHandshakeError>)> + Send>>;

fn handshake(acceptor: TlsAcceptor, stream: TcpStream, peer: SocketAddr) -> Handshake {
    Box::pin(async move { (peer, acceptor.accept(stream).await) })
}

/// A TCP listener whose connections are TLS: [`accept`](Self::accept) returns streams whose
/// handshake succeeded, and [`serve`](Self::serve) runs a handler on each.
///
/// Handshakes run concurrently, each within the acceptor's handshake timeout (60 s by
/// default): a client that connects and never speaks TLS, or speaks slowly, holds up no one.
/// A failed handshake (timeout, bad certificate, garbage, reset) closes that connection and
/// goes to the [handshake error handler](Self::on_handshake_error) if there is one; it never
/// ends the listener. EasyNetwork logs these (timeouts and connection errors silently, the
/// others as warnings); packetwire has no logger, so the handler is where to log them.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::tls::{TlsClientConfig, TlsListener, TlsServerConfig};
///
/// # let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// # let (cert, key) = (certified.cert.der().clone(), certified.signing_key.serialize_der());
/// let acceptor = TlsServerConfig::new(vec![cert.clone()], key.try_into()?).build()?;
/// let mut listener = TlsListener::bind("127.0.0.1", 0, acceptor)
///     .await?
///     .on_handshake_error(|peer, error| eprintln!("TLS handshake with {peer} failed: {error}"));
/// let port = listener.local_addrs()[0].port();
///
/// let connector = TlsClientConfig::new().root_certificates([cert]).build()?;
/// let (client, accepted) = tokio::join!(connector.connect("localhost", port), listener.accept());
/// let (mut server_side, _peer) = accepted?;
/// client?.send_all(b"hi").await?;
/// assert_eq!(server_side.receive_exactly(2).await?, &b"hi"[..]);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    pending: Vec<Handshake>,
    max_pending: usize,
    on_error: Option<HandshakeErrorHandler>,
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("acceptor", &self.acceptor)
            .field("pending_handshakes", &self.pending.len())
            .field("max_pending", &self.max_pending)
            .finish()
    }
}

impl TlsListener {
    /// Makes a TCP listener a TLS one.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Self {
            tcp,
            acceptor,
            pending: Vec::new(),
            max_pending: DEFAULT_MAX_PENDING_HANDSHAKES,
            on_error: None,
        }
    }

    /// Listens on `host:port` ([`TcpListener::bind`]) with TLS.
    pub async fn bind(host: &str, port: u16, acceptor: TlsAcceptor) -> io::Result<Self> {
        Ok(Self::new(TcpListener::bind(host, port).await?, acceptor))
    }

    /// Calls `handler` for each failed handshake (none by default: failures are dropped
    /// silently). It runs on the task that accepts, so it should be quick.
    pub fn on_handshake_error(
        mut self,
        handler: impl Fn(SocketAddr, &TlsHandshakeError) + Send + Sync + 'static,
    ) -> Self {
        self.on_error = Some(Arc::new(handler));
        self
    }

    /// How many handshakes [`accept`](Self::accept) runs at once
    /// ([`DEFAULT_MAX_PENDING_HANDSHAKES`] by default). When that many are running, new
    /// connections wait in the listen backlog.
    ///
    /// # Panics
    ///
    /// If `max` is zero.
    pub fn max_pending_handshakes(mut self, max: usize) -> Self {
        assert!(max > 0, "at least one handshake must be able to run");
        self.max_pending = max;
        self
    }

    /// The addresses listened on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.tcp.local_addrs()
    }

    /// The listening sockets.
    pub fn sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.tcp.sockets()
    }

    /// The runtime the listener is registered with.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        self.tcp.runtime()
    }

    /// The acceptor used for every connection.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// How many handshakes are running.
    pub fn pending_handshakes(&self) -> usize {
        self.pending.len()
    }

    /// Returns the next connection whose handshake succeeded, with the peer's address.
    ///
    /// While it waits, it accepts TCP connections and runs their handshakes, all at once
    /// (up to [`max_pending_handshakes`](Self::max_pending_handshakes)); failed handshakes
    /// go to the [handshake error handler](Self::on_handshake_error). Handshakes progress
    /// only while `accept` is running: call it again soon, or use [`serve`](Self::serve).
    /// Only a listener error is returned (see [`TcpListener::accept`]). Cancel-safe:
    /// handshakes under way are kept for the next call.
    pub async fn accept(&mut self) -> io::Result<(TlsStream, SocketAddr)> {
        let Self {
            tcp,
            acceptor,
            pending,
            max_pending,
            on_error,
        } = self;
        let mut accepting = None;
        poll_fn(|cx| loop {
            let mut accepted = false;
            if pending.len() < *max_pending {
                let future = accepting.get_or_insert_with(|| Box::pin(tcp.accept()));
                match future.as_mut().poll(cx) {
                    Poll::Ready(Ok((stream, peer))) => {
                        accepting = None;
                        pending.push(handshake(acceptor.clone(), stream, peer));
                        accepted = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            let mut i = 0;
            while i < pending.len() {
                match pending[i].as_mut().poll(cx) {
                    Poll::Ready((peer, result)) => {
                        drop(pending.swap_remove(i));
                        match result {
                            Ok(stream) => return Poll::Ready(Ok((stream, peer))),
                            Err(e) => {
                                if let Some(handler) = on_error {
                                    handler(peer, &e);
                                }
                            }
                        }
                    }
                    Poll::Pending => i += 1,
                }
            }
            if !accepted {
                return Poll::Pending;
            }
        })
        .await
    }

    /// Runs `handler` on its own task for each connection whose handshake succeeded, until
    /// the returned server is shut down (see [`StreamServer`](crate::net::StreamServer)).
    /// Each handshake runs on its connection's task, so the accept loop never waits for one;
    /// a failed one goes to the handshake error handler. Handshakes started by
    /// [`accept`](Self::accept) and still running are dropped.
    pub fn serve<F, Fut>(self, handler: F) -> TcpServer
    where
        F: Fn(TlsStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let acceptor = self.acceptor;
        let on_error = self.on_error;
        self.tcp.serve(move |stream| {
            let handler = Arc::clone(&handler);
            let acceptor = acceptor.clone();
            let on_error = on_error.clone();
            async move {
                let peer = stream.peer_addr();
                match acceptor.accept(stream).await {
                    Ok(stream) => handler(stream).await,
                    Err(e) => {
                        if let (Some(handler), Ok(peer)) = (on_error, peer) {
                            handler(peer, &e);
                        }
                    }
                }
            }
        })
    }
}
