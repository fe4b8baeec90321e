//! Resumable item-boundary scanners for the self-delimiting formats: MessagePack and CBOR.
//!
//! A stream of these formats is a plain concatenation of items with no framing, so the only
//! way to find where an item ends is to walk its structure. EasyNetwork re-parses the whole
//! buffer from offset 0 each time a chunk arrives, which is quadratic in the item size. The
//! [`ItemScanner`] here reads only *headers* (type byte and length/count argument), skips string,
//! binary and extension payloads by their length without looking at them, and keeps what it
//! learnt between calls:
//!
//! * `pos`: how many bytes at the front of the buffer belong to the current item and have been
//!   accounted for;
//! * `skip`: payload bytes still to jump over before the next header;
//! * `stack`: one [`Frame`] per open container (array, map, CBOR tag, CBOR indefinite-length
//!   container or string), with the number of children still to read.
//!
//! Feeding an item in chunks of any size, down to one byte, costs O(item length) in total: every
//! call resumes at `pos` and a header split across chunks is re-read at most
//! [`MAX_HEADER`] times. Once the item's end is known, the caller deserializes exactly that slice
//! with the format's serde library.
//!
//! **Fast paths.** Keeping all that state costs time on every header. When a decode starts a new
//! item, the caller first tries a shortcut, and leaves the item to the [`ItemScanner`] (as
//! described here) when the shortcut gives up: on an incomplete item, malformed input, deeper
//! nesting, or anything else out of the ordinary. CBOR runs [`whole_item`], one tight, stateless
//! pass over the buffered headers that finds the end of a complete, well-formed item within the
//! depth limit, exactly where the scanner would. MessagePack parses the buffer directly (see
//! `msgpack.rs`), using [`whole_item`] only to find the end when more than one object is
//! buffered. After a give-up the scanner has moved past the item's start, so a shortcut runs at
//! most once per item (or again while the item's first header is incomplete), and chunked input
//! stays linear.
//!
//! **Depth.** An item may nest at most [`MAX_DEPTH`] containers (CBOR tags count as one
//! level). Deeper items are followed to their end, consumed, and rejected as a recoverable
//! [`DeserializeErrorKind::Invalid`] error, so the recursive serde deserializers never see them.
//! Definite-length containers beyond the limit are merged into a single counter, so following a
//! deep MessagePack item takes constant memory. CBOR indefinite-length containers need a stack
//! entry each: after [`MAX_FRAMES`] entries the scanner gives up and reports an unrecoverable
//! error.
//!
//! **Limit.** When the item is known to be longer than the limit (a header announces more bytes
//! than the limit allows, or the buffered part of an unfinished item reaches the limit), the
//! scanner reports [`DeserializeErrorKind::LimitExceeded`] once, then goes on scanning in
//! *discard mode*: bytes are dropped from the buffer as soon as they are accounted for, until
//! the oversized item ends; the next item is then decoded normally. Nothing is ever reserved from
//! a length a peer announces.
//!
//! **Malformed input** is a header that is invalid (MessagePack's reserved byte `0xC1`; CBOR's
//! additional information 28 to 30, an indefinite length on an integer or a tag) or invalid
//! where it is (a misplaced CBOR break, a wrong chunk in an indefinite-length string, or
//! indefinite-length containers nested past what the scanner follows). What happens next
//! follows what EasyNetwork does with each format:
//!
//! * MessagePack (msgpack's unpacker drops what it was fed): the buffer is cleared and the error
//!   is unrecoverable.
//! * CBOR (cbor2 reads the stream and stops right after the bad byte): the bytes up to and
//!   including the bad header's first byte are consumed, and the next decode starts right after
//!   it. When that byte starts the item, the error is recoverable (only the bad byte was lost);
//!   when it is inside an item (or inside an oversized item being skipped), the rest of the item
//!   is out of step and the error is unrecoverable.

// With only one of the two formats enabled, the other's kinds of headers are never built.
#![cfg_attr(not(all(feature = "msgpack", feature = "cbor")), allow(dead_code))]

use bytes::{Buf, BytesMut};

use crate::error::{DeserializeError, DeserializeErrorKind};

/// Deepest container nesting an item may have (arrays, maps and CBOR tags each count as one
/// level). Python's cbor2 allows 400 levels; 256 keeps the recursive serde deserializers well
/// within a 2 MiB thread stack.
pub(crate) const MAX_DEPTH: usize = 256;

/// Most stack entries the scanner keeps while following an item deeper than [`MAX_DEPTH`]
/// (only CBOR indefinite-length containers need entries past that depth).
pub(crate) const MAX_FRAMES: usize = 2 * MAX_DEPTH;

/// Longest header of either format: a CBOR initial byte and an 8-byte argument.
const MAX_HEADER: usize = 9;

/// The self-delimiting formats the scanner knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// MessagePack.
    #[cfg(feature = "msgpack")]
    Msgpack,
    /// CBOR (RFC 8949).
    #[cfg(feature = "cbor")]
    Cbor,
}

/// What one header says about the structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// A value with no children, followed by `payload` bytes the scanner skips (a string's
    /// content, an integer's or float's bytes, an extension's data). `chunk` is the CBOR major
    /// type (2 or 3) of a definite-length string, which may be a chunk of an indefinite one.
    Scalar { payload: u64, chunk: Option<u8> },
    /// A definite-length container followed by `items` items (a map of n pairs has 2n items; a
    /// CBOR tag has one).
    Container { items: u64 },
    /// A CBOR indefinite-length array, map or string, ended by a break.
    Open(Frame),
    /// The CBOR break byte `0xFF`.
    Break,
}

/// Result of reading one header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A whole header of `len` bytes.
    Header { len: usize, token: Token },
    /// The buffer ends inside the header.
    NeedMore,
    /// Not a valid header: the framing is lost.
    Malformed(&'static str),
}

/// An open container on the scanner's stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A definite-length container (or tag): children still to complete.
    Items(u64),
    /// Definite-length containers nested beyond [`MAX_DEPTH`], merged: headers still to read
    /// before the outermost of them is complete.
    Deep(u64),
    /// A CBOR indefinite-length array.
    IndefArray,
    /// A CBOR indefinite-length map; `odd` when a key has been read without its value.
    IndefMap { odd: bool },
    /// A CBOR indefinite-length string of major type `major` (2 bytes, 3 text).
    IndefString { major: u8 },
}

