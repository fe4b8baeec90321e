//! Compression wrappers: zlib and bzip2 (EasyNetwork's `ZlibCompressorSerializer` and
//! `BZ2CompressorSerializer`), and zstd.
//!
//! All three share one engine (`Core`) and differ only in their `Codec`. The behaviour they
//! share is documented once, in `shared_doc!`, and repeated in each wrapper's documentation.

use std::fmt;

use bytes::{Buf, BytesMut};

use crate::error::{DeserializeError, DeserializeErrorKind, SerializeError};
use crate::serializer::{rollback_on_error, DatagramSerializer, StreamSerializer, DEFAULT_LIMIT};

/// The behaviour the three wrappers share, for their documentation.
macro_rules! shared_doc {
    () => {
        r#"
# Streams

Packets follow each other with no framing: each is one complete compressed stream, and it ends
at its end-of-stream marker. The decoding state keeps the live decompressor and the output so
far between calls, so each byte is fed once however the packet is chunked; the bytes after the
marker stay in the buffer for the next packet. The inner serializer's one-shot `deserialize`
then runs on the output; its errors are recoverable (the next packet follows).

Corrupt compressed data is an unrecoverable
[`Decompression`](crate::DeserializeErrorKind::Decompression) error: the end of the bad packet
cannot be found, so the buffer is cleared and the state reset (EasyNetwork also drops the
buffered bytes). A stream that ends inside a packet is
[`Incomplete`](crate::DeserializeErrorKind::Incomplete) at `decode_eof`.

# Datagrams

A datagram holds exactly one compressed stream:
[`Incomplete`](crate::DeserializeErrorKind::Incomplete) ("compressed data ended before the
end-of-stream marker was reached") if it ends early,
[`TrailingData`](crate::DeserializeErrorKind::TrailingData) if bytes follow the marker.

# Limit

One limit ([`DEFAULT_LIMIT`](crate::DEFAULT_LIMIT) unless set with `with_limit`) bounds both the
decompressed size of one packet and its compressed size; EasyNetwork has none. Output goes into
a buffer that grows geometrically up to `limit + 1` bytes and never further, so a decompression
bomb is stopped after at most that much output. A datagram over the limit is a
[`LimitExceeded`](crate::DeserializeErrorKind::LimitExceeded) error.

On a stream, an oversized packet is skipped, and the stream recovers: the decoder goes on
decompressing it into a small scratch buffer that is thrown away, until its end-of-stream
marker. It is reported once, as a recoverable `LimitExceeded` error, by the call that detects
it, after that call has skipped the part of the packet already buffered: if the packet's end was
in the buffer, what is left follows it; if not, the rest is skipped silently as it arrives, and
the next packet starts after the marker. Skipping is bounded: a packet that decompresses to
more than 1024 × the limit (64 MiB for the default limit) makes the decoder give up with an
unrecoverable `LimitExceeded` error (the buffer is cleared), since its end cannot be reached at a
reasonable cost.

The compressed bytes count against the same limit, so an incompressible payload within a few
bytes of the limit can exceed it once compressed.
"#
    };
}

/// Skipping an oversized packet stops after this many times the limit of decompressed output.
const SKIP_BUDGET_FACTOR: usize = 1024;
/// Smallest output buffer offered to a decompressor (unless the limit is smaller).
const MIN_ROOM: usize = 1024;
/// Size of the scratch buffer that output of a skipped packet goes to.
const SKIP_SCRATCH: usize = 16 * 1024;

/// What one decompression step did.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// Input bytes consumed.
    consumed: usize,
    /// The end-of-stream marker was reached and all output written.
    ended: bool,
}

/// One compression format.
trait Codec: Send + Sync {
    /// A live decompressor.
    type Decoder: Send;
    /// The format's name in messages.
    const NAME: &'static str;

    /// Checks the first bytes of a packet before a decompressor is made: `Ok(false)` when more
    /// bytes are needed to tell.
    fn check_start(_prefix: &[u8]) -> Result<bool, DeserializeError> {
        Ok(true)
    }

    /// A fresh decompressor for one packet, sized for packets of at most `limit` bytes.
    fn new_decoder(limit: usize) -> Result<Self::Decoder, DeserializeError>;

    /// Feeds `input`, appending output to `out` within its spare capacity (never growing it).
    fn step(
        decoder: &mut Self::Decoder,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Step, DeserializeError>;

    /// Appends `input` compressed as one complete stream to `dst`.
    fn compress(&self, input: &[u8], dst: &mut BytesMut) -> Result<(), SerializeError>;
}

fn corrupt<C: Codec, E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    source: E,
) -> DeserializeError {
    DeserializeError::new(
        DeserializeErrorKind::Decompression,
        format!("{} decompression error", C::NAME),
    )
    .with_source(source)
}

fn stalled<C: Codec>() -> DeserializeError {
    DeserializeError::new(
        DeserializeErrorKind::Decompression,
        format!(
            "{} decompression error: the decompressor makes no progress",
            C::NAME
        ),
    )
}

fn incomplete() -> DeserializeError {
    DeserializeError::new(
        DeserializeErrorKind::Incomplete,
        "compressed data ended before the end-of-stream marker was reached",
    )
}

fn over_limit(limit: usize, what: &str) -> DeserializeError {
    DeserializeError::limit_exceeded(
        limit,
        format!("the {what} packet is larger than the limit ({limit} bytes)"),
    )
}

/// Makes sure `out` has spare capacity, growing it geometrically but never past `max_len`
/// bytes in all.
fn make_room(out: &mut Vec<u8>, max_len: usize) {
    if out.len() < out.capacity() {
        return;
    }
    let target = out.capacity().saturating_mul(2).max(MIN_ROOM).min(max_len);
    if target > out.len() {
        out.reserve_exact(target - out.len());
    }
}

/// The state shared by the three wrappers: inner serializer, format and limit.
#[derive(Debug, Clone)]
struct Core<C, S> {
    inner: S,
    codec: C,
    limit: usize,
}

/// Decoding progress of one packet on a stream.
struct PacketState<D> {
    /// The live decompressor of the packet being received, if any.
    decoder: Option<D>,
    /// Output so far (or scratch space while skipping).
    output: Vec<u8>,
    /// Compressed bytes of the packet consumed so far.
    compressed: usize,
    /// Skipping an oversized packet.
    skipping: bool,
    /// Output thrown away while skipping.
    skipped: usize,
    /// The largest output buffer this state has held, for the tests of the memory bound.
    #[cfg(test)]
    peak_capacity: usize,
}

impl<D> PacketState<D> {
    fn new() -> Self {
        Self {
            decoder: None,
            output: Vec::new(),
            compressed: 0,
            skipping: false,
            skipped: 0,
            #[cfg(test)]
            peak_capacity: 0,
        }
    }

    fn reset(&mut self) {
        #[cfg(test)]
        let peak_capacity = self.peak_capacity;
        *self = Self::new();
        #[cfg(test)]
        {
            self.peak_capacity = peak_capacity;
        }
    }
}

