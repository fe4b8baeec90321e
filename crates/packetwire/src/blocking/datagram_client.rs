//! What the blocking datagram clients share: the socket, one lock per direction with a
//! timeout, the `poll(2)` loops that a `close` from another thread interrupts, and the
//! iterators.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use packetwire_proto::{DatagramProtocol, DatagramSerializer, RecvConverter, SendConverter};

use super::wait::{self, Interest};
use crate::client::datagram::{self as common, Budget, Received, Sent};
use crate::client::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::datagram::{check_sent, FULL_QUEUE_RETRY_MAX, FULL_QUEUE_RETRY_MIN};
use crate::os::RecvError;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing behind these locks is left half-updated by a panic.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A lock with a timeout on its acquisition, guarding a buffer: std's `Mutex` cannot give up
/// waiting, and a client's timeout counts the wait for the lock.
struct TimedLock<T> {
    held: Mutex<bool>,
    released: Condvar,
    data: Mutex<T>,
}

struct TimedGuard<'a, T> {
    lock: &'a TimedLock<T>,
    data: MutexGuard<'a, T>,
}

impl<T> TimedLock<T> {
    fn new(data: T) -> Self {
        Self {
            held: Mutex::new(false),
            released: Condvar::new(),
            data: Mutex::new(data),
        }
    }

    /// Takes the lock, waiting at most until `deadline` (`None`: no limit).
    fn lock(&self, deadline: Option<Instant>) -> Option<TimedGuard<'_, T>> {
        let mut held = lock(&self.held);
        while *held {
            held = match deadline {
                None => self
                    .released
                    .wait(held)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let left = deadline.checked_duration_since(Instant::now())?;
                    if left.is_zero() {
                        return None;
                    }
                    self.released
                        .wait_timeout(held, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
        *held = true;
        drop(held);
        Some(TimedGuard {
            lock: self,
            data: lock(&self.data),
        })
    }
}

impl<T> Drop for TimedGuard<'_, T> {
    fn drop(&mut self) {
        *lock(&self.lock.held) = false;
        self.lock.released.notify_one();
    }
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    wait::deadline(timeout)
}

fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// The state of a blocking datagram client.
///
/// # Closing
///
/// `close` sets a flag and shuts the socket down (`shutdown(SHUT_RDWR)`), which wakes every
/// thread waiting in `poll(2)` on it; each loop checks the flag before each system call, so a
/// blocked receive ends with [`RecvPacketError::Closed`]. The descriptor itself stays open
/// until the client is dropped, that is until no thread can be using it: a descriptor number
/// freed under a waiting thread could be reused by an unrelated file, and `as_fd` stays valid.
pub(crate) struct ClientCore<S, C> {
    fd: OwnedFd,
    protocol: DatagramProtocol<S, C>,
    closed: AtomicBool,
    send: TimedLock<BytesMut>,
    recv: TimedLock<Vec<u8>>,
    max_recv_size: usize,
}

impl<S, C> fmt::Debug for ClientCore<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCore")
            .field("fd", &self.fd)
            .field("protocol", &self.protocol)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .field("max_recv_size", &self.max_recv_size)
            .finish()
    }
}

impl<S, C> ClientCore<S, C> {
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<S, C> ClientCore<S, C>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Wraps a connected, non-blocking socket.
    pub(crate) fn new(fd: OwnedFd, protocol: DatagramProtocol<S, C>, max_recv_size: usize) -> Self {
        Self {
            fd,
            protocol,
            closed: AtomicBool::new(false),
            send: TimedLock::new(BytesMut::new()),
            recv: TimedLock::new(Vec::new()),
            max_recv_size: crate::datagram::check_max_datagram_size(max_recv_size),
        }
    }

    /// Wraps an adopted socket (the clients' `from_std` and `from_socket`), which must be
    /// connected ([`AdoptError::NotConnected`](crate::net::AdoptError::NotConnected) otherwise).
    pub(crate) fn adopt(
        fd: OwnedFd,
        protocol: DatagramProtocol<S, C>,
        max_recv_size: usize,
    ) -> Result<Self, ClientConnectError> {
        if !crate::os::is_connected(fd.as_fd())? {
            return Err(crate::net::AdoptError::NotConnected.into());
        }
        Ok(Self::new(fd, protocol, max_recv_size))
    }

