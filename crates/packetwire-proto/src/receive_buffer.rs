//! The receive buffer of a byte stream, without I/O.
//!
//! Every stream reader of packetwire (the async streams of each runtime and the blocking shell)
//! keeps the bytes it read but did not hand out yet in a [`ReceiveBuffer`]. The buffer decides
//! what a read call returns: up to `n` bytes, exactly `n` bytes, or everything up to a separator,
//! with asyncio's rules for the end of the stream and for the buffer limit. The shells only move
//! bytes from the socket into it ([`ReceiveBuffer::fill_with`]) and tell it when the peer closed
//! ([`ReceiveBuffer::feed_eof`]).
//!
//! Every `take_*` method returns `Ok(Some(bytes))` when it can answer, `Ok(None)` when the shell
//! must read more bytes and call it again, or a [`TakeError`]. A `None` never consumes anything,
//! so a shell that is cancelled between two reads loses no data.

use bytes::{Bytes, BytesMut};

use crate::DEFAULT_LIMIT;

/// How many bytes a stream reader asks the operating system for at a time, unless the call
/// asks for a size (EasyNetwork's `DEFAULT_STREAM_BUFSIZE`).
pub const DEFAULT_READ_SIZE: usize = 16 * 1024;

/// Read scratch space kept per thread up to this size; a larger read gets a buffer of its own.
const READ_SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    /// Zeroed room for [`read_via_scratch`], grown once and reused by every reader of the thread.
    static READ_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Lets `read` write up to `max` bytes into a zeroed per-thread scratch buffer, and appends the
/// bytes it says it wrote to `dst`. Returns what `read` returned; on error `dst` is unchanged.
///
/// This is how every packetwire reader moves bytes from a socket into its buffer. Zeroing the
/// room keeps this crate free of `unsafe`; zeroing it once per thread instead of once per read
/// turns a `max`-byte memset per read into a copy of the bytes that came, and leaves an idle
/// connection's buffer empty instead of holding `max` bytes of room.
///
/// ```
/// use bytes::BytesMut;
///
/// let mut buffer = BytesMut::from(&b"ab"[..]);
/// let got = packetwire_proto::read_via_scratch(&mut buffer, 16, |room| {
///     room[..3].copy_from_slice(b"cde");
///     Ok::<_, std::io::Error>(3)
/// });
/// assert_eq!(got.unwrap(), 3);
/// assert_eq!(&buffer[..], b"abcde");
/// ```
///
/// # Panics
///
/// If `read` claims more than `max` bytes.
pub fn read_via_scratch<E>(
    dst: &mut BytesMut,
    max: usize,
    read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<usize, E> {
    fn run<E>(
        scratch: &mut Vec<u8>,
        dst: &mut BytesMut,
        max: usize,
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        if scratch.len() < max {
            scratch.resize(max, 0);
        }
        let result = read(&mut scratch[..max]);
        if let Ok(n) = result {
            assert!(
                n <= max,
                "a read claimed more bytes than it was given room for"
            );
            dst.extend_from_slice(&scratch[..n]);
        }
        result
    }
    if max > READ_SCRATCH_KEEP {
        return run(&mut Vec::new(), dst, max, read);
    }
    READ_SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => run(&mut scratch, dst, max, read),
        // A read made from inside another one's `read`: a buffer of its own.
        Err(_) => run(&mut Vec::new(), dst, max, read),
    })
}

/// Why a `take_*` method of [`ReceiveBuffer`] could not return bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TakeError {
    /// The peer closed its side and no byte is left in the buffer.
    EndOfStream,
    /// The peer closed its side before the request could be met. The buffer is now empty: its
    /// bytes are in `partial` (asyncio's `IncompleteReadError`).
    IncompleteRead {
        /// The bytes that were left in the buffer, possibly none. For a separator search they
        /// may end with part of the separator.
        partial: Bytes,
        /// How many bytes were asked for, when a count was asked for; `None` for a separator
        /// search.
        expected: Option<usize>,
    },
    /// The separator was not found within the buffer limit (asyncio's `LimitOverrunError`).
    /// Nothing was consumed: the bytes are still in the buffer and other calls can read them.
    LimitOverrun {
        /// How many bytes would have had to be consumed: the separator's offset when it was found
        /// too far, otherwise the number of bytes searched without finding it.
        consumed: usize,
        /// The buffer limit in force.
        limit: usize,
    },
}

