//! The request-handler vocabulary: errors, receive parameters, addresses, per-client values and
//! the service context given to `service_init`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use packetwire_proto::ParseError;

use crate::runtime::{BoxFuture, Runtime, TaskHandle};
use crate::unix::UnixSocketAddress;

/// What a handler method may fail with: any error. It is logged with the client's address
/// and closes that client's connection (stream servers) or ends that client's handler
/// (datagram servers); other clients never notice.
///
/// Errors that only say the connection is gone ([`RecvError::Disconnected`], and
/// [`SendPacketError::Closed`](crate::client::SendPacketError::Closed) or
/// [`ConnectionReset`](crate::client::SendPacketError::ConnectionReset) when sending) are not
/// logged as errors, so handlers can use `?` on every receive and send.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result of a handler method.
pub type HandlerResult = Result<(), HandlerError>;

/// Parameters of one receive (EasyNetwork's `RecvParams`).
///
/// ```
/// use std::time::Duration;
/// use packetwire::server::RecvParams;
///
/// let params = RecvParams::new().timeout(Duration::from_secs(30));
/// assert_eq!(params.get_timeout(), Some(Duration::from_secs(30)));
/// assert_eq!(RecvParams::default().get_timeout(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecvParams {
    timeout: Option<Duration>,
}

impl RecvParams {
    /// No timeout.
    pub const fn new() -> Self {
        Self { timeout: None }
    }

    /// How long to wait for the next request; [`RecvError::TimedOut`] afterwards. Zero
    /// means "only what is already received".
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The timeout, if any.
    pub const fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

/// Why a session's `recv` gave no request.
///
/// Everything EasyNetwork throws into the generator at its `yield` comes back here instead:
/// the timeout, the parse error, the end of the connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// The receive timeout elapsed. Nothing is lost: bytes already received stay buffered,
    /// and the next `recv` goes on from them.
    TimedOut,
    /// The received bytes do not make a valid packet. The bad packet was dropped and the
    /// connection stays open; the next `recv` returns the packet after it. When the error is
    /// not recoverable ([`ParseError::is_recoverable`]), the stream cannot be resynchronised
    /// and the next `recv` returns [`Disconnected`](Self::Disconnected).
    Parse(ParseError),
    /// The connection is over: the peer closed or reset it, the client was closed, or the
    /// server is shutting down and nothing is left to handle. Return from the handler (`?`
    /// does): this is not logged as an error. A stream that ended in the middle of a packet
    /// drops the partial packet, as EasyNetwork does.
    Disconnected,
    /// Receiving with ancillary data is not possible here (TCP and TLS servers, or a Unix
    /// datagram server without [`ancillary data`](super::DatagramServerOptions::receive_ancillary)).
    Unsupported,
    /// The ancillary data did not fit in the buffer the handler gave: the descriptors that
    /// arrived were closed and the connection cannot go on (stream servers).
    ControlTruncated,
    /// Any other system error on the socket. The connection is not usable any more.
    Io(io::Error),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut => f.write_str("timed out waiting for a request"),
            Self::Parse(e) => write!(f, "bad request: {e}"),
            Self::Disconnected => f.write_str("the client is disconnected"),
            Self::Unsupported => {
                f.write_str("receiving ancillary data is not supported on this server")
            }
            Self::ControlTruncated => f.write_str("the ancillary data was truncated"),
            Self::Io(e) => write!(f, "receive failed: {e}"),
        }
    }
}

impl std::error::Error for RecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Parse(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RecvError> for io::Error {
    fn from(error: RecvError) -> Self {
        match error {
            RecvError::Io(e) => e,
            RecvError::TimedOut => io::Error::new(io::ErrorKind::TimedOut, error),
            RecvError::Parse(e) => e.into(),
            RecvError::Disconnected => io::Error::new(io::ErrorKind::NotConnected, error),
            RecvError::Unsupported => io::Error::new(io::ErrorKind::Unsupported, error),
            RecvError::ControlTruncated => io::Error::new(io::ErrorKind::InvalidData, error),
        }
    }
}

/// A client's (or a server's) address: IP or Unix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// An IP address and port (TCP, UDP).
    Inet(SocketAddr),
    /// A Unix socket address: a path, an abstract name, or unnamed.
    Unix(UnixSocketAddress),
}