impl Format {
    /// The format's name, for error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "msgpack")]
            Self::Msgpack => "MessagePack",
            #[cfg(feature = "cbor")]
            Self::Cbor => "CBOR",
        }
    }

    /// Whether decoding goes on right after a malformed header (CBOR, as cbor2 does), rather
    /// than dropping everything buffered (MessagePack, as EasyNetwork's msgpack unpacker does).
    fn resumes_after_bad_header(self) -> bool {
        match self {
            #[cfg(feature = "msgpack")]
            Self::Msgpack => false,
            #[cfg(feature = "cbor")]
            Self::Cbor => true,
        }
    }

    /// Reads the header at the start of `buf`.
    pub(crate) fn header(self, buf: &[u8]) -> Parsed {
        match self {
            #[cfg(feature = "msgpack")]
            Self::Msgpack => msgpack_header(buf),
            #[cfg(feature = "cbor")]
            Self::Cbor => cbor_header(buf),
        }
    }
}

fn header(len: usize, token: Token) -> Parsed {
    Parsed::Header { len, token }
}

fn scalar(payload: u64) -> Token {
    Token::Scalar {
        payload,
        chunk: None,
    }
}

/// Reads a big-endian unsigned argument of `n` bytes (at most 8) at `buf[1..1 + n]`, or `None`
/// when the buffer is shorter.
fn argument(buf: &[u8], n: usize) -> Option<u64> {
    let bytes = buf.get(1..1 + n)?;
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// A header made of a type byte and an `n`-byte length argument.
fn with_argument(buf: &[u8], n: usize, token: impl FnOnce(u64) -> Token) -> Parsed {
    match argument(buf, n) {
        Some(arg) => header(1 + n, token(arg)),
        None => Parsed::NeedMore,
    }
}

/// MessagePack: only length arguments are header bytes; fixed-size values (numbers, the type
/// byte of an extension) are payload to skip.
#[cfg(feature = "msgpack")]
fn msgpack_header(buf: &[u8]) -> Parsed {
    let Some(&b) = buf.first() else {
        return Parsed::NeedMore;
    };
    let str_or_bin = |n| Token::Scalar {
        payload: n,
        chunk: None,
    };
    // An extension's data follows its one-byte type.
    let ext = |n: u64| scalar(n.saturating_add(1));
    let array = |n| Token::Container { items: n };
    let map = |n: u64| Token::Container {
        items: n.saturating_mul(2),
    };
    match b {
        // positive fixint, negative fixint, nil, false, true
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => header(1, scalar(0)),
        0x80..=0x8f => header(1, map(u64::from(b & 0x0f))),
        0x90..=0x9f => header(1, array(u64::from(b & 0x0f))),
        0xa0..=0xbf => header(1, str_or_bin(u64::from(b & 0x1f))),
        0xc1 => Parsed::Malformed("reserved type byte 0xC1"),
        // bin 8/16/32, str 8/16/32
        0xc4 | 0xd9 => with_argument(buf, 1, str_or_bin),
        0xc5 | 0xda => with_argument(buf, 2, str_or_bin),
        0xc6 | 0xdb => with_argument(buf, 4, str_or_bin),
        // ext 8/16/32
        0xc7 => with_argument(buf, 1, ext),
        0xc8 => with_argument(buf, 2, ext),
        0xc9 => with_argument(buf, 4, ext),
        // uint 8, int 8
        0xcc | 0xd0 => header(1, scalar(1)),
        // uint 16, int 16
        0xcd | 0xd1 => header(1, scalar(2)),
        // float 32, uint 32, int 32
        0xca | 0xce | 0xd2 => header(1, scalar(4)),
        // float 64, uint 64, int 64
        0xcb | 0xcf | 0xd3 => header(1, scalar(8)),
        // fixext 1/2/4/8/16: type byte and data
        0xd4 => header(1, scalar(2)),
        0xd5 => header(1, scalar(3)),
        0xd6 => header(1, scalar(5)),
        0xd7 => header(1, scalar(9)),
        0xd8 => header(1, scalar(17)),
        0xdc => with_argument(buf, 2, array),
        0xdd => with_argument(buf, 4, array),
        0xde => with_argument(buf, 2, map),
        0xdf => with_argument(buf, 4, map),
    }
}

/// CBOR: the argument of major types 2 to 6 is a header byte; the argument of integers, simple
/// values and floats is payload to skip.
#[cfg(feature = "cbor")]
fn cbor_header(buf: &[u8]) -> Parsed {
    let Some(&b) = buf.first() else {
        return Parsed::NeedMore;
    };
    let major = b >> 5;
    let info = b & 0x1f;
    let arg_len: usize = match info {
        0..=23 => 0,
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        28..=30 => return Parsed::Malformed("reserved additional information (28 to 30)"),
        _ => {
            return match major {
                2 | 3 => header(1, Token::Open(Frame::IndefString { major })),
                4 => header(1, Token::Open(Frame::IndefArray)),
                5 => header(1, Token::Open(Frame::IndefMap { odd: false })),
                7 => header(1, Token::Break),
                _ => Parsed::Malformed("indefinite length on an integer or a tag"),
            };
        }
    };
    if matches!(major, 0 | 1 | 7) {
        // integers, simple values, floats: no children, fixed size
        return header(1, scalar(arg_len as u64));
    }
    let arg = if arg_len == 0 {
        Some(u64::from(info))
    } else {
        argument(buf, arg_len)
    };
    let Some(arg) = arg else {
        return Parsed::NeedMore;
    };
    let token = match major {
        2 | 3 => Token::Scalar {
            payload: arg,
            chunk: Some(major),
        },
        4 => Token::Container { items: arg },
        5 => Token::Container {
            items: arg.saturating_mul(2),
        },
        // 6: a tag, followed by the tagged item
        _ => Token::Container { items: 1 },
    };
    header(1 + arg_len, token)
}

/// Finds where the item at the start of `buf` ends, in one tight pass over its headers, when
/// that is the simple case: the whole item is in `buf`, it is well-formed and it nests at most
/// [`MAX_DEPTH`] levels. Returns `None` in every other case (an item longer than `buf`, malformed
/// input, deeper nesting), for the [`ItemScanner`] to frame the item and report what is wrong.
///
/// When this returns `Some(end)`, an [`ItemScanner`] fed the same bytes would find the same end,
/// with no error and no depth violation: both follow the same structure and count depth the
/// same way (every pushed container, CBOR tags and indefinite-length strings included). Unlike
/// the scanner it keeps no state between calls and nothing beyond the stack of open containers,
/// which makes it several times faster; callers try it once per item, at the item's start, so
/// an item arriving in many chunks still costs linear time.
pub(crate) fn whole_item(format: Format, buf: &[u8]) -> Option<usize> {
    match format {
        #[cfg(feature = "msgpack")]
        Format::Msgpack => msgpack_whole_item(buf),
        #[cfg(feature = "cbor")]
        Format::Cbor => cbor_whole_item(buf),
    }
}

/// `buf[at..at + N]`, big-endian.
#[inline]
fn be<const N: usize>(buf: &[u8], at: usize) -> Option<u64> {
    let bytes: &[u8; N] = buf.get(at..at.checked_add(N)?)?.try_into().ok()?;
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// `at + len`, for a length read from the wire.
#[inline]
fn skip(at: usize, len: u64) -> Option<usize> {
    at.checked_add(usize::try_from(len).ok()?)
}

/// For each MessagePack type byte: when the byte alone says how long the value is and that it
/// holds no other value, that length (type byte and payload), else 0.
#[cfg(feature = "msgpack")]
const MSGPACK_FIXED: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = match b {
            // positive fixint, negative fixint, nil, false, true; empty fixmap and fixarray
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 | 0x80 | 0x90 => 1,
            0xa0..=0xbf => 1 + (b & 0x1f),
            // uint 8, int 8; uint 16, int 16; float 32, uint 32, int 32; 64-bit numbers
            0xcc | 0xd0 => 2,
            0xcd | 0xd1 => 3,
            0xca | 0xce | 0xd2 => 5,
            0xcb | 0xcf | 0xd3 => 9,
            // fixext 1/2/4/8/16: type byte and data
            0xd4 => 3,
            0xd5 => 4,
            0xd6 => 6,
            0xd7 => 10,
            0xd8 => 18,
            _ => 0,
        };
        i += 1;
    }
    table
};

