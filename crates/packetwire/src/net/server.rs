//! Serving a listener: one task accepts, one task per connection runs the handler, and the
//! handle stops them gracefully or at once.

use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::BorrowedFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::runtime::{self, Runtime, TaskHandle};
use crate::sync::{CatchUnwind, Event};

/// The future of one `accept`.
pub(crate) type AcceptFuture<'a, S> = Pin<Box<dyn Future<Output = io::Result<S>> + Send + 'a>>;

/// A listener that a [`StreamServer`] can run.
pub(crate) trait ServeListener: Send + Sync + 'static {
    type Stream: Send + 'static;

    fn accept_stream(&self) -> AcceptFuture<'_, Self::Stream>;
    fn fds(&self) -> Vec<BorrowedFd<'_>>;
    fn runtime(&self) -> &Arc<dyn Runtime>;
}

/// What the handle keeps of the listener once it is shared with the accept task.
trait ListenerFds: Send + Sync {
    fn listener_fds(&self) -> Vec<BorrowedFd<'_>>;
}

impl<L: ServeListener> ListenerFds for L {
    fn listener_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.fds()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct ServerShared {
    connections: Mutex<Vec<Box<dyn TaskHandle>>>,
    stopped: Event,
    error: Mutex<Option<io::Error>>,
}

/// How a [`StreamServer::shutdown`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ShutdownOutcome {
    /// Connection tasks that ended on their own within the grace period.
    pub finished: usize,
    /// Connection tasks still running at the deadline, which were aborted.
    pub aborted: usize,
}

/// A running server: a task accepts connections and runs the handler on its own task for
/// each (asyncio's `StreamServer`). Returned by [`TcpListener::serve`](crate::net::TcpListener::serve)
/// ([`TcpServer`]) and [`UnixListener::serve`](crate::net::UnixListener::serve)
/// ([`UnixServer`]).
///
/// Stop it with [`shutdown`](Self::shutdown) (stop accepting, give the connections a grace
/// period, then abort what is left) or [`abort`](Self::abort). Dropping the handle aborts the
/// accept task and every connection task at once. A handler that panics ends its own task
/// only.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::net::{TcpListener, TcpStream};
///
/// let server = TcpListener::bind("127.0.0.1", 0).await?.serve(|mut stream| async move {
///     while let Ok(line) = stream.receive_line().await {
///         if stream.send_all(&line).await.is_err() {
///             break;
///         }
///     }
/// });
/// let port = server.local_addrs()[0].port();
///
/// let mut client = TcpStream::connect("127.0.0.1", port).await?;
/// client.send_all(b"echo\n").await?;
/// assert_eq!(client.receive_line().await?, &b"echo\n"[..]);
/// client.send_eof()?;
///
/// let outcome = server.shutdown(Duration::from_secs(5)).await;
/// assert_eq!(outcome.aborted, 0);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct StreamServer<A> {
    addrs: Vec<A>,
    listener: Option<Arc<dyn ListenerFds>>,
    accept_task: Option<Box<dyn TaskHandle>>,
    shared: Arc<ServerShared>,
    runtime: Arc<dyn Runtime>,
}

/// A server over TCP.
pub type TcpServer = StreamServer<std::net::SocketAddr>;

/// A server over Unix stream sockets.
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
    pub(crate) fn start<L, F, Fut>(listener: L, addrs: Vec<A>, handler: F) -> Self
    where
        L: ServeListener,
        F: Fn(L::Stream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let runtime = Arc::clone(listener.runtime());
        let listener = Arc::new(listener);
        let shared = Arc::new(ServerShared::default());
        let accept_loop = {
            let listener = Arc::clone(&listener);
            let shared = Arc::clone(&shared);
            let runtime = Arc::clone(&runtime);
            async move {
                loop {
                    match listener.accept_stream().await {
                        Ok(stream) => {
                            let task = runtime.spawn(Box::pin(CatchUnwind::new(handler(stream))));
                            let mut connections = lock(&shared.connections);
                            connections.retain(|t| !t.is_finished());
                            connections.push(task);
                        }
                        Err(e) => {
                            *lock(&shared.error) = Some(e);
                            break;
                        }
                    }
                }
                shared.stopped.set();
            }
        };
        let accept_task = runtime.spawn(Box::pin(accept_loop));
        Self {
            addrs,
            listener: Some(listener),
            accept_task: Some(accept_task),
            shared,
            runtime,
        }
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
        self.listener.is_some() && !self.shared.stopped.is_set()
    }

    /// How many connection tasks are still running.
    pub fn active_connections(&self) -> usize {
        lock(&self.shared.connections)
            .iter()
            .filter(|t| !t.is_finished())
            .count()
    }

    /// Waits until the server stops accepting on its own, which only a listener error does
    /// (it is returned). Drop the future to stop waiting; the server keeps running.
    pub async fn serve_forever(&self) -> io::Result<()> {
        self.shared.stopped.wait().await;
        match lock(&self.shared.error).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Stops accepting and closes the listening sockets (a Unix socket file is removed);
    /// running connections go on. Calling it again does nothing.
    pub async fn close(&mut self) {
        if let Some(mut task) = self.accept_task.take() {
            task.abort();
            task.join().await;
        }
        self.listener = None;
        self.shared.stopped.set();
    }

    /// Graceful shutdown: [`close`](Self::close), wait up to `grace` for the connection tasks
    /// to end, then abort the others and wait for them to be gone.
    pub async fn shutdown(mut self, grace: Duration) -> ShutdownOutcome {
        self.close().await;
        let mut connections = std::mem::take(&mut *lock(&self.shared.connections));
        let total = connections.len();
        let deadline = self.runtime.now().checked_add(grace);
        let waited = runtime::maybe_timeout_at(&*self.runtime, deadline, async {
            for task in connections.iter_mut() {
                task.join().await;
            }
        })
        .await;
        let mut outcome = ShutdownOutcome {
            finished: total,
            aborted: 0,
        };
        if waited.is_err() {
            for task in connections.iter_mut() {
                if !task.is_finished() {
                    task.abort();
                    outcome.aborted += 1;
                }
            }
            outcome.finished = total - outcome.aborted;
            for task in connections.iter_mut() {
                task.join().await;
            }
        }
        outcome
    }

    /// Stops at once: closes the listener, aborts every connection task and waits for them
    /// to be gone.
    pub async fn abort(mut self) {
        self.close().await;
        let mut connections = std::mem::take(&mut *lock(&self.shared.connections));
        for task in connections.iter_mut() {
            task.abort();
        }
        for task in connections.iter_mut() {
            task.join().await;
        }
    }
}

impl<A> Drop for StreamServer<A> {
    fn drop(&mut self) {
        if let Some(task) = &mut self.accept_task {
            task.abort();
        }
        for task in lock(&self.shared.connections).iter_mut() {
            task.abort();
        }
    }
}
