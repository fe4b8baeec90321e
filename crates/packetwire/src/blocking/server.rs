//! Serving a blocking listener: one thread accepts, one thread per connection runs the
//! handler, and the handle stops them gracefully or at once.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use crate::net::ShutdownOutcome;

/// A listener that a [`StreamServer`] can run.
pub(crate) trait ServeListener: Send + Sync + 'static {
    type Stream: AsFd + Send + 'static;

    /// Accepts the next connection, or `Ok(None)` once `stop` is readable.
    fn accept_or_stop(&self, stop: BorrowedFd<'_>) -> io::Result<Option<Self::Stream>>;
    fn fds(&self) -> Vec<BorrowedFd<'_>>;
}

/// What the handle keeps of the listener once it is shared with the accept thread.
trait ListenerFds: Send + Sync {
    fn listener_fds(&self) -> Vec<BorrowedFd<'_>>;
}

impl<L: ServeListener> ListenerFds for L {
    fn listener_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.fds()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No invariant spans a critical section: the data stays consistent across a panic.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long [`StreamServer::abort`] (and a [`shutdown`](StreamServer::shutdown) past its
/// grace period) waits for the connection threads once their sockets are shut down. A thread
/// still running then is left to end on its own and counted as aborted.
pub const ABORT_WAIT: Duration = Duration::from_secs(1);

/// A second descriptor of a connection's socket, to shut it down; closed as soon as the
/// connection's thread ends, so that it never keeps a finished connection open.
type SocketSlot = Arc<Mutex<Option<OwnedFd>>>;

/// One connection: its thread and its socket slot.
struct Connection {
    thread: JoinHandle<()>,
    socket: SocketSlot,
}

impl Connection {
    fn shut_down(&self) {
        if let Some(socket) = &*lock(&self.socket) {
            let _ = rustix::net::shutdown(socket, rustix::net::Shutdown::Both);
        }
    }
}

#[derive(Default)]
struct State {
    connections: Vec<Connection>,
    running: usize,
    accepting: bool,
    error: Option<io::Error>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a connection thread ends or the accept thread stops.
    changed: Condvar,
}

impl Shared {
    /// Waits until `done` holds or `deadline` passes; returns whether `done` holds.
    fn wait_until(&self, deadline: Option<Instant>, done: impl Fn(&State) -> bool) -> bool {
        let mut state = lock(&self.state);
        loop {
            if done(&state) {
                return true;
            }
            state = match deadline {
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
    }
}

/// Counts a connection thread out and closes its socket slot, also when its handler panics.
struct Running {
    shared: Arc<Shared>,
    socket: SocketSlot,
}

impl Drop for Running {
    fn drop(&mut self) {
        lock(&self.socket).take();
        lock(&self.shared.state).running -= 1;
        self.shared.changed.notify_all();
    }
}

/// A running blocking server: a thread accepts connections and runs the handler on its own
/// thread for each (the blocking counterpart of [`net::StreamServer`](crate::net::StreamServer),
/// AnyIO's `Listener.serve` and asyncio's `StreamServer`). Returned by
/// [`TcpListener::serve`](super::TcpListener::serve) ([`TcpServer`]) and
/// [`UnixListener::serve`](super::UnixListener::serve) ([`UnixServer`]).
///
/// Threads cannot be cancelled: where the async server cancels a connection task, this one
/// shuts the connection's socket down (`shutdown(2)`, both directions), so that a handler
/// blocked in a receive or a send returns an error and ends. Dropping the handle closes the
/// listener and does that to every connection without waiting.
///
/// ```
/// use std::io::Write;
/// use std::time::Duration;
/// use packetwire::blocking::{TcpListener, TcpStream};
///
/// let server = TcpListener::bind("127.0.0.1", 0)?.serve(|mut stream| {
///     while let Ok(line) = stream.receive_line() {
///         if stream.send_all(&line).is_err() {
///             break;
///         }
///     }
/// })?;
/// let port = server.local_addrs()[0].port();
///
/// let mut client = TcpStream::connect("127.0.0.1", port)?;
/// client.write_all(b"echo\n")?;
/// assert_eq!(client.receive_line()?, &b"echo\n"[..]);
/// client.send_eof()?;
///
/// let outcome = server.shutdown(Duration::from_secs(5));
/// assert_eq!(outcome.aborted, 0);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub struct StreamServer<A> {
    addrs: Vec<A>,
    listener: Option<Arc<dyn ListenerFds>>,
    /// Dropping it makes the accept thread's end of the pair readable: the stop signal.
    stop: Option<StdUnixStream>,
    accept_thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// A blocking server over TCP.
pub type TcpServer = StreamServer<std::net::SocketAddr>;

/// A blocking server over Unix stream sockets.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub type UnixServer = StreamServer<crate::unix::UnixSocketAddress>;

impl<A: fmt::Debug> fmt::Debug for StreamServer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServer")
            .field("addrs", &self.addrs)
            .field("serving", &self.is_serving())
            .field("active_connections", &self.active_connections())
            .finish()
    }
}

impl<A> StreamServer<A> {
    pub(crate) fn start<L, F>(listener: L, addrs: Vec<A>, handler: F) -> io::Result<Self>
    where
        L: ServeListener,
        F: Fn(L::Stream) + Send + Sync + 'static,
    {
        let (stop, stop_seen) = StdUnixStream::pair()?;
        let listener = Arc::new(listener);
        let shared = Arc::new(Shared::default());
        lock(&shared.state).accepting = true;
        let handler = Arc::new(handler);
        let accept_thread = {
            let listener = Arc::clone(&listener);
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("packetwire-accept".into())
                .spawn(move || {
                    accept_loop(&*listener, stop_seen.as_fd(), &shared, &handler);
                    drop(listener);
                    lock(&shared.state).accepting = false;
                    shared.changed.notify_all();
                })?
        };
        Ok(Self {
            addrs,
            listener: Some(listener),
            stop: Some(stop),
            accept_thread: Some(accept_thread),
            shared,
        })
    }

    /// The addresses listened on (kept after [`close`](Self::close)).
    pub fn local_addrs(&self) -> &[A] {
        &self.addrs
    }

    /// The listening sockets (asyncio's `sockets`); none once closed.
    pub fn sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.listener
            .as_ref()
            .map_or_else(Vec::new, |l| l.listener_fds())
    }

    /// Whether connections are still being accepted.
    pub fn is_serving(&self) -> bool {
        self.listener.is_some() && lock(&self.shared.state).accepting
    }

    /// How many connection threads are still running.
    pub fn active_connections(&self) -> usize {
        lock(&self.shared.state).running
    }

    /// Blocks until the server stops accepting: [`close`](Self::close) or
    /// [`shutdown`](Self::shutdown) from another thread (share the server in an `Arc` and
    /// a `Mutex`, or keep the [`ServerStopper`] of [`stopper`](Self::stopper)), or a listener
    /// error, which is returned.
    pub fn serve_forever(&self) -> io::Result<()> {
        self.shared.wait_until(None, |state| !state.accepting);
        match lock(&self.shared.state).error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A handle that stops accepting from any thread, while another blocks in
    /// [`serve_forever`](Self::serve_forever).
    pub fn stopper(&self) -> io::Result<ServerStopper> {
        Ok(ServerStopper {
            stop: match &self.stop {
                Some(stop) => Some(stop.try_clone()?),
                None => None,
            },
        })
    }

    /// Stops accepting and closes the listening sockets (a Unix socket file is removed);
    /// running connections go on. Calling it again does nothing.
    pub fn close(&mut self) {
        // Closing our end of the pair wakes the accept thread.
        if let Some(stop) = self.stop.take() {
            let _ = stop.shutdown(std::net::Shutdown::Both);
        }
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
        self.listener = None;
    }

    /// Graceful shutdown: [`close`](Self::close), wait up to `grace` for the connection
    /// threads to end, then shut the sockets of the others down and wait for them up to
    /// [`ABORT_WAIT`].
    pub fn shutdown(mut self, grace: Duration) -> ShutdownOutcome {
        self.close();
        let deadline = Instant::now().checked_add(grace);
        let total = lock(&self.shared.state).running;
        if self.shared.wait_until(deadline, |state| state.running == 0) {
            self.reap();
            return ShutdownOutcome {
                finished: total,
                aborted: 0,
            };
        }
        let aborted = self.force_close();
        ShutdownOutcome {
            finished: total - aborted,
            aborted,
        }
    }

    /// Stops at once: closes the listener, shuts every connection's socket down and waits
    /// up to [`ABORT_WAIT`] for the threads to end.
    pub fn abort(mut self) -> ShutdownOutcome {
        self.close();
        let total = lock(&self.shared.state).running;
        let aborted = self.force_close();
        ShutdownOutcome {
            finished: total - aborted,
            aborted,
        }
    }

    /// Shuts down the sockets of the connections still running, waits for their threads up
    /// to [`ABORT_WAIT`], and returns how many were running.
    fn force_close(&mut self) -> usize {
        let aborted = {
            let state = lock(&self.shared.state);
            let mut aborted = 0;
            for connection in &state.connections {
                if !connection.thread.is_finished() {
                    aborted += 1;
                    connection.shut_down();
                }
            }
            aborted
        };
        let deadline = Instant::now().checked_add(ABORT_WAIT);
        self.shared.wait_until(deadline, |state| state.running == 0);
        self.reap();
        aborted
    }

    /// Joins the threads that have ended.
    fn reap(&self) {
        let finished = take_finished(&mut lock(&self.shared.state));
        join_all(finished);
    }
}

impl<A> Drop for StreamServer<A> {
    fn drop(&mut self) {
        self.close();
        for connection in &lock(&self.shared.state).connections {
            connection.shut_down();
        }
    }
}

/// Stops a [`StreamServer`]'s accepting from another thread: the server's
/// [`serve_forever`](StreamServer::serve_forever) returns. The connections go on until the
/// server is shut down or dropped.
#[derive(Debug)]
pub struct ServerStopper {
    stop: Option<StdUnixStream>,
}

impl ServerStopper {
    /// Stops accepting (the listening sockets close once the accept thread sees it).
    pub fn stop(&self) {
        if let Some(stop) = &self.stop {
            let _ = stop.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn accept_loop<L, F>(listener: &L, stop: BorrowedFd<'_>, shared: &Arc<Shared>, handler: &Arc<F>)
where
    L: ServeListener,
    F: Fn(L::Stream) + Send + Sync + 'static,
{
    loop {
        let stream = match listener.accept_or_stop(stop) {
            Ok(Some(stream)) => stream,
            Ok(None) => return,
            Err(e) => {
                lock(&shared.state).error = Some(e);
                return;
            }
        };
        let socket = match stream.as_fd().try_clone_to_owned() {
            Ok(socket) => Arc::new(Mutex::new(Some(socket))),
            // Out of descriptors: drop this connection (the peer sees it closed), go on.
            Err(_) => continue,
        };
        lock(&shared.state).running += 1;
        let running = Running {
            shared: Arc::clone(shared),
            socket: Arc::clone(&socket),
        };
        let handler = Arc::clone(handler);
        let spawned = std::thread::Builder::new()
            .name("packetwire-connection".into())
            .spawn(move || {
                let _running = running;
                handler(stream);
            });
        // Without a thread, the closure (the stream and the running count) was dropped: the
        // peer sees the connection closed.
        if let Ok(thread) = spawned {
            let finished = {
                let mut state = lock(&shared.state);
                state.connections.push(Connection { thread, socket });
                // Join what has ended, so the list grows with live connections only.
                take_finished(&mut state)
            };
            join_all(finished);
        }
    }
}

/// Removes the connections whose thread has ended from the list.
fn take_finished(state: &mut State) -> Vec<Connection> {
    let (finished, running) = std::mem::take(&mut state.connections)
        .into_iter()
        .partition(|c| c.thread.is_finished());
    state.connections = running;
    finished
}

fn join_all(connections: Vec<Connection>) {
    for connection in connections {
        // A handler's panic was reported by the panic hook; the server goes on.
        let _ = connection.thread.join();
    }
}