#[cfg(feature = "msgpack")]
fn msgpack_whole_item(buf: &[u8]) -> Option<usize> {
    // Items still to read in each open container, outermost first; `left` is the innermost's
    // (the root counts as a container of one).
    let mut parents = [0u64; MAX_DEPTH];
    let mut depth = 0;
    let mut left = 1u64;
    let mut pos = 0usize;
    loop {
        let b = *buf.get(pos)?;
        // The common cases first, as branches: the next position then does not wait for a
        // table lookup (or, for a fixint, for the byte's value at all).
        if !(0x80..0xe0).contains(&b) {
            pos += 1;
        } else if (0xa0..=0xbf).contains(&b) {
            pos += 1 + usize::from(b & 0x1f);
        } else if MSGPACK_FIXED[usize::from(b)] != 0 {
            pos += usize::from(MSGPACK_FIXED[usize::from(b)]);
        } else {
            let children = match b {
                0x81..=0x8f => {
                    pos += 1;
                    u64::from(b & 0x0f) * 2
                }
                0x91..=0x9f => {
                    pos += 1;
                    u64::from(b & 0x0f)
                }
                0xdc => {
                    pos += 3;
                    be::<2>(buf, pos - 2)?
                }
                0xdd => {
                    pos += 5;
                    be::<4>(buf, pos - 4)?
                }
                0xde => {
                    pos += 3;
                    be::<2>(buf, pos - 2)? * 2
                }
                0xdf => {
                    pos += 5;
                    be::<4>(buf, pos - 4)? * 2
                }
                // bin 8/16/32, str 8/16/32
                0xc4 | 0xd9 => {
                    pos = skip(pos + 2, be::<1>(buf, pos + 1)?)?;
                    0
                }
                0xc5 | 0xda => {
                    pos = skip(pos + 3, be::<2>(buf, pos + 1)?)?;
                    0
                }
                0xc6 | 0xdb => {
                    pos = skip(pos + 5, be::<4>(buf, pos + 1)?)?;
                    0
                }
                // ext 8/16/32: length, type byte, data
                0xc7 => {
                    pos = skip(pos + 3, be::<1>(buf, pos + 1)?)?;
                    0
                }
                0xc8 => {
                    pos = skip(pos + 4, be::<2>(buf, pos + 1)?)?;
                    0
                }
                0xc9 => {
                    pos = skip(pos + 6, be::<4>(buf, pos + 1)?)?;
                    0
                }
                // 0xC1, never used
                _ => return None,
            };
            if children > 0 {
                if depth == MAX_DEPTH {
                    return None;
                }
                parents[depth] = left - 1;
                depth += 1;
                left = children;
                continue;
            }
        }
        left -= 1;
        while left == 0 {
            if depth == 0 {
                return (pos <= buf.len()).then_some(pos);
            }
            depth -= 1;
            left = parents[depth];
        }
    }
}

/// For each CBOR initial byte: when the byte alone says how long the item is and that it holds
/// no other item, that length (initial byte, argument and payload), else 0.
#[cfg(feature = "cbor")]
const CBOR_FIXED: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let (major, info) = ((i >> 5) as u8, (i & 0x1f) as u8);
        table[i] = match (major, info) {
            // integers, simple values, floats
            (0 | 1 | 7, 0..=23) => 1,
            (0 | 1 | 7, 24) => 2,
            (0 | 1 | 7, 25) => 3,
            (0 | 1 | 7, 26) => 5,
            (0 | 1 | 7, 27) => 9,
            // short strings
            (2 | 3, 0..=23) => 1 + info,
            // empty array and map
            (4 | 5, 0) => 1,
            _ => 0,
        };
        i += 1;
    }
    table
};

