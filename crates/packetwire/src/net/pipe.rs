//! Pipes as byte streams (asyncio's `connect_read_pipe` / `connect_write_pipe`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use packetwire_proto::DEFAULT_LIMIT;
use rustix::fs::{FileType, OFlags};

use super::error::AdoptError;
use super::stream::{
    impl_async_read, impl_async_write, receive_methods, send_methods, ReadCore, Shared, WriteCore,
};
use crate::runtime::{self, Runtime};
use crate::socket::sys::{self, FdKind};

/// The read end of a pipe (or FIFO, character device or socket) as a byte stream, with the
/// receive vocabulary of [`TcpStream`](crate::net::TcpStream).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (mut reader, mut writer) = packetwire::net::pipe()?;
/// writer.send_all(b"one\ntwo").await?;
/// drop(writer);
/// assert_eq!(reader.receive_line().await?, &b"one\n"[..]);
/// assert!(reader.receive_line().await.unwrap_err().is_end_of_stream());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct PipeReader {
    core: ReadCore,
}

/// The write end of a pipe (or FIFO, character device or socket) as a byte stream, with the
/// send vocabulary of [`TcpStream`](crate::net::TcpStream). Drop it to close the pipe: the
/// reader then sees the end of the stream.
///
/// Writing to a pipe whose read end is closed raises `SIGPIPE` unless the program ignores it
/// (Rust programs do by default); the write then fails with `EPIPE`.
#[derive(Debug)]
pub struct PipeWriter {
    core: WriteCore,
}

/// A new pipe, both ends non-blocking, on the current runtime.
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    pipe_with_runtime(runtime::current()?)
}

/// [`pipe`] on the given runtime.
pub fn pipe_with_runtime(runtime: Arc<dyn Runtime>) -> io::Result<(PipeReader, PipeWriter)> {
    use rustix::pipe::{pipe_with, PipeFlags};
    let (read, write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    let reader = PipeReader {
        core: ReadCore::new(
            Shared::new(runtime.register(read)?, FdKind::Pipe, Arc::clone(&runtime)),
            DEFAULT_LIMIT,
        ),
    };
    let writer = PipeWriter {
        core: WriteCore::new(Shared::new(runtime.register(write)?, FdKind::Pipe, runtime)),
    };
    Ok((reader, writer))
}

/// Checks that `fd` can be polled and is open for `access`; returns the calls to use on it.
fn check_pipe(fd: BorrowedFd<'_>, readable: bool) -> Result<FdKind, AdoptError> {
    let stat = rustix::fs::fstat(fd).map_err(io::Error::from)?;
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::Fifo | FileType::CharacterDevice => FdKind::Pipe,
        FileType::Socket => FdKind::Socket,
        other => {
            return Err(AdoptError::WrongType {
                expected: "a pipe, FIFO, character device or socket",
                found: format!("{other:?}"),
            })
        }
    };
    let flags = rustix::fs::fcntl_getfl(fd).map_err(io::Error::from)?;
    let mode = flags & OFlags::RWMODE;
    let ok = mode == OFlags::RDWR
        || (readable && mode == OFlags::RDONLY)
        || (!readable && mode == OFlags::WRONLY);
    if !ok {
        return Err(AdoptError::WrongType {
            expected: if readable {
                "a descriptor open for reading"
            } else {
                "a descriptor open for writing"
            },
            found: if readable {
                "the write end".into()
            } else {
                "the read end".into()
            },
        });
    }
    Ok(kind)
}

impl PipeReader {
    /// Adopts the read end of a pipe (for instance a `ChildStdout` or `std::io::PipeReader`),
    /// on the current runtime. It is checked at once (a pipe, FIFO, character device or socket,
    /// open for reading) and switched to non-blocking mode.
    pub fn from_fd(fd: impl Into<OwnedFd>) -> Result<Self, AdoptError> {
        Self::from_fd_with_runtime(fd, runtime::current()?)
    }

    /// [`from_fd`](Self::from_fd) on the given runtime.
    pub fn from_fd_with_runtime(
        fd: impl Into<OwnedFd>,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, AdoptError> {
        let fd = fd.into();
        let kind = check_pipe(fd.as_fd(), true)?;
        sys::set_nonblocking(fd.as_fd())?;
        let io = runtime.register(fd)?;
        Ok(Self {
            core: ReadCore::new(Shared::new(io, kind, runtime), DEFAULT_LIMIT),
        })
    }

    receive_methods!(core);
}

impl PipeWriter {
    /// Adopts the write end of a pipe (for instance a `ChildStdin` or `std::io::PipeWriter`),
    /// on the current runtime. It is checked at once (a pipe, FIFO, character device or socket,
    /// open for writing) and switched to non-blocking mode.
    pub fn from_fd(fd: impl Into<OwnedFd>) -> Result<Self, AdoptError> {
        Self::from_fd_with_runtime(fd, runtime::current()?)
    }

    /// [`from_fd`](Self::from_fd) on the given runtime.
    pub fn from_fd_with_runtime(
        fd: impl Into<OwnedFd>,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, AdoptError> {
        let fd = fd.into();
        let kind = check_pipe(fd.as_fd(), false)?;
        sys::set_nonblocking(fd.as_fd())?;
        let io = runtime.register(fd)?;
        Ok(Self {
            core: WriteCore::new(Shared::new(io, kind, runtime)),
        })
    }

    send_methods!(core);
}

impl AsFd for PipeReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.shared().io.fd()
    }
}

impl AsFd for PipeWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.shared().io.fd()
    }
}

impl_async_read!(PipeReader, core);
impl_async_write!(PipeWriter, false, core);