impl<D> fmt::Debug for PacketState<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeState")
            .field("in_packet", &self.decoder.is_some())
            .field("compressed", &self.compressed)
            .field("decompressed", &self.output.len())
            .field("skipping", &self.skipping)
            .finish()
    }
}

impl<C: Codec, S: DatagramSerializer> Core<C, S> {
    fn serialize(&self, packet: &S::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        let mut raw = BytesMut::new();
        self.inner.serialize(packet, &mut raw)?;
        rollback_on_error(dst, |dst| self.codec.compress(&raw, dst))
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<S::Received, DeserializeError> {
        let limit = self.limit;
        if datagram.len() > limit {
            return Err(over_limit(limit, "compressed"));
        }
        if !C::check_start(datagram)? {
            return Err(incomplete());
        }
        let mut decoder = C::new_decoder(limit)?;
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            make_room(&mut out, limit.saturating_add(1));
            let before = out.len();
            let step = C::step(&mut decoder, &datagram[pos..], &mut out)?;
            pos += step.consumed;
            if out.len() > limit {
                return Err(over_limit(limit, "decompressed"));
            }
            if step.ended {
                if pos < datagram.len() {
                    return Err(DeserializeError::new(
                        DeserializeErrorKind::TrailingData,
                        format!(
                            "{} bytes of trailing data after the end-of-stream marker",
                            datagram.len() - pos
                        ),
                    ));
                }
                return self.inner.deserialize(&out);
            }
            if step.consumed == 0 && out.len() == before {
                return Err(if pos == datagram.len() {
                    incomplete()
                } else {
                    stalled::<C>()
                });
            }
        }
    }

    fn decode(
        &self,
        state: &mut PacketState<C::Decoder>,
        src: &mut BytesMut,
    ) -> Result<Option<S::Received>, DeserializeError> {
        let limit = self.limit;
        // Clears everything after an error that loses the framing.
        let fail =
            |state: &mut PacketState<C::Decoder>, src: &mut BytesMut, e: DeserializeError| {
                src.clear();
                state.reset();
                e.unrecoverable()
            };
        // An oversized packet found in this call: reported once the buffered part of it has
        // been skipped, so that what is left in `src` follows it.
        let mut oversized: Option<DeserializeError> = None;
        loop {
            let decoder = match state.decoder {
                Some(ref mut decoder) => decoder,
                None => {
                    if src.is_empty() {
                        return oversized.map_or(Ok(None), Err);
                    }
                    match C::check_start(src) {
                        Ok(true) => {}
                        Ok(false) => return oversized.map_or(Ok(None), Err),
                        Err(e) => return Err(fail(state, src, e)),
                    }
                    match C::new_decoder(limit) {
                        Ok(decoder) => state.decoder.insert(decoder),
                        Err(e) => return Err(fail(state, src, e)),
                    }
                }
            };
            let input = if state.skipping {
                state.output.clear();
                &src[..]
            } else {
                make_room(&mut state.output, limit.saturating_add(1));
                // Never feed more than the compressed limit allows.
                let allowed = limit.saturating_add(1).saturating_sub(state.compressed);
                &src[..src.len().min(allowed)]
            };
            let before = state.output.len();
            let step = match C::step(decoder, input, &mut state.output) {
                Ok(step) => step,
                Err(e) => return Err(fail(state, src, e)),
            };
            let produced = state.output.len() - before;
            #[cfg(test)]
            {
                state.peak_capacity = state.peak_capacity.max(state.output.capacity());
            }
            src.advance(step.consumed);
            state.compressed = state.compressed.saturating_add(step.consumed);

            if state.skipping {
                state.skipped = state.skipped.saturating_add(produced);
                if step.ended {
                    // The oversized packet is over: the next one starts here.
                    state.reset();
                    if let Some(e) = oversized {
                        return Err(e);
                    }
                    continue;
                }
                if state.skipped > limit.saturating_mul(SKIP_BUDGET_FACTOR) {
                    let e = DeserializeError::limit_exceeded(
                        limit,
                        format!(
                            "gave up skipping an oversized {} packet: it decompresses to more \
                             than {SKIP_BUDGET_FACTOR} times the limit ({limit} bytes)",
                            C::NAME
                        ),
                    );
                    return Err(fail(state, src, e));
                }
            } else {
                let what = if state.output.len() > limit {
                    Some("decompressed")
                } else if state.compressed > limit {
                    Some("compressed")
                } else {
                    None
                };
                if let Some(what) = what {
                    let e = over_limit(limit, what);
                    if step.ended {
                        state.reset();
                        return Err(e);
                    }
                    // Skip the rest of the packet, into a small scratch buffer.
                    state.skipping = true;
                    state.output =
                        Vec::with_capacity(limit.saturating_add(1).clamp(64, SKIP_SCRATCH));
                    oversized = Some(e);
                    continue;
                }
                if step.ended {
                    let output = std::mem::take(&mut state.output);
                    state.reset();
                    return self.inner.deserialize(&output).map(Some);
                }
            }
            if step.consumed == 0 && produced == 0 {
                if src.is_empty() {
                    return oversized.map_or(Ok(None), Err);
                }
                return Err(fail(state, src, stalled::<C>()));
            }
        }
    }

    fn decode_eof(
        &self,
        state: &mut PacketState<C::Decoder>,
        src: &mut BytesMut,
    ) -> Result<Option<S::Received>, DeserializeError> {
        if let Some(packet) = self.decode(state, src)? {
            return Ok(Some(packet));
        }
        let partial = (state.decoder.is_some() && !state.skipping) || !src.is_empty();
        src.clear();
        state.reset();
        if partial {
            Err(DeserializeError::new(
                DeserializeErrorKind::Incomplete,
                format!("stream ended in the middle of a {} packet", C::NAME),
            ))
        } else {
            Ok(None)
        }
    }
}