#[cfg(feature = "cbor")]
fn cbor_whole_item(buf: &[u8]) -> Option<usize> {
    /// What an open container is; `left` counts what it still holds.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Kind {
        /// Definite-length array or map, or tag: `left` items to complete.
        Items,
        /// Indefinite-length array.
        Array,
        /// Indefinite-length map: `left` is 1 after a key without its value.
        Map,
        /// Indefinite-length string of this major type.
        Str(u8),
    }
    let mut parents = [(Kind::Items, 0u64); MAX_DEPTH];
    let mut depth = 0;
    let (mut kind, mut left) = (Kind::Items, 1u64);
    let mut pos = 0usize;
    loop {
        let b = *buf.get(pos)?;
        let fixed = CBOR_FIXED[usize::from(b)];
        if fixed != 0 && !matches!(kind, Kind::Str(_)) {
            pos += usize::from(fixed);
        } else {
            let (major, info) = (b >> 5, b & 0x1f);
            let (arg_len, arg) = match info {
                0..=23 => (0, u64::from(info)),
                24 => (1, be::<1>(buf, pos + 1)?),
                25 => (2, be::<2>(buf, pos + 1)?),
                26 => (4, be::<4>(buf, pos + 1)?),
                27 => (8, be::<8>(buf, pos + 1)?),
                28..=30 => return None,
                _ => (0, 0),
            };
            pos += 1 + arg_len;
            if let Kind::Str(m) = kind {
                // Only definite-length chunks of the same type, or the break.
                if b != 0xff && (major != m || info == 31) {
                    return None;
                }
            }
            // The container this header opens, if any.
            let open = match (major, info) {
                (0 | 1 | 6, 31) => return None,
                (7, 31) => {
                    // The break closes an indefinite-length container, which is then one item
                    // of its parent.
                    match (kind, left) {
                        (Kind::Array | Kind::Str(_), _) | (Kind::Map, 0) => {}
                        _ => return None,
                    }
                    depth -= 1;
                    (kind, left) = parents[depth];
                    None
                }
                (0 | 1 | 7, _) => None,
                (2 | 3, 31) => Some((Kind::Str(major), 0)),
                (2 | 3, _) => {
                    pos = skip(pos, arg)?;
                    None
                }
                (4, 31) => Some((Kind::Array, 0)),
                (5, 31) => Some((Kind::Map, 0)),
                (4, _) => (arg > 0).then_some((Kind::Items, arg)),
                (5, _) => (arg > 0).then_some((Kind::Items, arg.saturating_mul(2))),
                // 6: a tag, followed by the tagged item
                _ => Some((Kind::Items, 1)),
            };
            if let Some(frame) = open {
                if depth == MAX_DEPTH {
                    return None;
                }
                parents[depth] = (kind, left);
                depth += 1;
                (kind, left) = frame;
                continue;
            }
        }
        // One item of the current container is complete.
        loop {
            match kind {
                Kind::Items => {
                    left -= 1;
                    if left > 0 {
                        break;
                    }
                    if depth == 0 {
                        return (pos <= buf.len()).then_some(pos);
                    }
                    depth -= 1;
                    (kind, left) = parents[depth];
                }
                Kind::Map => {
                    left ^= 1;
                    break;
                }
                Kind::Array | Kind::Str(_) => break,
            }
        }
    }
}

/// Outcome of [`ItemScanner::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The current item ends at this offset.
    Complete(usize),
    /// The buffer ends before the item does.
    NeedMore,
    /// Malformed input at offset `at`: the header there is invalid, or invalid where it is.
    Malformed { at: usize, why: &'static str },
}

/// Resumable scanner of one format's item boundaries; see the [module documentation](self).
#[derive(Debug, Clone)]
pub(crate) struct ItemScanner {
    format: Format,
    /// Bytes at the front of the buffer that belong to the current item and are accounted for.
    pos: usize,
    /// Payload bytes to skip before the next header.
    skip: u64,
    /// Open containers, innermost last.
    stack: Vec<Frame>,
    /// The item's last header has been read: it ends once `skip` reaches 0.
    root_done: bool,
    /// The item nests deeper than [`MAX_DEPTH`].
    too_deep: bool,
    /// Dropping the rest of an oversized item.
    discarding: bool,
    /// In discard mode, the start of a header split across chunks (its bytes are no longer in
    /// the buffer).
    stash: [u8; MAX_HEADER],
    stash_len: usize,
    /// Header bytes examined since the scanner was created (for the linearity tests).
    #[cfg(test)]
    examined: u64,
    /// Bytes handed to the caller's fast path so far (for the linearity tests).
    #[cfg(test)]
    pub(crate) fast_path_bytes: u64,
}