impl std::fmt::Display for TakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TakeError::EndOfStream => f.write_str("end of stream"),
            TakeError::IncompleteRead {
                partial,
                expected: Some(expected),
            } => write!(
                f,
                "end of stream after {} of {expected} expected bytes",
                partial.len()
            ),
            TakeError::IncompleteRead {
                partial,
                expected: None,
            } => write!(
                f,
                "end of stream before the separator, after {} bytes",
                partial.len()
            ),
            TakeError::LimitOverrun { consumed, limit } => write!(
                f,
                "separator not found within the buffer limit ({consumed} bytes > limit {limit})"
            ),
        }
    }
}

impl std::error::Error for TakeError {}

/// Where the last separator search stopped, so the next search does not scan the same bytes.
#[derive(Debug, Clone)]
struct Scan {
    separator: Vec<u8>,
    /// No occurrence of the separator starts before this offset.
    searched: usize,
}

/// The bytes a stream reader received and did not hand out yet, with a size limit for separator
/// searches and the end-of-stream flag. Pure code over a [`BytesMut`]: no socket, no clock.
///
/// The limit bounds how far [`take_until`](Self::take_until) looks for a separator: a chunk of
/// up to `limit` bytes followed by the separator is accepted, a longer one is a
/// [`TakeError::LimitOverrun`] (asyncio's `readuntil`). It is 64 KiB ([`DEFAULT_LIMIT`]) by
/// default.
///
/// ```
/// use packetwire_proto::{ReceiveBuffer, TakeError};
///
/// let mut buffer = ReceiveBuffer::new();
/// buffer.extend_from_slice(b"hel");
/// assert_eq!(buffer.take_until(b"\n"), Ok(None)); // read more
/// buffer.extend_from_slice(b"lo\nwor");
/// assert_eq!(buffer.take_until(b"\n").unwrap().unwrap(), &b"hello\n"[..]);
/// buffer.feed_eof();
/// assert_eq!(
///     buffer.take_until(b"\n"),
///     Err(TakeError::IncompleteRead { partial: "wor".into(), expected: None })
/// );
/// assert_eq!(buffer.take_up_to(10), Err(TakeError::EndOfStream));
/// ```
#[derive(Debug, Clone)]
pub struct ReceiveBuffer {
    data: BytesMut,
    limit: usize,
    eof: bool,
    scan: Option<Scan>,
}