/// Implements what the three wrappers have in common.
macro_rules! compressor_wrapper {
    ($wrapper:ident, $state:ident, $codec:ty) => {
        impl<S> $wrapper<S> {
            /// Sets the limit, in bytes, on the decompressed size of one packet and on its
            /// compressed size.
            pub fn with_limit(mut self, limit: usize) -> Self {
                self.core.limit = limit;
                self
            }

            /// The limit in force, in bytes.
            pub fn limit(&self) -> usize {
                self.core.limit
            }

            /// The wrapped serializer.
            pub fn inner(&self) -> &S {
                &self.core.inner
            }
        }

        #[doc = concat!(
                    "Decoding state of [`", stringify!($wrapper), "`] on a stream: the live ",
                    "decompressor of the packet being received and its output so far."
                )]
        pub struct $state(PacketState<<$codec as Codec>::Decoder>);

        impl fmt::Debug for $state {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl<S: DatagramSerializer> DatagramSerializer for $wrapper<S> {
            type Sent = S::Sent;
            type Received = S::Received;

            fn serialize(
                &self,
                packet: &Self::Sent,
                dst: &mut BytesMut,
            ) -> Result<(), SerializeError> {
                self.core.serialize(packet, dst)
            }

            fn deserialize(&self, datagram: &[u8]) -> Result<Self::Received, DeserializeError> {
                self.core.deserialize(datagram)
            }
        }

        impl<S: DatagramSerializer> StreamSerializer for $wrapper<S> {
            type Sent = S::Sent;
            type Received = S::Received;
            type DecodeState = $state;

            fn decode_state(&self) -> $state {
                $state(PacketState::new())
            }

            fn encode(
                &self,
                packet: &Self::Sent,
                dst: &mut BytesMut,
            ) -> Result<(), SerializeError> {
                self.core.serialize(packet, dst)
            }

            fn decode(
                &self,
                state: &mut $state,
                src: &mut BytesMut,
            ) -> Result<Option<Self::Received>, DeserializeError> {
                self.core.decode(&mut state.0, src)
            }

            fn decode_eof(
                &self,
                state: &mut $state,
                src: &mut BytesMut,
            ) -> Result<Option<Self::Received>, DeserializeError> {
                self.core.decode_eof(&mut state.0, src)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// zlib

/// What one call of a streaming compressor did.
#[cfg(any(feature = "zlib", feature = "bz2"))]
struct Progress {
    consumed: usize,
    produced: usize,
    ended: bool,
}

/// Drives a streaming compressor (`step`: one call over the rest of the input and a free
/// output window) until its stream ends: each round grows `dst` by `room(remaining input)` and
/// keeps only what was produced. `name` goes into the error when a call makes no progress.
#[cfg(any(feature = "zlib", feature = "bz2"))]
fn compress_to_end(
    input: &[u8],
    dst: &mut BytesMut,
    name: &str,
    room: impl Fn(usize) -> usize,
    mut step: impl FnMut(&[u8], &mut [u8]) -> Result<Progress, SerializeError>,
) -> Result<(), SerializeError> {
    let mut pos = 0;
    loop {
        let start = dst.len();
        dst.resize(start + room(input.len() - pos), 0);
        let progress = step(&input[pos..], &mut dst[start..])?;
        pos += progress.consumed;
        dst.truncate(start + progress.produced);
        if progress.ended {
            return Ok(());
        }
        if progress.consumed == 0 && progress.produced == 0 {
            return Err(SerializeError::new(format!(
                "{name} compression makes no progress"
            )));
        }
    }
}

#[cfg(feature = "zlib")]
mod zlib {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

    use super::*;

    /// The zlib format (RFC 1950) at a compression level.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Zlib {
        pub(super) level: u32,
    }

    impl Codec for Zlib {
        type Decoder = Decompress;
        const NAME: &'static str = "zlib";

        fn new_decoder(_limit: usize) -> Result<Decompress, DeserializeError> {
            Ok(Decompress::new(true))
        }

        fn step(
            decoder: &mut Decompress,
            input: &[u8],
            out: &mut Vec<u8>,
        ) -> Result<Step, DeserializeError> {
            let before = decoder.total_in();
            let status = decoder
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(corrupt::<Self, _>)?;
            Ok(Step {
                consumed: (decoder.total_in() - before) as usize,
                ended: status == Status::StreamEnd,
            })
        }

        fn compress(&self, input: &[u8], dst: &mut BytesMut) -> Result<(), SerializeError> {
            let mut compressor = Compress::new(Compression::new(self.level), true);
            // Stored blocks cost 5 bytes per 64 KiB, plus header and trailer.
            let room = |remaining: usize| remaining + remaining / 1024 + 64;
            super::compress_to_end(input, dst, "zlib", room, |input, out| {
                let (in_before, out_before) = (compressor.total_in(), compressor.total_out());
                let status = compressor
                    .compress(input, out, FlushCompress::Finish)
                    .map_err(|e| SerializeError::with_source("zlib compression failed", e))?;
                Ok(super::Progress {
                    consumed: (compressor.total_in() - in_before) as usize,
                    produced: (compressor.total_out() - out_before) as usize,
                    ended: status == Status::StreamEnd,
                })
            })
        }
    }
}

#[cfg(feature = "zlib")]
use zlib::Zlib;

/// zlib wrapper: EasyNetwork's `ZlibCompressorSerializer`, with a size limit.
///
/// A packet is the inner serializer's output compressed by a fresh compressor into one zlib
/// stream (RFC 1950: `78 DA` header at level 9, deflate data, Adler-32 trailer), the same bytes
/// on datagrams and streams (EasyNetwork sends them in two chunks on streams; the bytes are the
/// same).
///
/// Output decodes with Python's `zlib.decompress`, but it is not always byte for byte what
/// Python's zlib writes: this crate uses a Rust deflate implementation (miniz_oxide), whose
/// choices of matches and blocks differ from C zlib beyond small inputs.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{DatagramSerializer, JsonSerializer, StreamSerializer, ZlibWrapper};
/// use serde_json::json;
///
/// let s = ZlibWrapper::new(JsonSerializer::<serde_json::Value>::new());
/// let mut wire = BytesMut::new();
/// s.serialize(&json!({"data": 42}), &mut wire).unwrap();
/// // zlib.compress(b'{"data":42}', 9) in Python:
/// assert_eq!(&wire[..2], b"\x78\xda");
///
/// // Streams: packets back to back, in any chunks.
/// s.encode(&json!([1, 2, 3]), &mut wire).unwrap();
/// let mut state = s.decode_state();
/// assert_eq!(s.decode(&mut state, &mut wire).unwrap(), Some(json!({"data": 42})));
/// assert_eq!(s.decode(&mut state, &mut wire).unwrap(), Some(json!([1, 2, 3])));
/// ```
#[doc = shared_doc!()]
#[cfg(feature = "zlib")]
#[derive(Debug, Clone)]
pub struct ZlibWrapper<S> {
    core: Core<Zlib, S>,
}

#[cfg(feature = "zlib")]
impl<S> ZlibWrapper<S> {
    /// Wraps `inner`: compression level 9 (`Z_BEST_COMPRESSION`, EasyNetwork's default), limit
    /// [`DEFAULT_LIMIT`].
    pub fn new(inner: S) -> Self {
        Self {
            core: Core {
                inner,
                codec: Zlib { level: 9 },
                limit: DEFAULT_LIMIT,
            },
        }
    }

    /// Sets the compression level, from 0 (stored, no compression) to 9 (best); higher values
    /// are taken as 9. Only the sender's level matters.
    pub fn with_level(mut self, level: u32) -> Self {
        self.core.codec.level = level.min(9);
        self
    }

    /// The compression level.
    pub fn level(&self) -> u32 {
        self.core.codec.level
    }
}

#[cfg(feature = "zlib")]
compressor_wrapper!(ZlibWrapper, ZlibDecodeState, Zlib);

// ---------------------------------------------------------------------------------------------
// bzip2

#[cfg(feature = "bz2")]
mod bz2 {
    use bzip2::{Action, Compress, Compression, Decompress, Status};

    use super::*;

    /// The bzip2 format at a block size (level).
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Bz2 {
        pub(super) level: u32,
    }

    impl Codec for Bz2 {
        type Decoder = Decompress;
        const NAME: &'static str = "bzip2";

        fn new_decoder(_limit: usize) -> Result<Decompress, DeserializeError> {
            Ok(Decompress::new(false))
        }

        fn step(
            decoder: &mut Decompress,
            input: &[u8],
            out: &mut Vec<u8>,
        ) -> Result<Step, DeserializeError> {
            let before = decoder.total_in();
            let status = decoder
                .decompress_vec(input, out)
                .map_err(corrupt::<Self, _>)?;
            if status == Status::MemNeeded {
                return Err(corrupt::<Self, _>("out of memory"));
            }
            Ok(Step {
                consumed: (decoder.total_in() - before) as usize,
                ended: status == Status::StreamEnd,
            })
        }

        fn compress(&self, input: &[u8], dst: &mut BytesMut) -> Result<(), SerializeError> {
            // Work factor 0 is libbzip2's default (30), as Python's BZ2Compressor uses.
            let mut compressor = Compress::new(Compression::new(self.level), 0);
            // bzip2 can expand incompressible data by about 1%, plus headers.
            let room = |remaining: usize| remaining + remaining / 64 + 640;
            super::compress_to_end(input, dst, "bzip2", room, |input, out| {
                let (in_before, out_before) = (compressor.total_in(), compressor.total_out());
                let status = compressor
                    .compress(input, out, Action::Finish)
                    .map_err(|e| SerializeError::with_source("bzip2 compression failed", e))?;
                Ok(super::Progress {
                    consumed: (compressor.total_in() - in_before) as usize,
                    produced: (compressor.total_out() - out_before) as usize,
                    ended: status == Status::StreamEnd,
                })
            })
        }
    }
}

#[cfg(feature = "bz2")]
use bz2::Bz2;

/// bzip2 wrapper: EasyNetwork's `BZ2CompressorSerializer`, with a size limit.
///
/// A packet is the inner serializer's output compressed by a fresh compressor into one bzip2
/// stream (`BZh9` header at level 9), the same bytes on datagrams and streams. This crate uses
/// the C libbzip2, as Python does, so the bytes are Python's.
///
/// A bzip2 decompressor takes about 3.6 MB of memory (for 900 kB blocks) while a packet is being
/// received; this is inherent to the format.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{Bz2Wrapper, JsonSerializer, StreamSerializer};
/// use serde_json::json;
///
/// let s = Bz2Wrapper::new(JsonSerializer::<serde_json::Value>::new()).with_limit(1 << 20);
/// let mut wire = BytesMut::new();
/// s.encode(&json!({"data": 42}), &mut wire).unwrap();
/// assert!(wire.starts_with(b"BZh9"));
/// let mut state = s.decode_state();
/// assert_eq!(s.decode(&mut state, &mut wire).unwrap(), Some(json!({"data": 42})));
/// ```
#[doc = shared_doc!()]
#[cfg(feature = "bz2")]
#[derive(Debug, Clone)]
pub struct Bz2Wrapper<S> {
    core: Core<Bz2, S>,
}

#[cfg(feature = "bz2")]
impl<S> Bz2Wrapper<S> {
    /// Wraps `inner`: compression level 9 (EasyNetwork's default), limit [`DEFAULT_LIMIT`].
    pub fn new(inner: S) -> Self {
        Self {
            core: Core {
                inner,
                codec: Bz2 { level: 9 },
                limit: DEFAULT_LIMIT,
            },
        }
    }

    /// Sets the compression level, from 1 to 9 (the block size in units of 100 kB); values
    /// outside are taken as the nearest bound. Only the sender's level matters.
    pub fn with_level(mut self, level: u32) -> Self {
        self.core.codec.level = level.clamp(1, 9);
        self
    }

    /// The compression level.
    pub fn level(&self) -> u32 {
        self.core.codec.level
    }
}

#[cfg(feature = "bz2")]
compressor_wrapper!(Bz2Wrapper, Bz2DecodeState, Bz2);

// ---------------------------------------------------------------------------------------------
// zstd

#[cfg(feature = "zstd")]
mod zstd_codec {
    use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

    use super::*;

    /// Magic number that opens every standard zstd frame (little-endian 0xFD2FB528).
    const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

    /// The smallest largest window the decoder accepts: 4 MiB (`2^22`), enough for frames that
    /// streaming compressors write at levels up to about 9 without knowing the size.
    const MIN_WINDOW_LOG: u32 = 22;

    /// The largest window log zstd accepts on this platform.
    const MAX_WINDOW_LOG: u32 = if cfg!(target_pointer_width = "64") {
        31
    } else {
        30
    };

    /// The window log the decoder accepts for a limit: a frame within the limit never needs a
    /// window larger than the limit.
    pub(super) fn window_log_max(limit: usize) -> u32 {
        let needed = match limit.checked_next_power_of_two() {
            Some(power) => power.trailing_zeros(),
            None => MAX_WINDOW_LOG,
        };
        needed.clamp(MIN_WINDOW_LOG, MAX_WINDOW_LOG)
    }

    /// The zstd format at a compression level.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Zstd {
        pub(super) level: i32,
    }

    impl Codec for Zstd {
        type Decoder = Decoder<'static>;
        const NAME: &'static str = "zstd";

        fn check_start(prefix: &[u8]) -> Result<bool, DeserializeError> {
            let n = prefix.len().min(MAGIC.len());
            if prefix[..n] != MAGIC[..n] {
                // Skippable frames and the legacy (pre-1.0) formats are refused too.
                return Err(corrupt::<Self, _>("not a zstd frame (bad magic number)"));
            }
            Ok(n == MAGIC.len())
        }

        fn new_decoder(limit: usize) -> Result<Decoder<'static>, DeserializeError> {
            let mut decoder = Decoder::new().map_err(corrupt::<Self, _>)?;
            decoder
                .set_parameter(DParameter::WindowLogMax(window_log_max(limit)))
                .map_err(corrupt::<Self, _>)?;
            Ok(decoder)
        }

        fn step(
            decoder: &mut Decoder<'static>,
            input: &[u8],
            out: &mut Vec<u8>,
        ) -> Result<Step, DeserializeError> {
            let mut input = InBuffer::around(input);
            let filled = out.len();
            let mut output = OutBuffer::around_pos(out, filled);
            // 0: the frame is complete and all its output written.
            let hint = decoder
                .run(&mut input, &mut output)
                .map_err(corrupt::<Self, _>)?;
            Ok(Step {
                consumed: input.pos(),
                ended: hint == 0,
            })
        }

        fn compress(&self, input: &[u8], dst: &mut BytesMut) -> Result<(), SerializeError> {
            let failed = |e| SerializeError::with_source("zstd compression failed", e);
            let mut compressor = zstd::bulk::Compressor::new(self.level).map_err(failed)?;
            let start = dst.len();
            dst.resize(start + zstd::zstd_safe::compress_bound(input.len()), 0);
            // One-shot compression records the content size in the frame header, so the
            // receiver's window is no larger than the packet.
            let written = compressor
                .compress_to_buffer(input, &mut dst[start..])
                .map_err(failed)?;
            dst.truncate(start + written);
            Ok(())
        }
    }
}