impl Address {
    /// The IP address, for TCP and UDP.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            Self::Inet(addr) => Some(*addr),
            Self::Unix(_) => None,
        }
    }

    /// The Unix address, for Unix servers.
    pub fn as_unix(&self) -> Option<&UnixSocketAddress> {
        match self {
            Self::Inet(_) => None,
            Self::Unix(addr) => Some(addr),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inet(addr) => addr.fmt(f),
            Self::Unix(addr) => addr.fmt(f),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Self::Inet(addr)
    }
}

impl From<UnixSocketAddress> for Address {
    fn from(addr: UnixSocketAddress) -> Self {
        Self::Unix(addr)
    }
}

trait ExtensionValue: Any + Send + Sync {
    fn clone_box(&self) -> Box<dyn ExtensionValue>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Any + Clone + Send + Sync> ExtensionValue for T {
    fn clone_box(&self) -> Box<dyn ExtensionValue> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Per-client values, one per type (like `http::Extensions`): what EasyNetwork does with
/// context variables. Each client's session starts with a copy of the values set in
/// [`ServiceContext::client_extensions`] during `service_init`; values a handler inserts
/// stay with that client across `handle` calls, and are not seen by other clients.
///
/// ```
/// use packetwire::server::Extensions;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct User(String);
///
/// let mut ext = Extensions::new();
/// assert!(ext.get::<User>().is_none());
/// ext.insert(User("alice".into()));
/// assert_eq!(ext.get::<User>(), Some(&User("alice".into())));
/// let copy = ext.clone();
/// ext.get_mut::<User>().unwrap().0.push('!');
/// assert_eq!(copy.get::<User>().unwrap().0, "alice");
/// assert_eq!(ext.remove::<User>().unwrap().0, "alice!");
/// ```
#[derive(Default)]
pub struct Extensions {
    map: HashMap<TypeId, Box<dyn ExtensionValue>>,
}

impl Extensions {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value`, returning the previous value of that type.
    pub fn insert<T: Any + Clone + Send + Sync>(&mut self, value: T) -> Option<T> {
        self.map
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.into_any().downcast::<T>().ok())
            .map(|old| *old)
    }

    /// The value of type `T`.
    pub fn get<T: Any + Clone + Send + Sync>(&self) -> Option<&T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| (**v).as_any().downcast_ref())
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Any + Clone + Send + Sync>(&mut self) -> Option<&mut T> {
        self.map
            .get_mut(&TypeId::of::<T>())
            .and_then(|v| (**v).as_any_mut().downcast_mut())
    }

    /// The value of type `T`, inserted with `f` if missing.
    pub fn get_or_insert_with<T: Any + Clone + Send + Sync>(
        &mut self,
        f: impl FnOnce() -> T,
    ) -> &mut T {
        let value = self
            .map
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(f()));
        match (**value).as_any_mut().downcast_mut() {
            Some(value) => value,
            // The key is the value's type id.
            None => unreachable!("extension stored under another type's id"),
        }
    }

    /// Removes and returns the value of type `T`.
    pub fn remove<T: Any + Clone + Send + Sync>(&mut self) -> Option<T> {
        self.map
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.into_any().downcast::<T>().ok())
            .map(|old| *old)
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no value is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Clone for Extensions {
    fn clone(&self) -> Self {
        Self {
            map: self
                .map
                .iter()
                .map(|(k, v)| (*k, (**v).clone_box()))
                .collect(),
        }
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extensions")
            .field("len", &self.map.len())
            .finish()
    }
}

/// Stops one serve of a server from inside (a handler, a background task); see
/// [`ServiceContext::shutdown_trigger`].
///
/// [`trigger`](Self::trigger) only starts the shutdown: it does not wait, since the caller
/// may be one of the tasks the shutdown waits for.
#[derive(Clone)]
pub struct ShutdownTrigger {
    stop: Arc<super::util::Signal>,
}

impl fmt::Debug for ShutdownTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownTrigger")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl ShutdownTrigger {
    /// Starts the shutdown of the serve this trigger belongs to (as the server's
    /// `shutdown`, without waiting). Does nothing once that serve is over.
    pub fn trigger(&self) {
        self.stop.set();
    }

    /// Whether the serve is stopping or over.
    pub fn is_triggered(&self) -> bool {
        self.stop.is_set()
    }
}

enum Teardown {
    Sync(Box<dyn FnOnce() + Send>),
    Async(BoxFuture<()>),
}

/// What `service_init` gets: once per `serve_forever`, before the first client (EasyNetwork's
/// `exit_stack` and server proxy).
///
/// - [`spawn`](Self::spawn) runs background tasks tied to this serve: they are aborted when
///   it ends, after the client tasks;
/// - [`on_teardown`](Self::on_teardown) and [`on_teardown_async`](Self::on_teardown_async)
///   register clean-up, run in reverse order of registration once the background tasks are
///   gone;
/// - [`client_extensions`](Self::client_extensions) seeds every client's
///   [`Extensions`].
pub struct ServiceContext {
    runtime: Arc<dyn Runtime>,
    stop: Arc<super::util::Signal>,
    local_addrs: Vec<Address>,
    tasks: Vec<Box<dyn TaskHandle>>,
    teardown: Vec<Teardown>,
    client_extensions: Extensions,
}

impl fmt::Debug for ServiceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceContext")
            .field("local_addrs", &self.local_addrs)
            .field("tasks", &self.tasks.len())
            .field("teardown", &self.teardown.len())
            .finish_non_exhaustive()
    }
}

impl ServiceContext {
    pub(crate) fn new(
        runtime: Arc<dyn Runtime>,
        stop: Arc<super::util::Signal>,
        local_addrs: Vec<Address>,
    ) -> Self {
        Self {
            runtime,
            stop,
            local_addrs,
            tasks: Vec::new(),
            teardown: Vec::new(),
            client_extensions: Extensions::new(),
        }
    }

    /// The runtime the server runs on (to sleep, or to spawn with a handle of your own).
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// A handle that stops this serve (EasyNetwork's handler calling `server.shutdown()`):
    /// keep it in the handler, or seed it into the [client extensions](Self::client_extensions).
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger {
            stop: Arc::clone(&self.stop),
        }
    }

    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> &[Address] {
        &self.local_addrs
    }

    /// Runs `task` in the background until this serve ends (it is aborted then, after the
    /// client tasks are gone).
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        let task = self
            .runtime
            .spawn(Box::pin(crate::sync::CatchUnwind::new(task)));
        self.tasks.push(task);
    }

    /// Runs `f` when this serve ends.
    pub fn on_teardown(&mut self, f: impl FnOnce() + Send + 'static) {
        self.teardown.push(Teardown::Sync(Box::new(f)));
    }

    /// Awaits `future` when this serve ends.
    pub fn on_teardown_async(&mut self, future: impl Future<Output = ()> + Send + 'static) {
        self.teardown.push(Teardown::Async(Box::pin(future)));
    }

    /// The values every client's session starts with.
    pub fn client_extensions(&mut self) -> &mut Extensions {
        &mut self.client_extensions
    }

    pub(crate) fn client_extensions_template(&self) -> Extensions {
        self.client_extensions.clone()
    }

    /// Aborts the background tasks, waits for them, then runs the teardown actions in
    /// reverse order.
    pub(crate) async fn finish(&mut self) {
        for task in &mut self.tasks {
            task.abort();
        }
        for task in &mut self.tasks {
            task.join().await;
        }
        self.tasks.clear();
        while let Some(action) = self.teardown.pop() {
            match action {
                Teardown::Sync(f) => f(),
                Teardown::Async(future) => future.await,
            }
        }
    }
}

impl Drop for ServiceContext {
    fn drop(&mut self) {
        // A serve that was cancelled: stop the background tasks at least.
        for task in &mut self.tasks {
            task.abort();
        }
    }
}

/// Whether a handler error only says that the connection is gone: such errors end the
/// client quietly.
pub(crate) fn is_disconnection(error: &HandlerError) -> bool {
    if let Some(e) = error.downcast_ref::<RecvError>() {
        return matches!(e, RecvError::Disconnected);
    }
    if let Some(e) = error.downcast_ref::<crate::client::SendPacketError>() {
        return matches!(
            e,
            crate::client::SendPacketError::Closed
                | crate::client::SendPacketError::ConnectionReset
        );
    }
    if let Some(e) = error.downcast_ref::<io::Error>() {
        return matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::NotConnected
        );
    }
    false
}

/// Logs a handler error with the client's address (EasyNetwork's "Exception occurred during
/// processing of request from ...").
pub(crate) fn log_handler_error(client: &Address, what: &str, error: &HandlerError) {
    if is_disconnection(error) {
        tracing::debug!(client = %client, "{what}: client disconnected: {error}");
    } else {
        tracing::error!(
            client = %client,
            error = %error,
            "Exception occurred during processing of request from {client} (in {what}): {error:?}"
        );
    }
}