impl Default for ReceiveBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceiveBuffer {
    /// An empty buffer with the default limit, [`DEFAULT_LIMIT`] (64 KiB).
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_LIMIT)
    }

    /// An empty buffer with the given limit.
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn with_limit(limit: usize) -> Self {
        assert!(limit > 0, "the receive buffer limit must be positive");
        Self {
            data: BytesMut::new(),
            limit,
            eof: false,
            scan: None,
        }
    }

    /// The limit for separator searches.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the limit for separator searches. Bytes already buffered stay.
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn set_limit(&mut self, limit: usize) {
        assert!(limit > 0, "the receive buffer limit must be positive");
        self.limit = limit;
    }

    /// How many bytes are buffered.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether no byte is buffered.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The buffered bytes, oldest first.
    pub fn buffered(&self) -> &[u8] {
        &self.data
    }

    /// Whether the peer closed its side ([`feed_eof`](Self::feed_eof) was called, or a fill
    /// read zero bytes). Bytes may still be buffered.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Whether the peer closed its side and every byte was handed out (asyncio's `at_eof`).
    pub fn at_eof(&self) -> bool {
        self.eof && self.data.is_empty()
    }

    /// Appends received bytes.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.data.extend_from_slice(data);
    }

    /// Records that the peer closed its side: no more bytes will come.
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// Lets `read` write up to `max` bytes at the end of the buffer, and keeps as many as it
    /// says it wrote. A read of zero bytes (with `max > 0`) records the end of the stream. On
    /// error nothing changes. This is the one place where I/O touches the buffer: `read` is a
    /// `read(2)` or `recv(2)` over the slice it is given.
    ///
    /// # Panics
    ///
    /// If `read` claims more than `max` bytes.
    pub fn fill_with<E>(
        &mut self,
        max: usize,
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let result = read_via_scratch(&mut self.data, max, read);
        if matches!(result, Ok(0)) && max > 0 {
            self.eof = true;
        }
        result
    }

    /// Hands out up to `max` buffered bytes (AnyIO's `receive`).
    ///
    /// `Ok(None)` when the buffer is empty and the stream goes on; `Err(EndOfStream)` when it is
    /// empty and the peer closed its side. With `max == 0` it returns empty bytes at once.
    pub fn take_up_to(&mut self, max: usize) -> Result<Option<Bytes>, TakeError> {
        if max == 0 {
            return Ok(Some(Bytes::new()));
        }
        if self.data.is_empty() {
            return if self.eof {
                Err(TakeError::EndOfStream)
            } else {
                Ok(None)
            };
        }
        let n = max.min(self.data.len());
        Ok(Some(self.split_to(n)))
    }

    /// Copies up to `out.len()` buffered bytes into `out` and consumes them; returns how many.
    /// Used by the `AsyncRead` implementations, which drain the buffer before the socket.
    pub fn copy_to(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        let _ = self.split_to(n);
        n
    }

    /// Hands out exactly `n` bytes (asyncio's `readexactly`).
    ///
    /// `Ok(None)` while fewer are buffered and the stream goes on;
    /// `Err(IncompleteRead { partial, expected: Some(n) })` with every buffered byte if the
    /// peer closed its side first. The limit does not apply: the caller chose `n`.
    pub fn take_exactly(&mut self, n: usize) -> Result<Option<Bytes>, TakeError> {
        if self.data.len() >= n {
            return Ok(Some(self.split_to(n)));
        }
        if self.eof {
            return Err(TakeError::IncompleteRead {
                partial: self.take_all(),
                expected: Some(n),
            });
        }
        Ok(None)
    }

    /// How many more bytes [`take_exactly(n)`](Self::take_exactly) needs.
    pub fn missing_for(&self, n: usize) -> usize {
        n.saturating_sub(self.data.len())
    }

    /// Hands out the bytes up to and including the first `separator` (asyncio's `readuntil`).
    ///
    /// - `Ok(Some(chunk))` with the separator at its end, when it is found at most `limit`
    ///   bytes from the start;
    /// - `Err(LimitOverrun)` when it is found further, or when more than `limit` bytes were
    ///   searched without finding it: nothing is consumed, the bytes stay readable;
    /// - `Err(IncompleteRead { partial, expected: None })` when the peer closed its side before
    ///   a separator came: the buffer is emptied into `partial`;
    /// - `Ok(None)` otherwise: read more and call again. The search resumes where it stopped.
    ///
    /// # Panics
    ///
    /// If `separator` is empty.
    pub fn take_until(&mut self, separator: &[u8]) -> Result<Option<Bytes>, TakeError> {
        assert!(!separator.is_empty(), "the separator must not be empty");
        let start = match &self.scan {
            Some(scan) if scan.separator == separator => scan.searched.min(self.data.len()),
            _ => 0,
        };
        if let Some(found) = memchr::memmem::find(&self.data[start..], separator) {
            let offset = start + found;
            if offset > self.limit {
                self.remember_scan(separator, offset);
                return Err(TakeError::LimitOverrun {
                    consumed: offset,
                    limit: self.limit,
                });
            }
            return Ok(Some(self.split_to(offset + separator.len())));
        }
        // No occurrence starts before this offset: the tail may hold a separator's beginning.
        let searched = (self.data.len() + 1).saturating_sub(separator.len());
        self.remember_scan(separator, searched);
        if searched > self.limit {
            return Err(TakeError::LimitOverrun {
                consumed: searched,
                limit: self.limit,
            });
        }
        if self.eof {
            return Err(TakeError::IncompleteRead {
                partial: self.take_all(),
                expected: None,
            });
        }
        Ok(None)
    }

    /// Empties the buffer and returns what it held.
    pub fn take_all(&mut self) -> Bytes {
        let n = self.data.len();
        self.split_to(n)
    }

    fn remember_scan(&mut self, separator: &[u8], searched: usize) {
        match &mut self.scan {
            Some(scan) if scan.separator == separator => scan.searched = searched,
            _ => {
                self.scan = Some(Scan {
                    separator: separator.to_vec(),
                    searched,
                })
            }
        }
    }

    fn split_to(&mut self, n: usize) -> Bytes {
        if let Some(scan) = &mut self.scan {
            scan.searched = scan.searched.saturating_sub(n);
        }
        self.data.split_to(n).freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(data: &[u8]) -> ReceiveBuffer {
        let mut buffer = ReceiveBuffer::new();
        buffer.extend_from_slice(data);
        buffer
    }

    #[test]
    fn take_up_to_hands_out_what_is_there() {
        let mut buffer = ReceiveBuffer::new();
        assert_eq!(buffer.take_up_to(4), Ok(None));
        buffer.extend_from_slice(b"abcdef");
        assert_eq!(buffer.take_up_to(4), Ok(Some(Bytes::from_static(b"abcd"))));
        assert_eq!(buffer.take_up_to(0), Ok(Some(Bytes::new())));
        assert_eq!(buffer.take_up_to(4), Ok(Some(Bytes::from_static(b"ef"))));
        assert_eq!(buffer.take_up_to(4), Ok(None));
        buffer.feed_eof();
        assert!(buffer.at_eof());
        assert_eq!(buffer.take_up_to(4), Err(TakeError::EndOfStream));
    }

    #[test]
    fn take_up_to_drains_before_reporting_end_of_stream() {
        let mut buffer = filled(b"xy");
        buffer.feed_eof();
        assert!(buffer.is_eof() && !buffer.at_eof());
        assert_eq!(buffer.take_up_to(1), Ok(Some(Bytes::from_static(b"x"))));
        assert_eq!(buffer.take_up_to(9), Ok(Some(Bytes::from_static(b"y"))));
        assert_eq!(buffer.take_up_to(9), Err(TakeError::EndOfStream));
    }

    #[test]
    fn take_exactly_byte_by_byte() {
        let mut buffer = ReceiveBuffer::new();
        for (i, byte) in b"hello".iter().enumerate() {
            assert_eq!(buffer.take_exactly(5), Ok(None));
            assert_eq!(buffer.missing_for(5), 5 - i);
            buffer.extend_from_slice(&[*byte]);
        }
        assert_eq!(
            buffer.take_exactly(5),
            Ok(Some(Bytes::from_static(b"hello")))
        );
        assert!(buffer.is_empty());
        assert_eq!(buffer.take_exactly(0), Ok(Some(Bytes::new())));
    }

    #[test]
    fn take_exactly_at_end_of_stream() {
        let mut buffer = filled(b"abc");
        buffer.feed_eof();
        assert_eq!(buffer.take_exactly(2), Ok(Some(Bytes::from_static(b"ab"))));
        assert_eq!(
            buffer.take_exactly(2),
            Err(TakeError::IncompleteRead {
                partial: Bytes::from_static(b"c"),
                expected: Some(2)
            })
        );
        assert_eq!(
            buffer.take_exactly(2),
            Err(TakeError::IncompleteRead {
                partial: Bytes::new(),
                expected: Some(2)
            })
        );
    }

    #[test]
    fn take_exactly_ignores_the_limit() {
        let mut buffer = ReceiveBuffer::with_limit(4);
        buffer.extend_from_slice(&[7; 10]);
        assert_eq!(buffer.take_exactly(10).unwrap().unwrap().len(), 10);
    }

    #[test]
    fn take_until_separator_fed_byte_by_byte() {
        let wire = b"first\r\nsecond\r\n";
        let mut buffer = ReceiveBuffer::new();
        let mut chunks = Vec::new();
        for byte in wire {
            buffer.extend_from_slice(&[*byte]);
            while let Some(chunk) = buffer.take_until(b"\r\n").unwrap() {
                chunks.push(chunk);
            }
        }
        assert_eq!(chunks, [&b"first\r\n"[..], &b"second\r\n"[..]]);
        assert!(buffer.is_empty());
    }

    #[test]
    fn take_until_several_separators_in_one_chunk() {
        let mut buffer = filled(b"a\nb\n\nc");
        assert_eq!(
            buffer.take_until(b"\n"),
            Ok(Some(Bytes::from_static(b"a\n")))
        );
        assert_eq!(
            buffer.take_until(b"\n"),
            Ok(Some(Bytes::from_static(b"b\n")))
        );
        assert_eq!(
            buffer.take_until(b"\n"),
            Ok(Some(Bytes::from_static(b"\n")))
        );
        assert_eq!(buffer.take_until(b"\n"), Ok(None));
        assert_eq!(buffer.buffered(), b"c");
    }

    #[test]
    fn take_until_resumes_its_search_and_finds_a_split_separator() {
        let mut buffer = filled(b"abc\r");
        assert_eq!(buffer.take_until(b"\r\n"), Ok(None));
        buffer.extend_from_slice(b"\nrest");
        assert_eq!(
            buffer.take_until(b"\r\n"),
            Ok(Some(Bytes::from_static(b"abc\r\n")))
        );
        assert_eq!(buffer.buffered(), b"rest");
    }

    #[test]
    fn take_until_after_another_separator_restarts_the_search() {
        let mut buffer = filled(b"a;b|c");
        assert_eq!(buffer.take_until(b"#"), Ok(None));
        assert_eq!(
            buffer.take_until(b"|"),
            Ok(Some(Bytes::from_static(b"a;b|")))
        );
        buffer.extend_from_slice(b";");
        assert_eq!(buffer.take_until(b";"), Ok(Some(Bytes::from_static(b"c;"))));
    }

    #[test]
    fn take_until_accepts_a_chunk_of_exactly_the_limit() {
        let mut buffer = ReceiveBuffer::with_limit(4);
        buffer.extend_from_slice(b"abcd\n");
        assert_eq!(
            buffer.take_until(b"\n"),
            Ok(Some(Bytes::from_static(b"abcd\n")))
        );
    }

    #[test]
    fn take_until_over_the_limit_leaves_the_data() {
        let mut buffer = ReceiveBuffer::with_limit(4);
        buffer.extend_from_slice(b"abcde\nxy");
        assert_eq!(
            buffer.take_until(b"\n"),
            Err(TakeError::LimitOverrun {
                consumed: 5,
                limit: 4
            })
        );
        assert_eq!(buffer.buffered(), b"abcde\nxy");
        // The bytes can still be read another way, and the search goes on after them.
        assert_eq!(buffer.take_up_to(3), Ok(Some(Bytes::from_static(b"abc"))));
        assert_eq!(
            buffer.take_until(b"\n"),
            Ok(Some(Bytes::from_static(b"de\n")))
        );
        assert_eq!(buffer.take_up_to(9), Ok(Some(Bytes::from_static(b"xy"))));
    }

    #[test]
    fn take_until_without_separator_over_the_limit() {
        let mut buffer = ReceiveBuffer::with_limit(4);
        for (i, byte) in b"abcdef".iter().enumerate() {
            buffer.extend_from_slice(&[*byte]);
            let result = buffer.take_until(b"\r\n");
            // Up to limit + len(separator) - 1 bytes may still hold a chunk of `limit` bytes and
            // the beginning of the separator.
            if i < 5 {
                assert_eq!(result, Ok(None), "after {} bytes", i + 1);
            } else {
                assert_eq!(
                    result,
                    Err(TakeError::LimitOverrun {
                        consumed: 5,
                        limit: 4
                    })
                );
            }
        }
        assert_eq!(buffer.len(), 6);
        // A larger limit lets the search go on.
        buffer.set_limit(16);
        buffer.extend_from_slice(b"\r\n");
        assert_eq!(
            buffer.take_until(b"\r\n"),
            Ok(Some(Bytes::from_static(b"abcdef\r\n")))
        );
    }

    #[test]
    fn take_until_end_of_stream() {
        let mut buffer = filled(b"no separator\r");
        buffer.feed_eof();
        assert_eq!(
            buffer.take_until(b"\r\n"),
            Err(TakeError::IncompleteRead {
                partial: Bytes::from_static(b"no separator\r"),
                expected: None
            })
        );
        assert!(buffer.at_eof());
        assert_eq!(
            buffer.take_until(b"\r\n"),
            Err(TakeError::IncompleteRead {
                partial: Bytes::new(),
                expected: None
            })
        );
    }

    #[test]
    fn take_until_finds_lines_before_end_of_stream() {
        let mut buffer = filled(b"one\ntwo");
        buffer.feed_eof();
        assert_eq!(
            buffer.take_until(b"\n"),
            Ok(Some(Bytes::from_static(b"one\n")))
        );
        assert!(matches!(
            buffer.take_until(b"\n"),
            Err(TakeError::IncompleteRead { .. })
        ));
    }

    #[test]
    #[should_panic(expected = "separator must not be empty")]
    fn take_until_rejects_an_empty_separator() {
        let _ = ReceiveBuffer::new().take_until(b"");
    }

    #[test]
    fn fill_with_keeps_what_was_read() {
        let mut buffer = filled(b"ab");
        let n = buffer
            .fill_with(8, |room| {
                assert_eq!(room.len(), 8);
                room[..3].copy_from_slice(b"cde");
                Ok::<_, ()>(3)
            })
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(buffer.buffered(), b"abcde");
        assert!(!buffer.is_eof());
    }

    #[test]
    fn fill_with_error_changes_nothing() {
        let mut buffer = filled(b"ab");
        assert_eq!(
            buffer.fill_with(8, |_| Err("would block")),
            Err("would block")
        );
        assert_eq!(buffer.buffered(), b"ab");
        assert!(!buffer.is_eof());
    }

    #[test]
    fn fill_with_zero_bytes_is_end_of_stream() {
        let mut buffer = ReceiveBuffer::new();
        buffer.fill_with(0, |_| Ok::<_, ()>(0)).unwrap();
        assert!(!buffer.is_eof(), "a zero-sized read says nothing");
        buffer.fill_with(8, |_| Ok::<_, ()>(0)).unwrap();
        assert!(buffer.is_eof());
    }

    #[test]
    #[should_panic(expected = "more bytes than it was given room for")]
    fn fill_with_checks_the_claimed_size() {
        let _ = ReceiveBuffer::new().fill_with(2, |_| Ok::<_, ()>(3));
    }

    #[test]
    fn copy_to_drains_oldest_first() {
        let mut buffer = filled(b"abcdef");
        let mut out = [0u8; 4];
        assert_eq!(buffer.copy_to(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(buffer.copy_to(&mut out), 2);
        assert_eq!(&out[..2], b"ef");
        assert_eq!(buffer.copy_to(&mut out), 0);
    }

    #[test]
    fn errors_display() {
        assert_eq!(TakeError::EndOfStream.to_string(), "end of stream");
        let e = TakeError::IncompleteRead {
            partial: Bytes::from_static(b"ab"),
            expected: Some(4),
        };
        assert_eq!(e.to_string(), "end of stream after 2 of 4 expected bytes");
    }
}