#[cfg(feature = "zstd")]
use zstd_codec::Zstd;

/// zstd wrapper (no EasyNetwork counterpart), with a size limit.
///
/// A packet is the inner serializer's output compressed into one zstd frame (RFC 8878), with
/// the content size in its header; the same bytes on datagrams and streams.
///
/// The receiver accepts only standard frames (skippable frames and the legacy pre-1.0 formats
/// are corrupt data), and frames whose window is at most the limit rounded up to a power of
/// two, and at least 4 MiB: that bounds the decompressor's memory. Frames from other zstd
/// producers decode if they fit that window.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{JsonSerializer, StreamSerializer, ZstdWrapper};
/// use serde_json::json;
///
/// let s = ZstdWrapper::new(JsonSerializer::<serde_json::Value>::new()).with_level(19);
/// let mut wire = BytesMut::new();
/// s.encode(&json!({"data": 42}), &mut wire).unwrap();
/// assert!(wire.starts_with(b"\x28\xb5\x2f\xfd"));
/// let mut state = s.decode_state();
/// assert_eq!(s.decode(&mut state, &mut wire).unwrap(), Some(json!({"data": 42})));
/// ```
#[doc = shared_doc!()]
#[cfg(feature = "zstd")]
#[derive(Debug, Clone)]
pub struct ZstdWrapper<S> {
    core: Core<Zstd, S>,
}