    pub(crate) fn protocol(&self) -> &DatagramProtocol<S, C> {
        &self.protocol
    }

    pub(crate) fn max_recv_size(&self) -> usize {
        self.max_recv_size
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            // Wakes the threads in `poll(2)`; errors (a socket shut down already) do not
            // matter, the flag is what the loops look at.
            let _ = socket2::SockRef::from(&self.fd).shutdown(std::net::Shutdown::Both);
        }
    }

    /// Sends one packet with `op` (the datagram in, bytes sent out), within `timeout`
    /// (counting the wait for the send lock).
    pub(crate) fn send_with(
        &self,
        packet: &Sent<S, C>,
        timeout: Option<Duration>,
        mut op: impl FnMut(BorrowedFd<'_>, &[u8]) -> io::Result<usize>,
    ) -> Result<(), SendPacketError> {
        if self.is_closed() {
            return Err(SendPacketError::Closed);
        }
        let deadline = deadline(timeout);
        let mut guard = self.send.lock(deadline).ok_or(SendPacketError::TimedOut)?;
        let buffer = &mut *guard.data;
        common::encode(&self.protocol, packet, buffer)?;
        loop {
            if self.is_closed() {
                return Err(SendPacketError::Closed);
            }
            match op(self.fd(), buffer) {
                Ok(sent) => return Ok(check_sent(sent, buffer.len())?),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if passed(deadline) {
                        return Err(SendPacketError::TimedOut);
                    }
                    wait::wait(self.fd(), Interest::Write, deadline)?;
                }
                Err(_) if self.is_closed() => return Err(SendPacketError::Closed),
                Err(e) => return Err(SendPacketError::from_io(e)),
            }
        }
    }

    /// Receives one datagram with `op` and parses it, within `timeout` (counting the wait for
    /// the receive lock; `Some(ZERO)`: only a datagram that is already there).
    pub(crate) fn recv_with<R>(
        &self,
        timeout: Option<Duration>,
        mut op: impl FnMut(BorrowedFd<'_>, &mut [u8]) -> Result<(usize, R), RecvError>,
    ) -> Result<(Received<S, C>, R), RecvPacketError> {
        if self.is_closed() {
            return Err(RecvPacketError::Closed);
        }
        let deadline = deadline(timeout);
        let mut guard = self.recv.lock(deadline).ok_or(RecvPacketError::TimedOut)?;
        let buffer = &mut *guard.data;
        // Readiness followed by nothing to read, again and again: the socket was shut down
        // behind the client's back (through a duplicate of its descriptor), and `poll(2)`
        // reports it at once forever. Back off instead of spinning.
        let mut empty_wakeups = 0u32;
        loop {
            if self.is_closed() {
                return Err(RecvPacketError::Closed);
            }
            match common::try_receive_now(self.fd(), buffer, self.max_recv_size, &mut op) {
                Ok(Some((len, extra))) => {
                    return Ok((common::decode(&self.protocol, &buffer[..len])?, extra))
                }
                Ok(None) => {
                    if passed(deadline) {
                        return Err(RecvPacketError::TimedOut);
                    }
                    if empty_wakeups >= 2 {
                        let backoff = FULL_QUEUE_RETRY_MIN * 2u32.saturating_pow(empty_wakeups - 2);
                        let backoff = backoff.min(FULL_QUEUE_RETRY_MAX);
                        let left = deadline.map_or(backoff, |d| {
                            d.saturating_duration_since(Instant::now()).min(backoff)
                        });
                        std::thread::sleep(left);
                    }
                    if wait::wait(self.fd(), Interest::Read, deadline)? {
                        empty_wakeups = empty_wakeups.saturating_add(1);
                    }
                }
                Err(_) if self.is_closed() => return Err(RecvPacketError::Closed),
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives one packet from the connected peer (ancillary data is discarded).
    pub(crate) fn recv_packet(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.recv_with(timeout, |fd, buf| {
            Ok((crate::os::recv_datagram(fd, buf)?, ()))
        })
        .map(|(packet, ())| packet)
    }

    /// Sends one packet to the connected peer.
    pub(crate) fn send_packet(
        &self,
        packet: &Sent<S, C>,
        timeout: Option<Duration>,
    ) -> Result<(), SendPacketError> {
        self.send_with(packet, timeout, crate::os::send)
    }
}

/// The packets a blocking datagram client receives, with a time budget: what
/// `iter_received_packets` returns on [`UdpClient`](crate::blocking::UdpClient) and
/// [`UnixDatagramClient`](crate::blocking::UnixDatagramClient), and what `for packet in
/// &client` iterates over (without a budget).
///
/// The budget counts only the time spent waiting inside [`next`](Iterator::next), not the
/// consumer's time between items (as EasyNetwork's): `Some(Duration::ZERO)` yields the
/// datagrams already there, `None` waits without limit. The iteration ends at the first
/// error: the budget spent ([`RecvPacketError::TimedOut`]), the client closed, a datagram
/// that does not parse or is too large, or any other receive error; [`error`](Self::error)
/// tells which. A new iteration goes on with the next datagram.
pub struct DatagramPacketIter<'a, S, C> {
    core: &'a ClientCore<S, C>,
    budget: Budget,
    error: Option<RecvPacketError>,
}

impl<S, C> fmt::Debug for DatagramPacketIter<'_, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramPacketIter")
            .field("client", &self.core)
            .field("time_left", &self.budget.left())
            .field("error", &self.error)
            .finish()
    }
}

