//! The receive and send logic of a byte stream that does not depend on waiting: which
//! [`ReceiveBuffer`] call answers a request and how much to read when it cannot yet, and how
//! far a gathered write got. Both shells drive these in the same loop, so a receive call
//! behaves the same in each:
//!
//! ```text
//! loop {
//!     match request.step(&mut buffer)? {
//!         Step::Ready(bytes) => return Ok(bytes),
//!         Step::Fill(n) => read up to n bytes into the buffer (wait, honour the timeout),
//!     }
//! }
//! ```

use std::io::IoSlice;

use bytes::Bytes;
use packetwire_proto::{ReceiveBuffer, TakeError, DEFAULT_READ_SIZE};

use super::sys::IOV_MAX;

/// The most bytes one read asks for, whatever the call asks for.
pub(crate) const MAX_READ_SIZE: usize = 256 * 1024;

/// What a `receive*` call asks of the buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Request<'a> {
    /// `receive(max)`: up to `max` bytes, at least one.
    UpTo(usize),
    /// `receive_exactly(n)`.
    Exactly(usize),
    /// `receive_until(separator)`.
    Until(&'a [u8]),
}

/// What the shell does next for a [`Request`].
#[derive(Debug)]
pub(crate) enum Step {
    /// The answer.
    Ready(Bytes),
    /// Read up to this many bytes into the buffer (a read of zero records the end of the
    /// stream), then ask again.
    Fill(usize),
}

impl Request<'_> {
    /// Answers from the buffer, or says how much to read. Consumes nothing unless it answers
    /// (or fails with an end-of-stream error, which hands the buffered bytes out).
    pub(crate) fn step(self, buffer: &mut ReceiveBuffer) -> Result<Step, TakeError> {
        let taken = match self {
            Self::UpTo(max) => buffer.take_up_to(max)?,
            Self::Exactly(n) => buffer.take_exactly(n)?,
            Self::Until(separator) => buffer.take_until(separator)?,
        };
        if let Some(bytes) = taken {
            return Ok(Step::Ready(bytes));
        }
        let size = match self {
            Self::UpTo(max) => max,
            Self::Exactly(n) => buffer.missing_for(n).max(DEFAULT_READ_SIZE),
            Self::Until(_) => DEFAULT_READ_SIZE,
        };
        Ok(Step::Fill(size.clamp(1, MAX_READ_SIZE)))
    }
}

/// Answers a plain `read` (`std::io::Read`, `AsyncRead`) from the buffer when it can: the
/// buffered bytes first, then 0 at the end of the stream. `None`: read from the socket.
pub(crate) fn read_buffered(buffer: &mut ReceiveBuffer, out: &mut [u8]) -> Option<usize> {
    if out.is_empty() {
        Some(0)
    } else if !buffer.is_empty() {
        Some(buffer.copy_to(out))
    } else if buffer.is_eof() {
        Some(0)
    } else {
        None
    }
}

/// The buffers of a gathered write (`send_all_vectored`) not sent yet.
#[derive(Debug)]
pub(crate) struct Gather<'a> {
    rest: Vec<&'a [u8]>,
    first: usize,
}

impl<'a> Gather<'a> {
    /// Everything in `bufs`, empty buffers left out.
    pub(crate) fn new(bufs: &'a [IoSlice<'_>]) -> Self {
        Self {
            rest: bufs
                .iter()
                .map(|b| &**b)
                .filter(|b| !b.is_empty())
                .collect(),
            first: 0,
        }
    }

    /// Whether every byte was sent.
    pub(crate) fn is_done(&self) -> bool {
        self.first >= self.rest.len()
    }

    /// The next buffers to offer one `sendmsg`/`writev` (at most `IOV_MAX`).
    pub(crate) fn slices(&self) -> Vec<IoSlice<'a>> {
        let end = self.rest.len().min(self.first + IOV_MAX);
        self.rest[self.first..end]
            .iter()
            .map(|b| IoSlice::new(b))
            .collect()
    }

    /// Records that `n` more bytes were sent.
    pub(crate) fn advance(&mut self, mut n: usize) {
        while n > 0 && self.first < self.rest.len() {
            let head = self.rest[self.first];
            if n >= head.len() {
                n -= head.len();
                self.first += 1;
            } else {
                self.rest[self.first] = &head[n..];
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_step_through_the_buffer() {
        let mut buffer = ReceiveBuffer::with_limit(8);
        assert!(matches!(
            Request::Until(b"\n").step(&mut buffer),
            Ok(Step::Fill(DEFAULT_READ_SIZE))
        ));
        assert!(matches!(
            Request::Exactly(1 << 20).step(&mut buffer),
            Ok(Step::Fill(MAX_READ_SIZE))
        ));
        assert!(matches!(Request::UpTo(0).step(&mut buffer), Ok(Step::Ready(b)) if b.is_empty()));
        assert!(matches!(
            Request::UpTo(5).step(&mut buffer),
            Ok(Step::Fill(5))
        ));
        buffer.extend_from_slice(b"ab\ncd");
        assert!(
            matches!(Request::Until(b"\n").step(&mut buffer), Ok(Step::Ready(b)) if b == "ab\n")
        );
        assert!(matches!(Request::Exactly(2).step(&mut buffer), Ok(Step::Ready(b)) if b == "cd"));
    }

    #[test]
    fn read_buffered_drains_then_reports_the_end() {
        let mut buffer = ReceiveBuffer::new();
        let mut out = [0u8; 2];
        assert_eq!(read_buffered(&mut buffer, &mut out), None);
        buffer.extend_from_slice(b"xyz");
        buffer.feed_eof();
        assert_eq!(read_buffered(&mut buffer, &mut out), Some(2));
        assert_eq!(read_buffered(&mut buffer, &mut out), Some(1));
        assert_eq!(read_buffered(&mut buffer, &mut out), Some(0));
        assert_eq!(read_buffered(&mut buffer, &mut []), Some(0));
    }

    #[test]
    fn gather_advances_across_buffers() {
        let bufs = [
            IoSlice::new(b"abc"),
            IoSlice::new(b""),
            IoSlice::new(b"de"),
            IoSlice::new(b"f"),
        ];
        let mut gather = Gather::new(&bufs);
        assert_eq!(gather.slices().len(), 3);
        gather.advance(4);
        let slices = gather.slices();
        let left: Vec<&[u8]> = slices.iter().map(|s| &**s).collect();
        assert_eq!(left, [&b"e"[..], &b"f"[..]]);
        gather.advance(2);
        assert!(gather.is_done());
        assert!(gather.slices().is_empty());

        let many: Vec<IoSlice<'_>> = (0..IOV_MAX + 5).map(|_| IoSlice::new(b"x")).collect();
        let mut gather = Gather::new(&many);
        assert_eq!(gather.slices().len(), IOV_MAX);
        gather.advance(IOV_MAX);
        assert_eq!(gather.slices().len(), 5);
    }
}