#[cfg(feature = "zstd")]
impl<S> ZstdWrapper<S> {
    /// Wraps `inner`: compression level 3 (zstd's default), limit [`DEFAULT_LIMIT`].
    pub fn new(inner: S) -> Self {
        Self {
            core: Core {
                inner,
                codec: Zstd { level: 3 },
                limit: DEFAULT_LIMIT,
            },
        }
    }

    /// Sets the compression level: 1 to 22, negative for faster modes, 0 for zstd's default
    /// (3). Values outside the range zstd supports are taken as the nearest bound. Only the
    /// sender's level matters.
    pub fn with_level(mut self, level: i32) -> Self {
        let range = zstd::compression_level_range();
        self.core.codec.level = level.clamp(*range.start(), *range.end());
        self
    }

    /// The compression level.
    pub fn level(&self) -> i32 {
        self.core.codec.level
    }
}

#[cfg(feature = "zstd")]
compressor_wrapper!(ZstdWrapper, ZstdDecodeState, Zstd);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrapper::testing::Raw;

    /// Lower-case hexadecimal.
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses hexadecimal.
    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Bytes that do not compress (xorshift).
    fn noise(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    /// A serializer of raw bytes with both contracts, as all three wrappers over `Raw` are.
    trait RawWrapper:
        DatagramSerializer<Sent = [u8], Received = Vec<u8>>
        + StreamSerializer<Sent = [u8], Received = Vec<u8>>
    {
    }
    impl<T> RawWrapper for T where
        T: DatagramSerializer<Sent = [u8], Received = Vec<u8>>
            + StreamSerializer<Sent = [u8], Received = Vec<u8>>
    {
    }

    fn datagram<S: RawWrapper>(s: &S, packet: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        DatagramSerializer::serialize(s, packet, &mut out).unwrap();
        out.to_vec()
    }

    fn stream<S: RawWrapper>(s: &S, packets: &[&[u8]]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for p in packets {
            StreamSerializer::encode(s, p, &mut out).unwrap();
        }
        out.to_vec()
    }

    type Outcome = Result<Vec<u8>, (DeserializeErrorKind, bool, Vec<u8>)>;

    /// Feeds `chunks` one after the other, decoding after each; an error is recorded with its
    /// recoverability and the bytes left in the buffer.
    fn decode_chunks<S: RawWrapper>(s: &S, chunks: &[&[u8]]) -> Vec<Outcome> {
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match s.decode(&mut state, &mut buf) {
                    Ok(Some(p)) => out.push(Ok(p)),
                    Ok(None) => break,
                    Err(e) => out.push(Err((e.kind(), e.is_recoverable(), buf.to_vec()))),
                }
            }
        }
        out
    }

    fn decode_bytewise<S: RawWrapper>(s: &S, wire: &[u8]) -> Vec<Outcome> {
        let chunks: Vec<&[u8]> = wire.chunks(1).collect();
        decode_chunks(s, &chunks)
    }

    fn oks(packets: &[&[u8]]) -> Vec<Outcome> {
        packets.iter().map(|p| Ok(p.to_vec())).collect()
    }

    /// Round trips and chunking, for any of the wrappers.
    fn check_round_trips<S: RawWrapper>(s: &S) {
        let big = [noise(3000, 1), vec![b'a'; 20_000]].concat();
        let packets: [&[u8]; 5] = [b"hello", b"", &big, b"x", b"hello"];
        for p in packets {
            assert_eq!(
                DatagramSerializer::deserialize(s, &datagram(s, p)).unwrap(),
                p
            );
            // The stream bytes of a packet are its datagram bytes.
            assert_eq!(stream(s, &[p]), datagram(s, p));
        }
        let wire = stream(s, &packets);
        let want = oks(&packets);
        assert_eq!(decode_chunks(s, &[&wire]), want, "one chunk");
        assert_eq!(decode_bytewise(s, &wire), want, "byte by byte");
        for cut in [1, 7, wire.len() / 3, wire.len() / 2, wire.len() - 1] {
            assert_eq!(
                decode_chunks(s, &[&wire[..cut], &wire[cut..]]),
                want,
                "cut at {cut}"
            );
        }
        let chunks: Vec<&[u8]> = wire.chunks(1000).collect();
        assert_eq!(decode_chunks(s, &chunks), want, "1000-byte chunks");
        // Each byte is taken once, as it arrives: after `Ok(None)` the buffer holds nothing but
        // (for zstd) the first bytes of a frame's magic number.
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut count = 0;
        for byte in &wire {
            buf.extend_from_slice(&[*byte]);
            while s.decode(&mut state, &mut buf).unwrap().is_some() {
                count += 1;
            }
            assert!(buf.len() < 4, "{} bytes left in the buffer", buf.len());
        }
        assert_eq!(count, packets.len());
    }

    /// An inner error is recoverable and leaves exactly the following packets in the buffer.
    fn check_inner_error_remainder<S: RawWrapper>(s: &S) {
        let rest = stream(s, &[b"after", b"and more"]);
        let wire = [stream(s, &[b"first", b"reject"]), rest.clone()].concat();
        let got = decode_chunks(s, &[&wire]);
        assert_eq!(got[0], Ok(b"first".to_vec()));
        assert_eq!(got[1], Err((DeserializeErrorKind::Invalid, true, rest)));
        assert_eq!(got[2..], oks(&[b"after", b"and more"]));
        // Byte by byte, the error comes when the bad packet's marker arrives: nothing is left.
        let got = decode_bytewise(s, &wire);
        assert_eq!(got[1], Err((DeserializeErrorKind::Invalid, true, vec![])));
        assert_eq!(got.len(), 4);
    }

    /// Datagram errors: incomplete, trailing data, empty.
    fn check_datagram_errors<S: RawWrapper>(s: &S) {
        let good = datagram(s, b"hello hello hello");
        let kind = |d: &[u8]| DatagramSerializer::deserialize(s, d).unwrap_err().kind();
        assert_eq!(
            kind(&good[..good.len() - 1]),
            DeserializeErrorKind::Incomplete
        );
        assert_eq!(kind(&[]), DeserializeErrorKind::Incomplete);
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(kind(&trailing), DeserializeErrorKind::TrailingData);
        let twice = [good.clone(), good.clone()].concat();
        assert_eq!(kind(&twice), DeserializeErrorKind::TrailingData);
        let e = DatagramSerializer::deserialize(s, &good[..4]).unwrap_err();
        assert_eq!(
            e.message(),
            "compressed data ended before the end-of-stream marker was reached"
        );
        assert_eq!(kind(&datagram(s, b"reject")), DeserializeErrorKind::Invalid);
    }

    /// Corrupt data: unrecoverable, buffer cleared, state reset so that a new stream decodes.
    fn check_corrupt<S: RawWrapper>(s: &S, corrupt_packet: &[u8]) {
        let next = stream(s, &[b"next"]);
        let wire = [
            stream(s, &[b"before"]),
            corrupt_packet.to_vec(),
            next.clone(),
        ]
        .concat();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(
            s.decode(&mut state, &mut buf).unwrap(),
            Some(b"before".to_vec())
        );
        let e = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(e.kind(), DeserializeErrorKind::Decompression, "{e}");
        assert!(!e.is_recoverable());
        assert!(buf.is_empty());
        buf.extend_from_slice(&next);
        assert_eq!(
            s.decode(&mut state, &mut buf).unwrap(),
            Some(b"next".to_vec())
        );
        // As a datagram: a plain (recoverable) decompression error.
        let e = DatagramSerializer::deserialize(s, corrupt_packet).unwrap_err();
        assert_eq!(e.kind(), DeserializeErrorKind::Decompression);
    }

    /// A decompression bomb (`zeros` bytes of zeros) against a 64 KiB limit: reported as soon
    /// as the output passes the limit, never buffered beyond it, skipped, and the next packet
    /// decodes.
    fn check_bomb<S: RawWrapper>(
        s: &S,
        zeros: usize,
        capacity: impl Fn(&<S as StreamSerializer>::DecodeState) -> usize,
    ) {
        let limit = 64 * 1024;
        let bomb = datagram(s, &vec![0u8; zeros]);
        assert!(
            bomb.len() < limit,
            "the bomb must be small: {} bytes",
            bomb.len()
        );
        let next = stream(s, &[b"next"]);

        // Datagram.
        let e = DatagramSerializer::deserialize(s, &bomb).unwrap_err();
        assert_eq!(e.kind(), DeserializeErrorKind::LimitExceeded { limit });

        // Stream, in 1000-byte chunks.
        let wire = [bomb.clone(), next.clone()].concat();
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut max_capacity = 0;
        for chunk in wire.chunks(1000) {
            buf.extend_from_slice(chunk);
            loop {
                let result = s.decode(&mut state, &mut buf);
                max_capacity = max_capacity.max(capacity(&state));
                match result {
                    Ok(Some(p)) => got.push(Ok(p)),
                    Ok(None) => break,
                    Err(e) => got.push(Err((e.kind(), e.is_recoverable()))),
                }
            }
        }
        assert_eq!(
            got,
            vec![
                Err((DeserializeErrorKind::LimitExceeded { limit }, true)),
                Ok(b"next".to_vec())
            ]
        );
        // The buffer filled up to the limit (the test means something) and never beyond.
        assert!(
            (limit / 2..=limit + 1).contains(&max_capacity),
            "output buffer grew to {max_capacity} bytes"
        );
        assert!(buf.is_empty());

        // The same bomb in one chunk, then the next packet in the same buffer.
        let got = decode_chunks(s, &[&wire]);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].as_ref().unwrap_err().0,
            DeserializeErrorKind::LimitExceeded { limit }
        );
        assert_eq!(got[1], Ok(b"next".to_vec()));
    }

    /// Oversized packets that are not bombs: over the decompressed limit, over the compressed
    /// limit; and a packet too large to skip.
    fn check_limits<S: RawWrapper>(make: impl Fn(usize) -> S) {
        let s = make(100);
        let exactly = vec![b'z'; 100];
        let over = vec![b'z'; 101];
        let rest = stream(&s, &[b"ok"]);
        let wire = [stream(&s, &[&exactly, &over]), rest.clone()].concat();
        let got = decode_chunks(&s, &[&wire]);
        let limit = DeserializeErrorKind::LimitExceeded { limit: 100 };
        // The oversized packet ends in this same buffer: the error leaves the next packet.
        assert_eq!(
            got,
            vec![
                Ok(exactly.clone()),
                Err((limit, true, rest.clone())),
                Ok(b"ok".to_vec())
            ]
        );
        assert_eq!(
            decode_bytewise(&s, &wire),
            vec![
                Ok(exactly.clone()),
                Err((limit, true, vec![])),
                Ok(b"ok".to_vec())
            ]
        );
        // Incompressible: 96 bytes of payload, more than 100 once compressed.
        let big = make(1000);
        let incompressible = noise(96, 7);
        let packet = datagram(&big, &incompressible);
        assert!(packet.len() > 100);
        let got = decode_chunks(&s, &[&packet, &rest]);
        assert_eq!(got, vec![Err((limit, true, vec![])), Ok(b"ok".to_vec())]);
        let e = DatagramSerializer::deserialize(&s, &packet).unwrap_err();
        assert_eq!(e.kind(), limit);
        // Skipping gives up after 1024 × the limit: 64 bytes of limit, 1 MB of packet.
        let tiny = make(64);
        let huge = datagram(&tiny, &vec![0u8; 1 << 20]);
        let limit = DeserializeErrorKind::LimitExceeded { limit: 64 };
        // In one chunk, it gives up in the same call: only the unrecoverable error is reported,
        // and the buffer is cleared.
        let got = decode_chunks(&tiny, &[&[huge.clone(), rest.clone()].concat(), &rest]);
        assert_eq!(got, vec![Err((limit, false, vec![])), Ok(b"ok".to_vec())]);
        // In small chunks: reported (recoverable) at once, given up on later. What follows an
        // unrecoverable error is out of step, so stop there.
        let mut state = tiny.decode_state();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        'feed: for chunk in huge.chunks(3) {
            buf.extend_from_slice(chunk);
            loop {
                match tiny.decode(&mut state, &mut buf) {
                    Ok(p) => {
                        assert_eq!(p, None);
                        break;
                    }
                    Err(e) => {
                        got.push((e.kind(), e.is_recoverable(), buf.len()));
                        if !e.is_recoverable() {
                            break 'feed;
                        }
                    }
                }
            }
        }
        // (bzip2 and zstd decompress this packet's first bytes to more than the budget at once.)
        assert!(
            got == vec![(limit, true, 0), (limit, false, 0)] || got == vec![(limit, false, 0)],
            "{got:?}"
        );
    }

    /// A stream that ends inside a packet.
    fn check_eof<S: RawWrapper>(s: &S) {
        let wire = stream(s, &[b"one", b"two"]);
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&wire[..wire.len() - 2]);
        assert_eq!(
            s.decode_eof(&mut state, &mut buf).unwrap(),
            Some(b"one".to_vec())
        );
        let e = s.decode_eof(&mut state, &mut buf).unwrap_err();
        assert_eq!(e.kind(), DeserializeErrorKind::Incomplete);
        assert!(buf.is_empty());
        assert_eq!(s.decode_eof(&mut state, &mut buf).unwrap(), None);
        // After an error the state is fresh.
        buf.extend_from_slice(&wire);
        assert_eq!(
            s.decode_eof(&mut state, &mut buf).unwrap(),
            Some(b"one".to_vec())
        );
        assert_eq!(
            s.decode_eof(&mut state, &mut buf).unwrap(),
            Some(b"two".to_vec())
        );
        assert_eq!(s.decode_eof(&mut state, &mut buf).unwrap(), None);
    }

    #[cfg(feature = "json")]
    fn check_json<S>(s: &S)
    where
        S: DatagramSerializer<Sent = serde_json::Value, Received = serde_json::Value>
            + StreamSerializer<Sent = serde_json::Value, Received = serde_json::Value>,
    {
        use serde_json::json;
        let values = [
            json!({"data": 42}),
            json!([1, "two", null, {"é": 3.5}]),
            json!("x"),
        ];
        let mut wire = BytesMut::new();
        for v in &values {
            StreamSerializer::encode(s, v, &mut wire).unwrap();
            let mut d = BytesMut::new();
            DatagramSerializer::serialize(s, v, &mut d).unwrap();
            assert_eq!(&DatagramSerializer::deserialize(s, &d).unwrap(), v);
        }
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in wire.chunks(1) {
            buf.extend_from_slice(byte);
            while let Some(v) = s.decode(&mut state, &mut buf).unwrap() {
                got.push(v);
            }
        }
        assert_eq!(got, values);
    }

    // ---- zlib ---------------------------------------------------------------------------

    #[cfg(feature = "zlib")]
    mod zlib {
        use super::*;

        fn capacity(state: &ZlibDecodeState) -> usize {
            state.0.peak_capacity
        }

        // Reference bytes from CPython 3.11 (zlib 1.2.13), as EasyNetwork 1.2.0 makes them:
        //   ZlibCompressorSerializer(Raw(), compress_level=L).serialize(payload).hex()
        // (= c = zlib.compressobj(L); c.compress(payload) + c.flush()).
        #[test]
        fn python_vectors() {
            let s = ZlibWrapper::new(Raw);
            assert_eq!(hex(&datagram(&s, b"hello")), "78dacb48cdc9c90700062c0215");
            assert_eq!(hex(&stream(&s, &[b"hello"])), "78dacb48cdc9c90700062c0215");
            let fast = ZlibWrapper::new(Raw).with_level(1);
            assert_eq!(
                hex(&datagram(&fast, b"hello")),
                "7801cb48cdc9c90700062c0215"
            );
            // ZlibCompressorSerializer(JSONSerializer()).serialize({"data": 42})
            assert_eq!(
                hex(&datagram(&s, b"{\"data\":42}")),
                "78daab564a492c4954b23231aa050015b50377"
            );
            // Here Python's C zlib and Rust's miniz_oxide write different (both valid) bytes:
            // Rust's output is not compared, Python's must decode.
            let doc = br#"{"name":"packetwire","tags":["a","b","a","b"],"n":[1,2,3,1,2,3,1,2,3]}"#;
            let python = unhex(
                "78daab56ca4bcc4d55b2522a484cce4e2d29cf2c4a55d2512a494c2f56b28a564a04b293801842c7\
                 ea28e501450d758c748c7590c8d85a00dc1012a8",
            );
            assert_eq!(DatagramSerializer::deserialize(&s, &python).unwrap(), doc);
            let wire = [python.clone(), python.clone()].concat();
            assert_eq!(decode_bytewise(&s, &wire), oks(&[doc, doc]));
        }

        #[test]
        fn round_trips() {
            check_round_trips(&ZlibWrapper::new(Raw));
            check_round_trips(&ZlibWrapper::new(Raw).with_level(0));
            check_round_trips(&ZlibWrapper::new(Raw).with_level(1));
        }

        #[cfg(feature = "json")]
        #[test]
        fn json() {
            check_json(&ZlibWrapper::new(
                crate::JsonSerializer::<serde_json::Value>::new(),
            ));
        }

        #[test]
        fn errors() {
            let s = ZlibWrapper::new(Raw);
            check_inner_error_remainder(&s);
            check_datagram_errors(&s);
            check_eof(&s);
            // Bad header; reserved block type; bad Adler-32 trailer.
            check_corrupt(&s, b"\x00\x00\x00\x00");
            check_corrupt(&s, b"\x78\xda\xff\xff\xff");
            let mut bad_sum = datagram(&s, b"hello");
            *bad_sum.last_mut().unwrap() ^= 1;
            check_corrupt(&s, &bad_sum);
        }

        #[test]
        fn limits() {
            check_limits(|limit| ZlibWrapper::new(Raw).with_limit(limit));
        }

        #[test]
        fn bomb() {
            let s = ZlibWrapper::new(Raw).with_limit(64 * 1024);
            check_bomb(&s, 10_000_000, capacity);
        }

        #[test]
        fn levels() {
            assert_eq!(ZlibWrapper::new(Raw).level(), 9);
            assert_eq!(ZlibWrapper::new(Raw).with_level(12).level(), 9);
            assert_eq!(ZlibWrapper::new(Raw).with_level(0).level(), 0);
        }

        #[test]
        fn stacks_on_base64() {
            #[cfg(feature = "base64")]
            {
                let s = ZlibWrapper::new(crate::Base64Wrapper::new(Raw));
                let wire = stream(&s, &[b"hi", b"there"]);
                assert_eq!(decode_bytewise(&s, &wire), oks(&[b"hi", b"there"]));
            }
        }
    }

    // ---- bzip2 --------------------------------------------------------------------------

    #[cfg(feature = "bz2")]
    mod bz2 {
        use super::*;

        fn capacity(state: &Bz2DecodeState) -> usize {
            state.0.peak_capacity
        }

        // Reference bytes from CPython 3.11 (libbzip2 1.0.8), as EasyNetwork 1.2.0 makes them:
        //   BZ2CompressorSerializer(Raw(), compress_level=L).serialize(payload).hex()
        #[test]
        fn python_vectors() {
            let s = Bz2Wrapper::new(Raw);
            let hello = "425a68393141592653591931653d00000081000244a000219a68334d07338bb9229c28\
                         480c98b29e80";
            assert_eq!(hex(&datagram(&s, b"hello")), hello);
            assert_eq!(hex(&stream(&s, &[b"hello"])), hello);
            let fast = Bz2Wrapper::new(Raw).with_level(1);
            let hello1 = "425a68313141592653591931653d00000081000244a000219a68334d07338bb9229c28\
                          480c98b29e80";
            assert_eq!(hex(&datagram(&fast, b"hello")), hello1);
            // BZ2CompressorSerializer(JSONSerializer()).serialize({"data": 42})
            let json = "425a6839314159265359761e83ff0000049980100014102400040a2000220347a420c9\
                        8842d417cdf8bb9229c28483b0f41ff8";
            assert_eq!(hex(&datagram(&s, b"{\"data\":42}")), json);
            assert_eq!(
                DatagramSerializer::deserialize(&s, &unhex(json)).unwrap(),
                b"{\"data\":42}"
            );
        }

        #[test]
        fn round_trips() {
            check_round_trips(&Bz2Wrapper::new(Raw));
            check_round_trips(&Bz2Wrapper::new(Raw).with_level(1));
        }

        #[cfg(feature = "json")]
        #[test]
        fn json() {
            check_json(&Bz2Wrapper::new(
                crate::JsonSerializer::<serde_json::Value>::new(),
            ));
        }

        #[test]
        fn errors() {
            let s = Bz2Wrapper::new(Raw);
            check_inner_error_remainder(&s);
            check_datagram_errors(&s);
            check_eof(&s);
            // Bad magic; good magic, bad block header; bad CRC.
            check_corrupt(&s, b"XYZ9aaaa");
            check_corrupt(&s, b"BZh9\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
            let mut bad_crc = datagram(&s, b"hello hello");
            bad_crc[12] ^= 0x10;
            check_corrupt(&s, &bad_crc);
        }

        #[test]
        fn limits() {
            check_limits(|limit| Bz2Wrapper::new(Raw).with_limit(limit));
        }

        #[test]
        fn bomb() {
            let s = Bz2Wrapper::new(Raw).with_limit(64 * 1024);
            check_bomb(&s, 10_000_000, capacity);
        }

        #[test]
        fn levels() {
            assert_eq!(Bz2Wrapper::new(Raw).level(), 9);
            assert_eq!(Bz2Wrapper::new(Raw).with_level(0).level(), 1);
            assert_eq!(Bz2Wrapper::new(Raw).with_level(10).level(), 9);
        }
    }

    // ---- zstd ---------------------------------------------------------------------------

    #[cfg(feature = "zstd")]
    mod zstd {
        use super::*;

        fn capacity(state: &ZstdDecodeState) -> usize {
            state.0.peak_capacity
        }

        #[test]
        fn frames_from_the_zstd_cli() {
            let s = ZstdWrapper::new(Raw);
            // printf hello | zstd -c | xxd -p   (zstd 1.5.4: checksum, 2 MiB window, no size)
            let cli = unhex("28b52ffd045829000068656c6c6fa36d9f88");
            assert_eq!(DatagramSerializer::deserialize(&s, &cli).unwrap(), b"hello");
            let wire = [cli.clone(), cli.clone()].concat();
            assert_eq!(decode_bytewise(&s, &wire), oks(&[b"hello", b"hello"]));
            // A corrupt checksum is caught.
            let mut bad = cli.clone();
            *bad.last_mut().unwrap() ^= 1;
            check_corrupt(&s, &bad);
            // printf hello | zstd -c --long=27 | xxd -p   (128 MiB window): refused.
            let long = unhex("28b52ffd048829000068656c6c6fa36d9f88");
            let e = DatagramSerializer::deserialize(&s, &long).unwrap_err();
            assert_eq!(e.kind(), DeserializeErrorKind::Decompression);
            check_corrupt(&s, &long);
            // ...unless the limit is that large.
            let large = ZstdWrapper::new(Raw).with_limit(1 << 27);
            assert_eq!(
                DatagramSerializer::deserialize(&large, &long).unwrap(),
                b"hello"
            );
            // Our frames carry the content size and no checksum: magic, FHD 0x20
            // (single segment, 1-byte size), size 5, one raw last block of 5 bytes.
            assert_eq!(hex(&datagram(&s, b"hello")), "28b52ffd200529000068656c6c6f");
        }

        #[test]
        fn round_trips() {
            check_round_trips(&ZstdWrapper::new(Raw));
            check_round_trips(&ZstdWrapper::new(Raw).with_level(19));
            check_round_trips(&ZstdWrapper::new(Raw).with_level(-5));
        }

        #[cfg(feature = "json")]
        #[test]
        fn json() {
            check_json(&ZstdWrapper::new(
                crate::JsonSerializer::<serde_json::Value>::new(),
            ));
        }

        #[test]
        fn errors() {
            let s = ZstdWrapper::new(Raw);
            check_inner_error_remainder(&s);
            check_datagram_errors(&s);
            check_eof(&s);
            // Bad magic (refused at once, before 4 bytes are there); a skippable frame; a
            // legacy (v0.7) magic; good magic and a reserved block type.
            check_corrupt(&s, b"\x00abcdefg");
            check_corrupt(&s, b"\x50\x2a\x4d\x18\x00\x00\x00\x00");
            check_corrupt(&s, b"\x27\xb5\x2f\xfd\x00\x00\x00\x00");
            check_corrupt(&s, b"\x28\xb5\x2f\xfd\x20\x05\x07\x00\x00hello");
            let mut state = s.decode_state();
            let mut buf = BytesMut::from(&b"\x28\xb5"[..]);
            assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
            assert_eq!(buf.len(), 2);
            buf.extend_from_slice(b"\x00");
            assert!(!s.decode(&mut state, &mut buf).unwrap_err().is_recoverable());
        }

        #[test]
        fn limits() {
            check_limits(|limit| ZstdWrapper::new(Raw).with_limit(limit));
        }

        #[test]
        fn bomb() {
            let s = ZstdWrapper::new(Raw).with_limit(64 * 1024);
            check_bomb(&s, 10_000_000, capacity);
        }

        #[test]
        fn levels_and_windows() {
            assert_eq!(ZstdWrapper::new(Raw).level(), 3);
            assert_eq!(ZstdWrapper::new(Raw).with_level(100).level(), 22);
            assert_eq!(
                ZstdWrapper::new(Raw).with_level(i32::MIN).level(),
                ::zstd::zstd_safe::min_c_level()
            );
            use super::super::zstd_codec::window_log_max;
            assert_eq!(window_log_max(DEFAULT_LIMIT), 22);
            assert_eq!(window_log_max(0), 22);
            assert_eq!(window_log_max((1 << 24) + 1), 25);
            assert_eq!(window_log_max(usize::MAX), 31);
        }
    }
}
