//! A ready-made handler: echo every packet back to its sender.

use std::fmt;
use std::marker::PhantomData;

use super::{
    DatagramRequestHandler, DatagramSession, HandlerResult, RecvError, StreamRequestHandler,
    StreamSession,
};

/// Sends every packet back to its sender, for stream and datagram servers alike (what
/// `packetwire serve --handler echo` runs). A bad packet is logged at `WARN` with the
/// client's address and skipped: the connection stays open.
///
/// ```
/// # #[cfg(all(feature = "tokio", feature = "json"))]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::proto::dynamic::CodecSpec;
/// use packetwire::proto::Value;
/// use packetwire::server::{EchoHandler, TcpServer};
///
/// let protocol = CodecSpec::new("json").stream_protocol()?;
/// let server = TcpServer::bind("127.0.0.1", 0, protocol, EchoHandler::<Value>::new()).await?;
/// let port = server.local_addrs()[0].port();
/// let serving = tokio::spawn({
///     let server = server.clone();
///     async move { server.serve_forever().await }
/// });
/// let mut client = packetwire::net::TcpStream::connect("127.0.0.1", port).await?;
/// client.send_all(b"{oops\n[1, 2]\n").await?;
/// assert_eq!(client.receive_line().await?, &b"[1,2]\n"[..]);
/// server.server_close().await;
/// serving.await.unwrap()?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct EchoHandler<T> {
    _packet: PhantomData<fn() -> T>,
}

impl<T> EchoHandler<T> {
    /// The echo handler.
    pub const fn new() -> Self {
        Self {
            _packet: PhantomData,
        }
    }
}

impl<T> Default for EchoHandler<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for EchoHandler<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for EchoHandler<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EchoHandler")
    }
}

impl<T: Send + Sync + 'static> StreamRequestHandler for EchoHandler<T> {
    type Request = T;
    type Response = T;

    async fn handle(&self, session: &mut StreamSession<T, T>) -> HandlerResult {
        loop {
            match session.recv().await {
                Ok(packet) => session.send_packet(&packet).await?,
                Err(RecvError::Parse(e)) => {
                    tracing::warn!(client = %session.peer_addr(), "bad packet: {e}");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl<T: Send + Sync + 'static> DatagramRequestHandler for EchoHandler<T> {
    type Request = T;
    type Response = T;

    async fn handle(&self, session: &mut DatagramSession<T, T>) -> HandlerResult {
        match session.recv().await {
            Ok(packet) => session.send_packet(&packet).await?,
            Err(RecvError::Parse(e)) => {
                tracing::warn!(client = %session.peer_addr(), "bad packet: {e}");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}