impl<'a, S, C> DatagramPacketIter<'a, S, C> {
    pub(crate) fn new(core: &'a ClientCore<S, C>, timeout: Option<Duration>) -> Self {
        Self {
            core,
            budget: Budget::new(timeout),
            error: None,
        }
    }

    /// The error that ended the iteration ([`RecvPacketError::TimedOut`] when the budget
    /// was spent, [`RecvPacketError::Closed`], [`RecvPacketError::Parse`], ...); `None`
    /// while it goes on.
    pub fn error(&self) -> Option<&RecvPacketError> {
        self.error.as_ref()
    }
}

impl<S, C> Iterator for DatagramPacketIter<'_, S, C>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    type Item = Received<S, C>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.error.is_some() {
            return None;
        }
        let start = Instant::now();
        let result = self.core.recv_packet(self.budget.left());
        self.budget.spend(start.elapsed());
        match result {
            Ok(packet) => Some(packet),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// Every receive of a blocking datagram client, as an [`Iterator`] of results: made by
/// `packets()` on [`UdpClient`](crate::blocking::UdpClient) and
/// [`UnixDatagramClient`](crate::blocking::UnixDatagramClient).
///
/// Each item is what `recv_packet` returns. A recoverable error (a bad datagram, a refused
/// datagram, ...) is an item and the iteration goes on; another error is the last item; once
/// the client is closed the iteration ends without an error item.
pub struct DatagramPackets<'a, S, C> {
    core: &'a ClientCore<S, C>,
    done: bool,
}

impl<S, C> fmt::Debug for DatagramPackets<'_, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramPackets")
            .field("client", &self.core)
            .field("done", &self.done)
            .finish()
    }
}

impl<'a, S, C> DatagramPackets<'a, S, C> {
    pub(crate) fn new(core: &'a ClientCore<S, C>) -> Self {
        Self { core, done: false }
    }
}

impl<S, C> Iterator for DatagramPackets<'_, S, C>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    type Item = Result<Received<S, C>, RecvPacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.core.recv_packet(None) {
            Ok(packet) => Some(Ok(packet)),
            Err(e) => match common::stream_after_error(&e) {
                None => {
                    self.done = true;
                    None
                }
                Some(go_on) => {
                    self.done = !go_on;
                    Some(Err(e))
                }
            },
        }
    }
}

