//! Unix stream listeners: bind a path or abstract name, handle stale socket files, remove the
//! file on close only if it is still ours.

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::SocketAddr;

use crate::sockopt::SocketOptions;
use crate::unix::UnixSocketAddress;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use packetwire_proto::DEFAULT_LIMIT;
use rustix::io::Errno;
use rustix::net::SocketAddrUnix;
use socket2::{Domain, SockAddr, Socket, Type};

use super::error::AdoptError;
use super::listener::{Listening, DEFAULT_BACKLOG};
use super::server::{AcceptFuture, ServeListener, StreamServer};
use super::sys;
use super::unix::{check_unix_stream_socket, UnixStream};
use crate::runtime::{self, Runtime};

/// What [`UnixListener`] does when its path is already taken by a socket file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StaleSocketPolicy {
    /// Fail with [`io::ErrorKind::AddrInUse`] (the default, like `bind(2)`).
    #[default]
    Fail,
    /// Connect to it: if nobody listens (`ECONNREFUSED`), the file is stale and is removed;
    /// if somebody does, fail with [`io::ErrorKind::AddrInUse`]. A path that is not a socket
    /// is never removed.
    RemoveIfStale,
}

/// The socket file we bound, identified by device and inode.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn stat(path: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(Self {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Removes the file if it is still the one we bound: a file another process put in its
    /// place stays.
    fn remove_if_ours(&self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if meta.dev() == self.dev && meta.ino() == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// A Unix stream server socket, on a path or (Linux) an abstract name `@name`.
///
/// On drop (or when its server closes), the socket file is removed, but only if the path
/// still names the file this listener created: if it was replaced, it is left alone. A socket
/// adopted with [`from_std`](Self::from_std) never removes anything.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::net::{StaleSocketPolicy, UnixListenerOptions, UnixStream};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("server.sock");
/// let listener = UnixListenerOptions::new()
///     .mode(0o600)
///     .stale_socket(StaleSocketPolicy::RemoveIfStale)
///     .bind(&path)
///     .await?;
/// let _client = UnixStream::connect(&path).await?;
/// let (_stream, _peer) = listener.accept().await?;
/// drop(listener);
/// assert!(!path.exists());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixListener {
    listening: Listening,
    addr: UnixSocketAddress,
    file: Option<SocketFile>,
    limit: usize,
}

impl UnixListener {
    /// Listens on `path` (`@name`: Linux abstract name) with the default options.
    pub async fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        UnixListenerOptions::new().bind(path).await
    }

    /// Adopts a listening standard Unix socket, on the current runtime. Its file is not
    /// removed on drop.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> Result<Self, AdoptError> {
        Self::from_std_with_runtime(listener, runtime::current()?)
    }

    /// [`from_std`](Self::from_std) on the given runtime.
    pub fn from_std_with_runtime(
        listener: std::os::unix::net::UnixListener,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(listener);
        check_unix_stream_socket(fd.as_fd())?;
        if !sys::sock(&fd).is_listener()? {
            return Err(AdoptError::NotListening);
        }
        let addr = crate::os::unix_local_address(fd.as_fd())?;
        sys::set_nonblocking(fd.as_fd())?;
        let io = runtime.register(fd)?;
        Ok(Self {
            listening: Listening::new(vec![io], runtime),
            addr,
            file: None,
            limit: DEFAULT_LIMIT,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> &UnixSocketAddress {
        &self.addr
    }

    /// The address listened on, as a one-element slice: the same shape as
    /// [`TcpListener::local_addrs`](crate::net::TcpListener::local_addrs).
    pub fn local_addrs(&self) -> &[UnixSocketAddress] {
        std::slice::from_ref(&self.addr)
    }

    /// The listening socket's options.
    pub fn socket_options(&self) -> SocketOptions<'_> {
        SocketOptions::from_fd(self.listening.fds()[0])
    }

    /// The listening socket, as a one-element list (asyncio's `Server.sockets`).
    pub fn sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }

    /// The runtime the listener is registered with.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.listening.runtime
    }

    /// Accepts the next connection, with the same resilience as
    /// [`TcpListener::accept`](crate::net::TcpListener::accept). Cancel-safe.
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixSocketAddress)> {
        let (io, addr) = self.listening.accept(|_| Ok(())).await?;
        let peer = addr
            .and_then(|a| SocketAddrUnix::try_from(a).ok())
            .map_or_else(|| SocketAddr::from_pathname(""), |a| std_from_rustix(&a))?;
        let peer = UnixSocketAddress::from(peer);
        let stream =
            UnixStream::from_registered(io, Arc::clone(&self.listening.runtime), self.limit);
        Ok((stream, peer))
    }

    /// Runs `handler` on its own task for each accepted connection; see [`StreamServer`].
    pub fn serve<F, Fut>(self, handler: F) -> StreamServer<UnixSocketAddress>
    where
        F: Fn(UnixStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addrs = vec![self.addr.clone()];
        StreamServer::start(self, addrs, handler)
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            file.remove_if_ours();
        }
    }
}