impl ItemScanner {
    /// A scanner at the start of a stream.
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            pos: 0,
            skip: 0,
            stack: Vec::new(),
            root_done: false,
            too_deep: false,
            discarding: false,
            stash: [0; MAX_HEADER],
            stash_len: 0,
            #[cfg(test)]
            examined: 0,
            #[cfg(test)]
            fast_path_bytes: 0,
        }
    }

    /// Forgets the current item.
    fn reset(&mut self) {
        self.pos = 0;
        self.skip = 0;
        self.stack.clear();
        self.root_done = false;
        self.too_deep = false;
        self.discarding = false;
        self.stash_len = 0;
    }

    /// Whether no byte of the current item has been looked at yet (nor is being skipped).
    pub(crate) fn at_item_start(&self) -> bool {
        self.pos == 0
            && self.skip == 0
            && self.stack.is_empty()
            && !self.root_done
            && !self.discarding
            && self.stash_len == 0
    }

    /// Header bytes examined so far.
    #[cfg(test)]
    pub(crate) fn examined(&self) -> u64 {
        self.examined
    }

    /// Open containers on the stack.
    #[cfg(test)]
    pub(crate) fn stack_len(&self) -> usize {
        self.stack.len()
    }

    /// Goes on scanning `buf` from `self.pos` until the item ends or the buffer does.
    fn advance(&mut self, buf: &[u8]) -> Step {
        loop {
            if self.skip > 0 {
                let avail = buf.len().saturating_sub(self.pos);
                let take = usize::try_from(self.skip).map_or(avail, |skip| skip.min(avail));
                self.pos += take;
                self.skip -= take as u64;
                if self.skip > 0 {
                    return Step::NeedMore;
                }
            }
            if self.root_done {
                return Step::Complete(self.pos);
            }
            let rest = buf.get(self.pos..).unwrap_or_default();
            #[cfg(test)]
            {
                self.examined += rest.len().min(MAX_HEADER) as u64;
            }
            match self.format.header(rest) {
                Parsed::NeedMore => return Step::NeedMore,
                Parsed::Malformed(why) => return Step::Malformed { at: self.pos, why },
                Parsed::Header { len, token } => {
                    let at = self.pos;
                    self.pos += len;
                    if let Err(why) = self.apply(token) {
                        return Step::Malformed { at, why };
                    }
                }
            }
        }
    }

    /// Updates the stack with one header.
    fn apply(&mut self, token: Token) -> Result<(), &'static str> {
        if let Some(&Frame::IndefString { major }) = self.stack.last() {
            let is_chunk = matches!(token, Token::Scalar { chunk: Some(m), .. } if m == major);
            if !is_chunk && token != Token::Break {
                return Err("an indefinite-length string holds something other than a \
                            definite-length string of the same type");
            }
        }
        if token == Token::Break {
            return match self.stack.last() {
                Some(
                    Frame::IndefArray | Frame::IndefString { .. } | Frame::IndefMap { odd: false },
                ) => {
                    self.stack.pop();
                    self.child_done();
                    Ok(())
                }
                Some(Frame::IndefMap { odd: true }) => Err("break after a map key with no value"),
                _ => Err("unexpected break byte"),
            };
        }
        // Merged deep containers count headers as they start.
        if let Some(Frame::Deep(pending)) = self.stack.last_mut() {
            *pending = pending.saturating_sub(1);
        }
        match token {
            Token::Scalar { payload, .. } => {
                self.skip = payload;
                self.child_done();
                Ok(())
            }
            Token::Container { items: 0 } => {
                self.child_done();
                Ok(())
            }
            Token::Container { items } => self.open(Frame::Items(items)),
            Token::Open(frame) => self.open(frame),
            Token::Break => Ok(()),
        }
    }

    /// Pushes a container that has children to read.
    fn open(&mut self, frame: Frame) -> Result<(), &'static str> {
        if let (Some(Frame::Deep(pending)), Frame::Items(items)) = (self.stack.last_mut(), frame) {
            *pending = pending.saturating_add(items);
            return Ok(());
        }
        let frame = if self.stack.len() >= MAX_DEPTH {
            self.too_deep = true;
            if self.stack.len() >= MAX_FRAMES {
                return Err("indefinite-length containers nested too deep to follow");
            }
            match frame {
                Frame::Items(items) => Frame::Deep(items),
                other => other,
            }
        } else {
            frame
        };
        self.stack.push(frame);
        Ok(())
    }

    /// A child of the innermost open container (or the item itself) is complete.
    fn child_done(&mut self) {
        loop {
            match self.stack.last_mut() {
                None => {
                    self.root_done = true;
                    return;
                }
                Some(Frame::Items(left)) => {
                    *left = left.saturating_sub(1);
                    if *left > 0 {
                        return;
                    }
                }
                Some(Frame::Deep(pending)) => {
                    if *pending > 0 {
                        return;
                    }
                }
                Some(Frame::IndefMap { odd }) => {
                    *odd = !*odd;
                    return;
                }
                Some(Frame::IndefArray | Frame::IndefString { .. }) => return,
            }
            self.stack.pop();
        }
    }

    /// Reports malformed input whose bad header starts at `src[at]`, or, when `at` is `None`,
    /// was stashed (its first byte has already left the buffer). See the [module
    /// documentation](self) for what is consumed.
    fn malformed(&mut self, src: &mut BytesMut, at: Option<usize>, why: &str) -> DeserializeError {
        let name = self.format.name();
        let item_start = at == Some(0) && !self.discarding;
        self.reset();
        if !self.format.resumes_after_bad_header() {
            src.clear();
            return DeserializeError::invalid(format!(
                "{name} decode error: {why}; the rest of the received data was discarded"
            ))
            .unrecoverable();
        }
        // Like cbor2 reading a file: stop right after the bad byte; the next decode starts
        // there.
        if let Some(at) = at {
            src.advance((at + 1).min(src.len()));
        }
        if item_start {
            DeserializeError::invalid(format!("{name} decode error: {why}"))
        } else {
            DeserializeError::invalid(format!(
                "{name} decode error: {why}; the item was discarded up to that byte"
            ))
            .unrecoverable()
        }
    }

    /// In discard mode, keeps the start of a header split across chunks out of the buffer.
    fn stash_partial_header(&mut self, src: &mut BytesMut) {
        if self.skip == 0 && !src.is_empty() && self.stash_len + src.len() <= MAX_HEADER {
            self.stash[self.stash_len..self.stash_len + src.len()].copy_from_slice(src);
            self.stash_len += src.len();
            src.clear();
        }
    }

    /// In discard mode, completes the header whose start was stashed. Returns `Ok(false)` when
    /// it is still incomplete.
    fn resume_stashed_header(&mut self, src: &mut BytesMut) -> Result<bool, &'static str> {
        let mut buf = [0u8; MAX_HEADER];
        let have = self.stash_len;
        let extra = src.len().min(MAX_HEADER - have);
        buf[..have].copy_from_slice(&self.stash[..have]);
        buf[have..have + extra].copy_from_slice(&src[..extra]);
        match self.format.header(&buf[..have + extra]) {
            Parsed::NeedMore => {
                self.stash[have..have + extra].copy_from_slice(&src[..extra]);
                self.stash_len += extra;
                src.advance(extra);
                Ok(false)
            }
            Parsed::Malformed(why) => Err(why),
            Parsed::Header { len, token } => {
                self.stash_len = 0;
                self.apply(token)?;
                src.advance(len.saturating_sub(have).min(src.len()));
                Ok(true)
            }
        }
    }

    /// Takes the next item from the front of `src`, following the stream contract of
    /// [`StreamSerializer::decode`](crate::StreamSerializer::decode): `Ok(Some(item))` with
    /// exactly the item's bytes, `Ok(None)` when no whole item is buffered yet, or an error after
    /// removing the faulty item.
    pub(crate) fn next_item(
        &mut self,
        src: &mut BytesMut,
        limit: usize,
    ) -> Result<Option<BytesMut>, DeserializeError> {
        loop {
            if self.pos > src.len() {
                // The buffer was changed behind the scanner's back: start over.
                self.reset();
            }
            if self.stash_len > 0 {
                match self.resume_stashed_header(src) {
                    Ok(true) => {}
                    Ok(false) => return Ok(None),
                    Err(why) => return Err(self.malformed(src, None, why)),
                }
            }
            match self.advance(src) {
                Step::Malformed { at, why } => return Err(self.malformed(src, Some(at), why)),
                Step::Complete(end) => {
                    let (discarding, too_deep) = (self.discarding, self.too_deep);
                    self.reset();
                    if discarding {
                        src.advance(end);
                        continue;
                    }
                    let item = src.split_to(end);
                    if end > limit {
                        return Err(DeserializeError::limit_exceeded(
                            limit,
                            format!(
                                "{} item ({end} bytes) is longer than the limit ({limit} bytes)",
                                self.format.name()
                            ),
                        ));
                    }
                    if too_deep {
                        return Err(DeserializeError::invalid(format!(
                            "{} item nested deeper than {MAX_DEPTH} levels",
                            self.format.name()
                        )));
                    }
                    return Ok(Some(item));
                }
                Step::NeedMore => {
                    if self.discarding {
                        src.advance(self.pos);
                        self.pos = 0;
                        self.stash_partial_header(src);
                        return Ok(None);
                    }
                    // The item is longer than what is accounted for plus the payload to skip,
                    // and longer than what is buffered.
                    let known = (self.pos as u64).saturating_add(self.skip);
                    let min_len = known.max((src.len() as u64).saturating_add(1));
                    if min_len > limit as u64 {
                        src.advance(self.pos);
                        self.pos = 0;
                        self.discarding = true;
                        self.stash_partial_header(src);
                        return Err(DeserializeError::limit_exceeded(
                            limit,
                            format!(
                                "{} item of at least {min_len} bytes is longer than the limit \
                                 ({limit} bytes): skipping it",
                                self.format.name()
                            ),
                        ));
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// End of stream, after [`next_item`](Self::next_item) returned `Ok(None)`: the bytes of an
    /// unfinished item are an [`DeserializeErrorKind::Incomplete`] error (the tail of an
    /// oversized item, already reported, is dropped silently).
    pub(crate) fn finish(&mut self, src: &mut BytesMut) -> Result<(), DeserializeError> {
        let discarding = self.discarding;
        self.reset();
        let left = src.len();
        src.clear();
        if discarding || left == 0 {
            return Ok(());
        }
        Err(DeserializeError::new(
            DeserializeErrorKind::Incomplete,
            format!(
                "stream ended in the middle of a {} item ({left} bytes left)",
                self.format.name()
            ),
        ))
    }
}

/// Checks that `datagram` holds exactly one well-formed item of at most [`MAX_DEPTH`] levels.
pub(crate) fn check_datagram(format: Format, datagram: &[u8]) -> Result<(), DeserializeError> {
    let mut scanner = ItemScanner::new(format);
    let name = format.name();
    match scanner.advance(datagram) {
        Step::Complete(end) if end < datagram.len() => Err(DeserializeError::new(
            DeserializeErrorKind::TrailingData,
            format!(
                "extra data caught: {} bytes after the {name} item",
                datagram.len() - end
            ),
        )),
        Step::Complete(_) if scanner.too_deep => Err(DeserializeError::invalid(format!(
            "{name} item nested deeper than {MAX_DEPTH} levels"
        ))),
        Step::Complete(_) => Ok(()),
        Step::NeedMore => Err(DeserializeError::new(
            DeserializeErrorKind::Incomplete,
            format!("missing data to create packet: the {name} item is truncated"),
        )),
        Step::Malformed { why, .. } => Err(DeserializeError::invalid(format!(
            "{name} decode error: {why}"
        ))),
    }
}

#[cfg(all(test, feature = "msgpack", feature = "cbor"))]
mod tests {
    use super::*;

    /// The end of the first item of `bytes`, scanned in one go.
    fn end_of(format: Format, bytes: &[u8]) -> Step {
        ItemScanner::new(format).advance(bytes)
    }

    /// The end of the first item of `bytes`, fed one byte at a time.
    fn end_of_bytewise(format: Format, bytes: &[u8]) -> Step {
        let mut scanner = ItemScanner::new(format);
        for n in 1..=bytes.len() {
            match scanner.advance(&bytes[..n]) {
                Step::NeedMore => {}
                other => return other,
            }
        }
        Step::NeedMore
    }

    #[test]
    fn msgpack_headers() {
        let f = Format::Msgpack;
        let cases: &[(&[u8], usize)] = &[
            (&[0x01], 1),
            (&[0xe0], 1),
            (&[0xc0], 1),
            (&[0xcc, 0xff], 2),
            (&[0xcb, 0, 0, 0, 0, 0, 0, 0, 0], 9),
            (&[0xa3, b'a', b'b', b'c'], 4),
            (&[0xd9, 2, b'a', b'b'], 4),
            (&[0xc5, 0, 1, 7], 4),
            (&[0xd4, 1, 9], 3),
            (&[0xc7, 2, 5, 1, 2], 5),
            (&[0x92, 0x01, 0x91, 0x02], 4),
            (&[0x82, 0x01, 0x02, 0xa1, b'k', 0x90], 6),
            (&[0xdc, 0, 2, 0x01, 0x02], 5),
            (&[0xdf, 0, 0, 0, 1, 0x01, 0x02], 7),
        ];
        for (bytes, len) in cases {
            let mut input = bytes.to_vec();
            input.push(0x07);
            assert_eq!(end_of(f, &input), Step::Complete(*len), "{bytes:02x?}");
            assert_eq!(
                end_of_bytewise(f, &input),
                Step::Complete(*len),
                "{bytes:02x?}"
            );
            assert_eq!(end_of(f, &bytes[..len - 1]), Step::NeedMore, "{bytes:02x?}");
        }
        assert!(matches!(end_of(f, &[0x91, 0xc1]), Step::Malformed { .. }));
    }

    #[test]
    fn cbor_headers() {
        let f = Format::Cbor;
        let cases: &[(&[u8], usize)] = &[
            (&[0x01], 1),
            (&[0x18, 0x64], 2),
            (&[0x3b, 0, 0, 0, 0, 0, 0, 0, 1], 9),
            (&[0x43, 1, 2, 3], 4),
            (&[0x78, 2, b'h', b'i'], 4),
            (&[0x5f, 0x41, 1, 0x40, 0xff], 5),
            (&[0x7f, 0x61, b'a', 0xff], 4),
            (&[0x9f, 0x01, 0x9f, 0xff, 0xff], 5),
            (&[0xbf, 0x01, 0x02, 0xff], 4),
            (&[0xa1, 0x61, b'a', 0x01], 4),
            (&[0xc1, 0x1a, 0, 0, 0, 1], 6),
            (&[0xd8, 0x20, 0x61, b'u'], 4),
            (&[0xf9, 0x3c, 0x00], 3),
            (&[0xfa, 0, 0, 0, 0], 5),
            (&[0xfb, 0, 0, 0, 0, 0, 0, 0, 0], 9),
            (&[0xf8, 0x20], 2),
            (&[0xf4], 1),
        ];
        for (bytes, len) in cases {
            let mut input = bytes.to_vec();
            input.push(0x07);
            assert_eq!(end_of(f, &input), Step::Complete(*len), "{bytes:02x?}");
            assert_eq!(
                end_of_bytewise(f, &input),
                Step::Complete(*len),
                "{bytes:02x?}"
            );
            assert_eq!(end_of(f, &bytes[..len - 1]), Step::NeedMore, "{bytes:02x?}");
        }
        let malformed: &[&[u8]] = &[
            &[0x1c],
            &[0x5e],
            &[0xfd],
            &[0x1f],
            &[0xdf],
            &[0xff],
            &[0x82, 0x01, 0xff],
            &[0xbf, 0x01, 0xff],
            &[0x5f, 0x61, b'a', 0xff],
            &[0x7f, 0x7f, 0xff, 0xff],
        ];
        for bytes in malformed {
            assert!(
                matches!(end_of(f, bytes), Step::Malformed { .. }),
                "{bytes:02x?}"
            );
        }
    }

    /// MessagePack: `depth` nested two-element arrays `[child, 1]` around `1`.
    fn msgpack_nested(depth: usize) -> Vec<u8> {
        let mut out = vec![0x92; depth];
        out.push(0x01);
        out.extend(std::iter::repeat(0x01).take(depth));
        out
    }

    /// CBOR: nesting that cycles through definite arrays, indefinite arrays, maps, indefinite
    /// maps and tags, `depth` levels deep.
    fn cbor_nested(depth: usize) -> Vec<u8> {
        let mut open = Vec::new();
        let mut close = Vec::new();
        for level in 0..depth {
            match level % 5 {
                0 => {
                    open.push(0x82);
                    close.push(vec![0x01]);
                }
                1 => {
                    open.push(0x9f);
                    close.push(vec![0x02, 0xff]);
                }
                2 => {
                    open.extend([0xa1, 0x03]);
                    close.push(vec![]);
                }
                3 => {
                    open.extend([0xbf, 0x04]);
                    close.push(vec![0x05, 0x06, 0xff]);
                }
                _ => {
                    open.push(0xc6);
                    close.push(vec![]);
                }
            }
        }
        open.push(0x00);
        for tail in close.into_iter().rev() {
            open.extend(tail);
        }
        open
    }

    #[test]
    fn deep_items_end_where_they_should() {
        for depth in [0, 1, 5, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 400, 2000] {
            for (format, item) in [
                (Format::Msgpack, msgpack_nested(depth)),
                (Format::Cbor, cbor_nested(depth)),
            ] {
                if format == Format::Cbor && depth > 2 * MAX_DEPTH {
                    // Too many indefinite-length levels past MAX_DEPTH: checked below.
                    continue;
                }
                let mut input = item.clone();
                input.push(0x07);
                let mut scanner = ItemScanner::new(format);
                assert_eq!(
                    scanner.advance(&input),
                    Step::Complete(item.len()),
                    "{format:?} {depth}"
                );
                assert_eq!(scanner.too_deep, depth > MAX_DEPTH, "{format:?} {depth}");
                assert_eq!(end_of_bytewise(format, &input), Step::Complete(item.len()));
                // The tight pass takes exactly the items within the depth limit.
                let want = (depth <= MAX_DEPTH).then_some(item.len());
                assert_eq!(whole_item(format, &input), want, "{format:?} {depth}");
                assert_eq!(whole_item(format, &item), want, "{format:?} {depth}");
                assert_eq!(whole_item(format, &item[..item.len() - 1]), None);
            }
        }
    }

    /// What the tight pass must say about `bytes`, from the resumable scanner: the end of a
    /// complete item within the depth limit, else nothing.
    fn expected_whole_item(format: Format, bytes: &[u8]) -> Option<usize> {
        let mut scanner = ItemScanner::new(format);
        match scanner.advance(bytes) {
            Step::Complete(end) if !scanner.too_deep => Some(end),
            _ => None,
        }
    }

    #[test]
    fn whole_item_on_known_headers() {
        let cases: &[(Format, &[u8])] = &[
            (Format::Msgpack, &[0xc4, 2, 1, 2]),
            (Format::Msgpack, &[0xc5, 0, 2, 1, 2]),
            (Format::Msgpack, &[0xc6, 0, 0, 0, 2, 1, 2]),
            (Format::Msgpack, &[0xd9, 1, b'a']),
            (Format::Msgpack, &[0xda, 0, 1, b'a']),
            (Format::Msgpack, &[0xdb, 0, 0, 0, 1, b'a']),
            (Format::Msgpack, &[0xc7, 1, 5, 9]),
            (Format::Msgpack, &[0xc8, 0, 1, 5, 9]),
            (Format::Msgpack, &[0xc9, 0, 0, 0, 1, 5, 9]),
            (Format::Msgpack, &[0xd4, 5, 9]),
            (
                Format::Msgpack,
                &[
                    0xd8, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                ],
            ),
            (Format::Msgpack, &[0xdc, 0, 2, 0x01, 0x90]),
            (Format::Msgpack, &[0xdd, 0, 0, 0, 1, 0x80]),
            (Format::Msgpack, &[0xde, 0, 1, 0xc0, 0xc3]),
            (
                Format::Msgpack,
                &[0xdf, 0, 0, 0, 1, 0xa1, b'k', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            (Format::Msgpack, &[0x92, 0x91, 0x91, 0x01, 0xcc, 0xff]),
            (Format::Cbor, &[0x5f, 0x41, 1, 0x40, 0xff]),
            (Format::Cbor, &[0x7f, 0x78, 1, b'a', 0xff]),
            (Format::Cbor, &[0x9f, 0x01, 0x9f, 0xff, 0xbf, 0xff, 0xff]),
            (Format::Cbor, &[0xbf, 0x01, 0x9f, 0xff, 0x02, 0x80, 0xff]),
            (Format::Cbor, &[0xd9, 0x01, 0x00, 0xc6, 0x59, 0, 1, 7]),
            (
                Format::Cbor,
                &[
                    0x82, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0, 0x3b, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
            ),
            (Format::Cbor, &[0x98, 2, 0xf8, 0x20, 0xf9, 0x3c, 0]),
            (Format::Cbor, &[0xb9, 0, 1, 0x7a, 0, 0, 0, 1, b'k', 0xa0]),
        ];
        for &(format, item) in cases {
            let mut input = item.to_vec();
            input.push(0x07);
            assert_eq!(whole_item(format, &input), Some(item.len()), "{item:02x?}");
            for cut in 0..item.len() {
                assert_eq!(whole_item(format, &item[..cut]), None, "{item:02x?} {cut}");
            }
        }
        // Malformed input is left to the scanner.
        let malformed: &[(Format, &[u8])] = &[
            (Format::Msgpack, &[0xc1]),
            (Format::Msgpack, &[0x91, 0xc1]),
            (Format::Cbor, &[0x1c]),
            (Format::Cbor, &[0xff]),
            (Format::Cbor, &[0x9f, 0x1f]),
            (Format::Cbor, &[0xbf, 0x01, 0xff]),
            (Format::Cbor, &[0x82, 0x01, 0xff]),
            (Format::Cbor, &[0x5f, 0x61, b'a', 0xff]),
            (Format::Cbor, &[0x7f, 0x7f, 0xff, 0xff]),
            (Format::Cbor, &[0xdf, 0x01]),
        ];
        for &(format, bytes) in malformed {
            assert_eq!(whole_item(format, bytes), None, "{bytes:02x?}");
        }
    }

    /// Bytes rich in headers: containers of every kind, short and long strings, breaks, tags,
    /// reserved values.
    fn header_soup() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            any::<u8>().prop_map(|b| vec![b]),
            (0x80u8..0xa0).prop_map(|b| vec![b]),
            (0x90u8..0x94).prop_map(|b| vec![b]),
            (0x80u8..0x84).prop_map(|b| vec![b]),
            (0xa0u8..0xa4).prop_map(|b| vec![b]),
            Just(vec![0x9f]),
            Just(vec![0xbf]),
            Just(vec![0x5f]),
            Just(vec![0x7f]),
            Just(vec![0xff]),
            (0xc0u8..0xe0).prop_map(|b| vec![b]),
            (0u8..8).prop_map(|n| vec![0xd9, n]),
            (0u8..8).prop_map(|n| vec![0x78, n]),
            (0u8..3).prop_map(|n| vec![0xdc, 0, n]),
            (0u8..3).prop_map(|n| vec![0x98, n]),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
    }

    proptest::proptest! {
        #[test]
        fn whole_item_agrees_with_the_scanner(bytes in header_soup()) {
            for format in [Format::Msgpack, Format::Cbor] {
                for cut in [bytes.len(), bytes.len() / 2, bytes.len() / 3] {
                    let bytes = &bytes[..cut];
                    proptest::prop_assert_eq!(
                        whole_item(format, bytes),
                        expected_whole_item(format, bytes),
                        "{:?} {:02x?}", format, bytes
                    );
                }
            }
        }

        #[test]
        fn whole_item_agrees_with_the_scanner_on_any_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
        ) {
            for format in [Format::Msgpack, Format::Cbor] {
                proptest::prop_assert_eq!(
                    whole_item(format, &bytes),
                    expected_whole_item(format, &bytes),
                    "{:?} {:02x?}", format, bytes
                );
            }
        }
    }

    #[test]
    fn deep_msgpack_takes_constant_memory() {
        let item = msgpack_nested(100_000);
        let mut scanner = ItemScanner::new(Format::Msgpack);
        assert_eq!(scanner.advance(&item[..100_000]), Step::NeedMore);
        assert_eq!(scanner.stack_len(), MAX_DEPTH + 1);
        assert_eq!(scanner.advance(&item), Step::Complete(item.len()));
    }

    #[test]
    fn deep_indefinite_cbor_gives_up_with_bounded_memory() {
        let item = vec![0x9f; 100_000];
        let mut scanner = ItemScanner::new(Format::Cbor);
        assert!(matches!(scanner.advance(&item), Step::Malformed { .. }));
        assert!(scanner.stack_len() <= MAX_FRAMES);
    }

    #[test]
    fn datagram_checks() {
        assert!(check_datagram(Format::Msgpack, &[0x91, 0x01]).is_ok());
        let kind = |r: Result<(), DeserializeError>| r.unwrap_err().kind();
        assert_eq!(
            kind(check_datagram(Format::Msgpack, &[0x92, 0x01])),
            DeserializeErrorKind::Incomplete
        );
        assert_eq!(
            kind(check_datagram(Format::Msgpack, &[0x01, 0x02])),
            DeserializeErrorKind::TrailingData
        );
        assert_eq!(
            kind(check_datagram(Format::Cbor, &[0xff])),
            DeserializeErrorKind::Invalid
        );
        assert_eq!(
            kind(check_datagram(
                Format::Msgpack,
                &msgpack_nested(MAX_DEPTH + 1)
            )),
            DeserializeErrorKind::Invalid
        );
        assert!(check_datagram(Format::Msgpack, &msgpack_nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            kind(check_datagram(Format::Cbor, &[])),
            DeserializeErrorKind::Incomplete
        );
    }
}