/// The methods that the blocking datagram clients (`UdpClient`, `UnixDatagramClient`) share
/// to the letter, for their `impl<S, C>` block: each client has a field `core`
/// ([`ClientCore`]).
macro_rules! datagram_client_methods {
    () => {
        /// As [`send_packet`](Self::send_packet), waiting at most `timeout` in all (the send
        /// lock included): [`SendPacketError::TimedOut`](crate::client::SendPacketError::TimedOut)
        /// then, and nothing was sent.
        pub fn send_packet_within(
            &self,
            packet: &$crate::client::datagram::Sent<S, C>,
            timeout: std::time::Duration,
        ) -> Result<(), $crate::client::SendPacketError> {
            self.core.send_packet(packet, Some(timeout))
        }

        /// As [`recv_packet`](Self::recv_packet), waiting at most `timeout` in all, the wait
        /// for the receive lock included
        /// ([`RecvPacketError::TimedOut`](crate::client::RecvPacketError::TimedOut) then).
        /// `Duration::ZERO` takes only a datagram that is already there.
        pub fn recv_packet_within(
            &self,
            timeout: std::time::Duration,
        ) -> Result<$crate::client::datagram::Received<S, C>, $crate::client::RecvPacketError> {
            self.core.recv_packet(Some(timeout))
        }

        /// Every receive, as an iterator of results (see
        /// [`DatagramPackets`](crate::blocking::DatagramPackets)): recoverable errors are
        /// items, and it ends when the client is closed.
        pub fn packets(&self) -> $crate::blocking::DatagramPackets<'_, S, C> {
            $crate::blocking::DatagramPackets::new(&self.core)
        }

        /// Whether [`close`](Self::close) was called.
        pub fn is_closed(&self) -> bool {
            self.core.is_closed()
        }

        /// The socket's options (EasyNetwork's socket proxy).
        pub fn socket_options(&self) -> $crate::sockopt::SocketOptions<'_> {
            $crate::sockopt::SocketOptions::new(self)
        }

        /// The protocol object.
        pub fn protocol(&self) -> &packetwire_proto::DatagramProtocol<S, C> {
            self.core.protocol()
        }

        /// The largest datagram a receive accepts.
        pub fn max_recv_size(&self) -> usize {
            self.core.max_recv_size()
        }
    };
}

/// The trait impls of a blocking datagram client: `Debug`, `AsFd`, and `IntoIterator` for a
/// reference (the packets without a time budget).
macro_rules! datagram_client_impls {
    ($client:ident) => {
        impl<S: packetwire_proto::DatagramSerializer, C> std::fmt::Debug for $client<S, C> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($client))
                    .field("core", &self.core)
                    .finish()
            }
        }

        impl<S: packetwire_proto::DatagramSerializer, C> std::os::fd::AsFd for $client<S, C> {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.core.fd()
            }
        }

        impl<'a, S, C> IntoIterator for &'a $client<S, C>
        where
            S: packetwire_proto::DatagramSerializer,
            C: packetwire_proto::SendConverter<S::Sent>
                + packetwire_proto::RecvConverter<S::Received>,
        {
            type Item = $crate::client::datagram::Received<S, C>;
            type IntoIter = $crate::blocking::DatagramPacketIter<'a, S, C>;

            /// The packets, without a time budget, until the first error (see
            /// [`DatagramPacketIter`](crate::blocking::DatagramPacketIter)).
            fn into_iter(self) -> Self::IntoIter {
                self.iter_received_packets(None)
            }
        }
    };
}

pub(crate) use {datagram_client_impls, datagram_client_methods};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn timed_lock_gives_up_at_the_deadline() {
        let lock = Arc::new(TimedLock::new(0u8));
        let guard = lock.lock(None).unwrap();
        assert!(lock.lock(deadline(Some(Duration::ZERO))).is_none());
        let start = Instant::now();
        assert!(lock
            .lock(deadline(Some(Duration::from_millis(30))))
            .is_none());
        assert!(start.elapsed() >= Duration::from_millis(30));
        let waiter = {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || {
                let mut guard = lock.lock(deadline(Some(Duration::from_secs(10)))).unwrap();
                *guard.data += 1;
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(guard);
        waiter.join().unwrap();
        assert_eq!(*lock.lock(Some(Instant::now())).unwrap().data, 1);
    }
}