impl ServeListener for UnixListener {
    type Stream = UnixStream;

    fn accept_stream(&self) -> AcceptFuture<'_, UnixStream> {
        Box::pin(async move { Ok(self.accept().await?.0) })
    }

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }

    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.listening.runtime
    }
}

fn std_from_rustix(addr: &SocketAddrUnix) -> io::Result<SocketAddr> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // An empty abstract name is how some kernels report an unnamed peer.
    if let Some(name) = addr.abstract_name().filter(|name| !name.is_empty()) {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name);
    }
    match addr.path_bytes() {
        Some(path) => SocketAddr::from_pathname(OsStr::from_bytes(path)),
        None => SocketAddr::from_pathname(""),
    }
}

/// How to listen on a Unix stream socket: backlog, file mode, stale-file policy, buffer limit
/// of the accepted streams, and runtime.
#[derive(Debug, Clone)]
pub struct UnixListenerOptions {
    backlog: u32,
    mode: Option<u32>,
    stale: StaleSocketPolicy,
    limit: usize,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for UnixListenerOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixListenerOptions {
    /// Backlog 100, the mode the umask gives, [`StaleSocketPolicy::Fail`], a 64 KiB buffer
    /// limit, the current runtime.
    pub fn new() -> Self {
        Self {
            backlog: DEFAULT_BACKLOG,
            mode: None,
            stale: StaleSocketPolicy::Fail,
            limit: DEFAULT_LIMIT,
            runtime: None,
        }
    }

    /// The listen backlog (100 by default).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// The socket file's permission bits, set with `chmod` right after `bind` (for instance
    /// `0o600`). Ignored for abstract names, which have no file.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// What to do when the path is already a socket file.
    pub fn stale_socket(mut self, policy: StaleSocketPolicy) -> Self {
        self.stale = policy;
        self
    }

    /// The buffer limit of accepted streams (64 KiB by default).
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn limit(mut self, limit: usize) -> Self {
        assert!(limit > 0, "the buffer limit must be positive");
        self.limit = limit;
        self
    }

    /// Uses this runtime instead of [`runtime::current()`].
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Listens on `path` (`@name`: Linux abstract name).
    pub async fn bind(&self, path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let path = path.as_ref();
        let addr = sys::unix_sockaddr(path)?;
        let file_path = addr.as_pathname().map(Path::to_owned);
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
        match socket.bind(&addr) {
            Ok(()) => {}
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse
                    && self.stale == StaleSocketPolicy::RemoveIfStale
                    && file_path.is_some() =>
            {
                remove_stale(path, &addr)?;
                socket.bind(&addr).map_err(|e| annotate(e, path))?;
            }
            Err(e) => return Err(annotate(e, path)),
        }
        let file = match &file_path {
            Some(file_path) => Some(SocketFile::stat(file_path)?),
            None => None,
        };
        // From here on, a failure must not leave our file behind.
        let mut cleanup = Cleanup(file.as_ref());
        if let (Some(mode), Some(file_path)) = (self.mode, &file_path) {
            std::fs::set_permissions(file_path, std::fs::Permissions::from_mode(mode))?;
        }
        socket.listen(self.backlog.min(i32::MAX as u32) as i32)?;
        let local = crate::os::unix_local_address(socket.as_fd())?;
        let io = rt.register(socket.into())?;
        cleanup.0 = None;
        drop(cleanup);
        Ok(UnixListener {
            listening: Listening::new(vec![io], rt),
            addr: local,
            file,
            limit: self.limit,
        })
    }
}

/// Removes the socket file on an early return.
struct Cleanup<'a>(Option<&'a SocketFile>);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(file) = self.0 {
            file.remove_if_ours();
        }
    }
}

/// [`StaleSocketPolicy::RemoveIfStale`]: removes `path` if it is a socket nobody listens on.
fn remove_stale(path: &Path, addr: &SockAddr) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    let probe = Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
    match probe.connect(addr) {
        Err(e) if sys::errno(&e) == Some(Errno::CONNREFUSED) => match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        // Removed in the meantime: bind again.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        // Connected, or a full backlog (EAGAIN): someone is listening.
        Ok(()) => Err(in_use(path)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(in_use(path)),
        Err(e) => Err(e),
    }
}

fn in_use(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("{} is in use by a listening socket", path.display()),
    )
}

fn annotate(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot listen on {}: {error}", path.display()),
    )
}
