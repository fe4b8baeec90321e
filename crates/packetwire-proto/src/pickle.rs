//! Python's pickle format, for plain data only: EasyNetwork's `PickleSerializer` restricted to
//! what a [`Value`] can hold.
//!
//! The encoder writes what CPython's `pickle.dumps` writes; the decoder is a stack machine
//! with no recursion, that refuses every opcode able to name or call Python code.

use std::collections::HashMap;

use bytes::BytesMut;

use crate::error::{DeserializeError, DeserializeErrorKind, SerializeError};
use crate::serializer::{rollback_on_error, DatagramSerializer};
use crate::value::Value;

/// The deepest nesting of lists and maps accepted, both ways.
const MAX_DEPTH: usize = 256;
/// Values a pickle of `n` bytes may expand to: `VALUES_PER_BYTE * n + VALUES_BASE`.
const VALUES_PER_BYTE: usize = 16;
const VALUES_BASE: usize = 1024;
/// String and byte-string content a pickle of `n` bytes may expand to, in bytes.
const CONTENT_PER_BYTE: usize = 64;
const CONTENT_BASE: usize = 64 * 1024;

/// CPython's framing constants (protocol 4 and later).
const FRAME_SIZE_TARGET: usize = 64 * 1024;
const FRAME_SIZE_MIN: usize = 4;
const FRAME_HEADER_SIZE: usize = 9;
/// CPython's batch size for APPENDS and SETITEMS.
const BATCH_SIZE: usize = 1000;

const HIGHEST_PROTOCOL: u8 = 5;

/// Pickle opcodes (the names are those of Python's `pickletools`).
mod op {
    pub(super) const MARK: u8 = b'(';
    pub(super) const STOP: u8 = b'.';
    pub(super) const POP: u8 = b'0';
    pub(super) const POP_MARK: u8 = b'1';
    pub(super) const DUP: u8 = b'2';
    pub(super) const FLOAT: u8 = b'F';
    pub(super) const INT: u8 = b'I';
    pub(super) const BININT: u8 = b'J';
    pub(super) const BININT1: u8 = b'K';
    pub(super) const LONG: u8 = b'L';
    pub(super) const BININT2: u8 = b'M';
    pub(super) const NONE: u8 = b'N';
    pub(super) const PERSID: u8 = b'P';
    pub(super) const BINPERSID: u8 = b'Q';
    pub(super) const REDUCE: u8 = b'R';
    pub(super) const STRING: u8 = b'S';
    pub(super) const BINSTRING: u8 = b'T';
    pub(super) const SHORT_BINSTRING: u8 = b'U';
    pub(super) const UNICODE: u8 = b'V';
    pub(super) const BINUNICODE: u8 = b'X';
    pub(super) const APPEND: u8 = b'a';
    pub(super) const BUILD: u8 = b'b';
    pub(super) const GLOBAL: u8 = b'c';
    pub(super) const DICT: u8 = b'd';
    pub(super) const EMPTY_DICT: u8 = b'}';
    pub(super) const APPENDS: u8 = b'e';
    pub(super) const GET: u8 = b'g';
    pub(super) const BINGET: u8 = b'h';
    pub(super) const INST: u8 = b'i';
    pub(super) const LONG_BINGET: u8 = b'j';
    pub(super) const LIST: u8 = b'l';
    pub(super) const EMPTY_LIST: u8 = b']';
    pub(super) const OBJ: u8 = b'o';
    pub(super) const PUT: u8 = b'p';
    pub(super) const BINPUT: u8 = b'q';
    pub(super) const LONG_BINPUT: u8 = b'r';
    pub(super) const SETITEM: u8 = b's';
    pub(super) const TUPLE: u8 = b't';
    pub(super) const EMPTY_TUPLE: u8 = b')';
    pub(super) const SETITEMS: u8 = b'u';
    pub(super) const BINFLOAT: u8 = b'G';
    pub(super) const PROTO: u8 = 0x80;
    pub(super) const NEWOBJ: u8 = 0x81;
    pub(super) const EXT1: u8 = 0x82;
    pub(super) const EXT2: u8 = 0x83;
    pub(super) const EXT4: u8 = 0x84;
    pub(super) const TUPLE1: u8 = 0x85;
    pub(super) const TUPLE2: u8 = 0x86;
    pub(super) const TUPLE3: u8 = 0x87;
    pub(super) const NEWTRUE: u8 = 0x88;
    pub(super) const NEWFALSE: u8 = 0x89;
    pub(super) const LONG1: u8 = 0x8a;
    pub(super) const LONG4: u8 = 0x8b;
    pub(super) const BINBYTES: u8 = b'B';
    pub(super) const SHORT_BINBYTES: u8 = b'C';
    pub(super) const SHORT_BINUNICODE: u8 = 0x8c;
    pub(super) const BINUNICODE8: u8 = 0x8d;
    pub(super) const BINBYTES8: u8 = 0x8e;
    pub(super) const EMPTY_SET: u8 = 0x8f;
    pub(super) const ADDITEMS: u8 = 0x90;
    pub(super) const FROZENSET: u8 = 0x91;
    pub(super) const NEWOBJ_EX: u8 = 0x92;
    pub(super) const STACK_GLOBAL: u8 = 0x93;
    pub(super) const MEMOIZE: u8 = 0x94;
    pub(super) const FRAME: u8 = 0x95;
    pub(super) const BYTEARRAY8: u8 = 0x96;
    pub(super) const NEXT_BUFFER: u8 = 0x97;
    pub(super) const READONLY_BUFFER: u8 = 0x98;
}

/// The name of an opcode this decoder refuses because it builds something other than plain
/// data (objects, globals, sets, out-of-band buffers, persistent ids).
fn refused_opcode_name(code: u8) -> Option<&'static str> {
    Some(match code {
        op::PERSID => "PERSID",
        op::BINPERSID => "BINPERSID",
        op::REDUCE => "REDUCE",
        op::BUILD => "BUILD",
        op::GLOBAL => "GLOBAL",
        op::INST => "INST",
        op::OBJ => "OBJ",
        op::NEWOBJ => "NEWOBJ",
        op::NEWOBJ_EX => "NEWOBJ_EX",
        op::EXT1 => "EXT1",
        op::EXT2 => "EXT2",
        op::EXT4 => "EXT4",
        op::STACK_GLOBAL => "STACK_GLOBAL",
        op::EMPTY_SET => "EMPTY_SET",
        op::ADDITEMS => "ADDITEMS",
        op::FROZENSET => "FROZENSET",
        op::NEXT_BUFFER => "NEXT_BUFFER",
        op::READONLY_BUFFER => "READONLY_BUFFER",
        _ => return None,
    })
}

/// Python's pickle format for plain data ([`Value`]): EasyNetwork's `PickleSerializer`.
///
/// A one-shot serializer: one packet is one pickle. On streams, wrap it (base64, or a
/// compressor), as EasyNetwork requires.
///
/// # Encoding
///
/// The output is what CPython 3.11 to 3.13 write with `pickle.dumps(obj, protocol)` for the
/// corresponding Python object (protocol 4 by default, Python's `DEFAULT_PROTOCOL` there;
/// 5 is Python 3.14's default): the same opcodes, the same memo entries, `FRAME`s cut at the
/// same places, `APPENDS` and `SETITEMS` in batches of 1000. [`Value::List`] becomes a `list`,
/// [`Value::Map`] a `dict` (a list used as a map key becomes a `tuple`, as Python keys must
/// be hashable; a map as a key is an error), [`Value::Bytes`] `bytes`, [`Value::Str`] `str`.
///
/// The bytes are identical to Python's unless the Python object holds the *same* object
/// twice: Python then writes a memo reference (`BINGET`) the second time, while a [`Value`]
/// has no identity, so the data is written again. Python shares the empty string, one-character
/// strings below U+0100, and empty and one-byte byte strings (they are singletons in CPython),
/// and this encoder reproduces that; other sharing (for example the keys `json.loads` reuses
/// across objects) decodes to equal values but not equal bytes. One deliberate difference:
/// with protocol 2, Python pickles `bytes` as a call to `_codecs.encode`, which this crate's
/// decoder (like any safe unpickler) refuses; this encoder writes the protocol 3 byte-string
/// opcodes instead, which every Python 3 unpickler reads.
///
/// # Decoding
///
/// Every opcode of protocols 0 to 5 that plain data uses is read; tuples become
/// [`Value::List`], `bytearray` becomes [`Value::Bytes`], and Python 2 byte strings (`STRING`,
/// `BINSTRING`, `SHORT_BINSTRING`) are decoded as UTF-8 text, as EasyNetwork's default
/// unpickler (`encoding="utf-8"`) does; bytes that are not UTF-8 are an error. Map keys follow
/// Python's dict rules: keys must be hashable (no lists or maps), and equal keys (`1`, `1.0`
/// and `True` are equal) keep the first key's position and the last value. Integers must fit
/// in an `i128`, text must be valid Unicode (no lone surrogates).
///
/// Opcodes that reference Python code or objects (`GLOBAL`, `STACK_GLOBAL`, `REDUCE`, `BUILD`,
/// `INST`, `OBJ`, `NEWOBJ`, `NEWOBJ_EX`, `EXT1/2/4`, `PERSID`, `BINPERSID`), sets and
/// out-of-band buffers are refused with an [`Invalid`](DeserializeErrorKind::Invalid) error
/// naming the opcode. A pickle cut short is [`Incomplete`](DeserializeErrorKind::Incomplete);
/// bytes after `STOP` are [`TrailingData`](DeserializeErrorKind::TrailingData).
///
/// Hostile input is bounded: nothing is allocated from an announced length beyond the bytes
/// present; lists and maps nest at most 256 deep; a cyclic structure is refused; and since
/// memo references can repeat a structure many times, a pickle of `n` bytes may expand to at
/// most `16 × n + 1024` values and `64 × n + 65536` bytes of string content, beyond which it
/// is refused as [`Invalid`](DeserializeErrorKind::Invalid). The memo holds at most one entry
/// per input opcode.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{DatagramSerializer, PickleSerializer, Value};
///
/// let s = PickleSerializer::new();
/// let packet = Value::Map(vec![(Value::from("data"), Value::Int(42))]);
/// let mut wire = BytesMut::new();
/// s.serialize(&packet, &mut wire).unwrap();
/// // Python: pickle.dumps({"data": 42}, protocol=4)
/// assert_eq!(&wire[..], b"\x80\x04\x95\x0d\0\0\0\0\0\0\0}\x94\x8c\x04data\x94K*s.");
/// assert_eq!(s.deserialize(&wire).unwrap(), packet);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickleSerializer {
    protocol: u8,
}

impl Default for PickleSerializer {
    fn default() -> Self {
        Self::new()
    }
}

impl PickleSerializer {
    /// The protocol `new` uses: 4, Python's `pickle.DEFAULT_PROTOCOL` from 3.8 to 3.13.
    pub const DEFAULT_PROTOCOL: u8 = 4;

    /// Pickles with protocol 4.
    pub fn new() -> Self {
        Self {
            protocol: Self::DEFAULT_PROTOCOL,
        }
    }

    /// Sets the protocol used to encode, 2 to 5 (the decoder reads all protocols). Fails
    /// outside that range.
    pub fn with_protocol(mut self, protocol: u8) -> Result<Self, SerializeError> {
        if !(2..=HIGHEST_PROTOCOL).contains(&protocol) {
            return Err(SerializeError::new(format!(
                "pickle protocol {protocol} is not supported for encoding (use 2 to 5)"
            )));
        }
        self.protocol = protocol;
        Ok(self)
    }

    /// The protocol used to encode.
    pub fn protocol(&self) -> u8 {
        self.protocol
    }
}

impl DatagramSerializer for PickleSerializer {
    type Sent = Value;
    type Received = Value;

    fn serialize(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| {
            dst.extend_from_slice(&[op::PROTO, self.protocol]);
            let mut encoder = Encoder {
                out: dst,
                protocol: self.protocol,
                framing: self.protocol >= 4,
                frame_start: None,
                memo_len: 0,
                singletons: HashMap::new(),
            };
            encoder.save(packet, 0)?;
            encoder.write(&[op::STOP]);
            encoder.commit_frame();
            Ok(())
        })
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Value, DeserializeError> {
        let mut machine = Machine::new(datagram);
        let root = machine.run()?;
        let rest = datagram.len() - machine.pos;
        if rest > 0 {
            return Err(DeserializeError::new(
                DeserializeErrorKind::TrailingData,
                format!("extra data caught: {rest} bytes after the pickle's STOP opcode"),
            ));
        }
        machine.materialize(root)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

/// Objects CPython shares, so that a second occurrence is a memo reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Singleton {
    Str(Option<char>),
    Bytes(Option<u8>),
}

impl Singleton {
    fn of_str(s: &str) -> Option<Self> {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (None, _) => Some(Self::Str(None)),
            (Some(c), None) if u32::from(c) < 0x100 => Some(Self::Str(Some(c))),
            _ => None,
        }
    }

    fn of_bytes(b: &[u8]) -> Option<Self> {
        match b {
            [] => Some(Self::Bytes(None)),
            [byte] => Some(Self::Bytes(Some(*byte))),
            _ => None,
        }
    }
}

struct Encoder<'a> {
    out: &'a mut BytesMut,
    protocol: u8,
    framing: bool,
    /// Where the current frame's 9-byte header placeholder starts.
    frame_start: Option<usize>,
    memo_len: usize,
    singletons: HashMap<Singleton, usize>,
}

impl Encoder<'_> {
    /// Writes inside the current frame, opening one if needed.
    fn write(&mut self, data: &[u8]) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.out.len());
            self.out.extend_from_slice(&[0; FRAME_HEADER_SIZE]);
        }
        self.out.extend_from_slice(data);
    }

    /// Closes the current frame: fills its header in, or drops the header when the frame is
    /// shorter than 4 bytes.
    fn commit_frame(&mut self) {
        if let Some(start) = self.frame_start.take() {
            let body = start + FRAME_HEADER_SIZE;
            let len = self.out.len() - body;
            if len >= FRAME_SIZE_MIN {
                self.out[start] = op::FRAME;
                self.out[start + 1..body].copy_from_slice(&(len as u64).to_le_bytes());
            } else {
                self.out.copy_within(body.., start);
                self.out.truncate(start + len);
            }
        }
    }

    /// Before each object: closes the frame once it reached the target size.
    fn opcode_boundary(&mut self) {
        if let Some(start) = self.frame_start {
            if self.out.len() - start - FRAME_HEADER_SIZE >= FRAME_SIZE_TARGET {
                self.commit_frame();
            }
        }
    }

    /// Large strings go outside any frame, as CPython writes them.
    fn write_large(&mut self, header: &[u8], payload: &[u8]) {
        self.commit_frame();
        self.out.extend_from_slice(header);
        self.out.extend_from_slice(payload);
    }

    fn memoize(&mut self) -> Result<usize, SerializeError> {
        let index = self.memo_len;
        if self.protocol >= 4 {
            self.write(&[op::MEMOIZE]);
        } else if let Ok(small) = u8::try_from(index) {
            self.write(&[op::BINPUT, small]);
        } else {
            let index = u32::try_from(index)
                .map_err(|_| SerializeError::new("too many objects to pickle"))?;
            let mut code = [op::LONG_BINPUT, 0, 0, 0, 0];
            code[1..].copy_from_slice(&index.to_le_bytes());
            self.write(&code);
        }
        self.memo_len += 1;
        Ok(index)
    }

    fn memo_get(&mut self, index: usize) {
        match u8::try_from(index) {
            Ok(small) => self.write(&[op::BINGET, small]),
            Err(_) => {
                // Only indexes that were written are looked up, so they fit in 32 bits.
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                let mut code = [op::LONG_BINGET, 0, 0, 0, 0];
                code[1..].copy_from_slice(&index.to_le_bytes());
                self.write(&code);
            }
        }
    }

    fn enter(depth: usize) -> Result<usize, SerializeError> {
        if depth >= MAX_DEPTH {
            return Err(SerializeError::new(format!(
                "the packet nests lists and maps more than {MAX_DEPTH} deep"
            )));
        }
        Ok(depth + 1)
    }

    /// `depth` is the number of containers around `value`.
    fn save(&mut self, value: &Value, depth: usize) -> Result<(), SerializeError> {
        self.opcode_boundary();
        match value {
            Value::Null => self.write(&[op::NONE]),
            Value::Bool(true) => self.write(&[op::NEWTRUE]),
            Value::Bool(false) => self.write(&[op::NEWFALSE]),
            Value::Int(n) => self.save_int(*n),
            Value::Float(x) => {
                let mut code = [op::BINFLOAT, 0, 0, 0, 0, 0, 0, 0, 0];
                code[1..].copy_from_slice(&x.to_be_bytes());
                self.write(&code);
            }
            Value::Str(s) => self.save_text(s)?,
            Value::Bytes(b) => self.save_bytes(b)?,
            Value::List(items) => {
                let depth = Self::enter(depth)?;
                self.write(&[op::EMPTY_LIST]);
                self.memoize()?;
                if let [item] = items.as_slice() {
                    self.save(item, depth)?;
                    self.write(&[op::APPEND]);
                } else if items.len() > 1 {
                    for batch in items.chunks(BATCH_SIZE) {
                        self.write(&[op::MARK]);
                        for item in batch {
                            self.save(item, depth)?;
                        }
                        self.write(&[op::APPENDS]);
                    }
                }
            }
            Value::Map(entries) => {
                let depth = Self::enter(depth)?;
                self.write(&[op::EMPTY_DICT]);
                self.memoize()?;
                if let [(key, value)] = entries.as_slice() {
                    self.save_key(key, depth)?;
                    self.save(value, depth)?;
                    self.write(&[op::SETITEM]);
                } else if entries.len() > 1 {
                    // CPython ends a full batch with another (maybe empty) one.
                    let mut rest = entries.as_slice();
                    loop {
                        let (batch, tail) = rest.split_at(rest.len().min(BATCH_SIZE));
                        self.write(&[op::MARK]);
                        for (key, value) in batch {
                            self.save_key(key, depth)?;
                            self.save(value, depth)?;
                        }
                        self.write(&[op::SETITEMS]);
                        rest = tail;
                        if batch.len() < BATCH_SIZE {
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A dict key: lists become tuples (Python keys must be hashable).
    fn save_key(&mut self, key: &Value, depth: usize) -> Result<(), SerializeError> {
        match key {
            Value::List(items) => self.save_tuple(items, depth),
            Value::Map(_) => Err(SerializeError::new(
                "a map cannot be a map key: Python dict keys must be hashable",
            )),
            other => self.save(other, depth),
        }
    }

    fn save_tuple(&mut self, items: &[Value], depth: usize) -> Result<(), SerializeError> {
        self.opcode_boundary();
        let depth = Self::enter(depth)?;
        if items.is_empty() {
            self.write(&[op::EMPTY_TUPLE]);
            return Ok(());
        }
        let short = items.len() <= 3;
        if !short {
            self.write(&[op::MARK]);
        }
        for item in items {
            self.save_key(item, depth)?;
        }
        self.write(&[match items.len() {
            1 => op::TUPLE1,
            2 => op::TUPLE2,
            3 => op::TUPLE3,
            _ => op::TUPLE,
        }]);
        self.memoize()?;
        Ok(())
    }

    fn save_int(&mut self, n: i128) {
        if let Ok(small) = u8::try_from(n) {
            self.write(&[op::BININT1, small]);
        } else if let Ok(short) = u16::try_from(n) {
            let [a, b] = short.to_le_bytes();
            self.write(&[op::BININT2, a, b]);
        } else if let Ok(int) = i32::try_from(n) {
            let [a, b, c, d] = int.to_le_bytes();
            self.write(&[op::BININT, a, b, c, d]);
        } else {
            // Shortest two's complement, little-endian.
            let bytes = n.to_le_bytes();
            let mut len = bytes.len();
            while len > 1 {
                let (last, before) = (bytes[len - 1], bytes[len - 2]);
                if (last == 0 && before & 0x80 == 0) || (last == 0xff && before & 0x80 != 0) {
                    len -= 1;
                } else {
                    break;
                }
            }
            let mut code = Vec::with_capacity(len + 2);
            code.extend_from_slice(&[op::LONG1, len as u8]);
            code.extend_from_slice(&bytes[..len]);
            self.write(&code);
        }
    }

    /// Writes a length-prefixed string opcode: the short form when it applies, the 8-byte
    /// form beyond 4 GiB (protocol 4), large payloads outside frames.
    fn save_sized(
        &mut self,
        data: &[u8],
        short: (u8, bool),
        long: u8,
        long8: u8,
        what: &str,
    ) -> Result<(), SerializeError> {
        let n = data.len();
        if let (Ok(len), (short_code, true)) = (u8::try_from(n), short) {
            self.write(&[short_code, len]);
            self.write(data);
        } else if let Ok(len) = u32::try_from(n) {
            let mut header = [long, 0, 0, 0, 0];
            header[1..].copy_from_slice(&len.to_le_bytes());
            if n >= FRAME_SIZE_TARGET {
                self.write_large(&header, data);
            } else {
                self.write(&header);
                self.write(data);
            }
        } else if self.protocol >= 4 {
            let mut header = [long8, 0, 0, 0, 0, 0, 0, 0, 0];
            header[1..].copy_from_slice(&(n as u64).to_le_bytes());
            self.write_large(&header, data);
        } else {
            return Err(SerializeError::new(format!(
                "cannot pickle {what} larger than 4 GiB with protocol {}",
                self.protocol
            )));
        }
        Ok(())
    }

    fn save_text(&mut self, s: &str) -> Result<(), SerializeError> {
        let singleton = Singleton::of_str(s);
        if let Some(&index) = singleton.as_ref().and_then(|k| self.singletons.get(k)) {
            self.memo_get(index);
            return Ok(());
        }
        let short = (op::SHORT_BINUNICODE, self.protocol >= 4);
        self.save_sized(
            s.as_bytes(),
            short,
            op::BINUNICODE,
            op::BINUNICODE8,
            "a string",
        )?;
        let index = self.memoize()?;
        if let Some(key) = singleton {
            self.singletons.insert(key, index);
        }
        Ok(())
    }

    fn save_bytes(&mut self, b: &[u8]) -> Result<(), SerializeError> {
        let singleton = Singleton::of_bytes(b);
        if let Some(&index) = singleton.as_ref().and_then(|k| self.singletons.get(k)) {
            self.memo_get(index);
            return Ok(());
        }
        let short = (op::SHORT_BINBYTES, true);
        self.save_sized(b, short, op::BINBYTES, op::BINBYTES8, "a byte string")?;
        let index = self.memoize()?;
        if let Some(key) = singleton {
            self.singletons.insert(key, index);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

/// A stack or memo slot: a scalar, or an object in the arena (objects have identity, as in
/// Python: the memo refers to the object, which may still grow).
#[derive(Debug, Clone, Copy)]
enum Ref {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Node(usize),
}

/// The identity of a dict key under Python's equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    None,
    /// Integers, booleans and floats with an integral value (`1 == 1.0 == True`).
    Int(i128),
    Float(u64),
    Str(usize),
    Bytes(usize),
    Tuple(usize),
    /// A NaN: equal to no other key.
    Unique(usize),
}

#[derive(Debug)]
enum Node {
    Str(String),
    Bytes {
        data: Vec<u8>,
        mutable: bool,
    },
    List(Vec<Ref>),
    /// `key` is the tuple's dict-key identity when all its items are hashable.
    Tuple {
        items: Vec<Ref>,
        key: Option<Key>,
    },
    Dict {
        entries: Vec<(Ref, Ref)>,
        index: HashMap<Key, usize>,
    },
}

impl Node {
    fn type_name(&self) -> &'static str {
        match self {
            Node::Str(_) => "str",
            Node::Bytes { mutable: false, .. } => "bytes",
            Node::Bytes { mutable: true, .. } => "bytearray",
            Node::List(_) => "list",
            Node::Tuple { .. } => "tuple",
            Node::Dict { .. } => "dict",
        }
    }
}

fn truncated() -> DeserializeError {
    DeserializeError::new(
        DeserializeErrorKind::Incomplete,
        "pickle data was truncated",
    )
}

fn underflow() -> DeserializeError {
    DeserializeError::invalid("unpickling stack underflow")
}

fn invalid(message: impl Into<String>) -> DeserializeError {
    DeserializeError::invalid(message)
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    stack: Vec<Ref>,
    marks: Vec<usize>,
    memo: HashMap<u64, Ref>,
    nodes: Vec<Node>,
    /// Dict-key identities of string and byte-string contents.
    texts: HashMap<Box<[u8]>, usize>,
    blobs: HashMap<Box<[u8]>, usize>,
    tuples: HashMap<Box<[Key]>, usize>,
    /// Cache of the key identity of string nodes already used as keys.
    node_keys: HashMap<usize, Key>,
    uniques: usize,
}

impl<'a> Machine<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            nodes: Vec::new(),
            texts: HashMap::new(),
            blobs: HashMap::new(),
            tuples: HashMap::new(),
            node_keys: HashMap::new(),
            uniques: 0,
        }
    }

    // --- input ---

    fn take(&mut self, n: usize) -> Result<&'a [u8], DeserializeError> {
        let input: &'a [u8] = self.input;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= input.len())
            .ok_or_else(truncated)?;
        let data = &input[self.pos..end];
        self.pos = end;
        Ok(data)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DeserializeError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn byte(&mut self) -> Result<u8, DeserializeError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// A length read from the input; lengths beyond the address space cannot be present.
    fn take_len(&mut self, len: u64) -> Result<&'a [u8], DeserializeError> {
        self.take(usize::try_from(len).map_err(|_| truncated())?)
    }

    /// A line, without its `\n`.
    fn line(&mut self) -> Result<&'a [u8], DeserializeError> {
        let input: &'a [u8] = self.input;
        let rest = &input[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(truncated)?;
        let line = &rest[..n];
        self.pos += n + 1;
        Ok(line)
    }

    // --- stack ---

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, r: Ref) {
        self.stack.push(r);
    }

    fn push_node(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(Ref::Node(self.nodes.len() - 1));
    }

    fn pop(&mut self) -> Result<Ref, DeserializeError> {
        if self.stack.len() <= self.fence() {
            return Err(underflow());
        }
        self.stack.pop().ok_or_else(underflow)
    }

    fn top(&self) -> Result<Ref, DeserializeError> {
        if self.stack.len() <= self.fence() {
            return Err(underflow());
        }
        self.stack.last().copied().ok_or_else(underflow)
    }

    fn pop_mark(&mut self) -> Result<usize, DeserializeError> {
        self.marks
            .pop()
            .ok_or_else(|| invalid("could not find MARK"))
    }

    /// The items above the last mark, and the mark removed.
    fn pop_to_mark(&mut self) -> Result<Vec<Ref>, DeserializeError> {
        let mark = self.pop_mark()?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    // --- values ---

    fn text(&mut self, data: &[u8], opcode: &str) -> Result<(), DeserializeError> {
        let text = std::str::from_utf8(data).map_err(|e| {
            invalid(format!("{opcode}: the text is not valid UTF-8")).with_source(e)
        })?;
        self.push_node(Node::Str(text.to_owned()));
        Ok(())
    }

    fn bytes(&mut self, data: &[u8], mutable: bool) {
        self.push_node(Node::Bytes {
            data: data.to_vec(),
            mutable,
        });
    }

    fn int(&mut self, n: Option<i128>, opcode: &str) -> Result<(), DeserializeError> {
        let n = n.ok_or_else(|| {
            invalid(format!(
                "{opcode}: not an integer, or beyond the 128-bit range"
            ))
        })?;
        self.push(Ref::Int(n));
        Ok(())
    }

    /// The dict-key identity of a value; an error for unhashable values.
    fn key_of(&mut self, r: Ref) -> Result<Key, DeserializeError> {
        Ok(match r {
            Ref::None => Key::None,
            Ref::Bool(b) => Key::Int(i128::from(b)),
            Ref::Int(n) => Key::Int(n),
            Ref::Float(x) if x.is_nan() => {
                self.uniques += 1;
                Key::Unique(self.uniques)
            }
            Ref::Float(x) => {
                // 2^127 is exactly representable; integral floats inside the i128 range
                // equal that integer, as in Python.
                const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
                if x.fract() == 0.0 && (-LIMIT..LIMIT).contains(&x) {
                    Key::Int(x as i128)
                } else {
                    Key::Float(x.to_bits())
                }
            }
            Ref::Node(i) => {
                if let Some(&key) = self.node_keys.get(&i) {
                    return Ok(key);
                }
                let key = match &self.nodes[i] {
                    Node::Str(s) => {
                        let next = self.texts.len();
                        Key::Str(*self.texts.entry(s.as_bytes().into()).or_insert(next))
                    }
                    Node::Bytes {
                        data,
                        mutable: false,
                    } => {
                        let next = self.blobs.len();
                        Key::Bytes(*self.blobs.entry(data.as_slice().into()).or_insert(next))
                    }
                    Node::Tuple { key: Some(key), .. } => return Ok(*key),
                    other => {
                        let name = other.type_name();
                        return Err(invalid(format!(
                            "unhashable type: '{name}' cannot be a dict key"
                        )));
                    }
                };
                self.node_keys.insert(i, key);
                key
            }
        })
    }

    fn push_tuple(&mut self, items: Vec<Ref>) {
        let mut keys = Vec::with_capacity(items.len());
        for &item in &items {
            match self.key_of(item) {
                Ok(key) => keys.push(key),
                Err(_) => break,
            }
        }
        let key = (keys.len() == items.len()).then(|| {
            let next = self.tuples.len();
            Key::Tuple(*self.tuples.entry(keys.into_boxed_slice()).or_insert(next))
        });
        self.push_node(Node::Tuple { items, key });
    }

    /// Appends `items` to the list at stack position `at`.
    fn append_to(&mut self, at: usize, items: Vec<Ref>) -> Result<(), DeserializeError> {
        let target = self.stack.get(at).copied().ok_or_else(underflow)?;
        match target {
            Ref::Node(i) => match &mut self.nodes[i] {
                Node::List(list) => {
                    list.extend(items);
                    Ok(())
                }
                other => Err(invalid(format!(
                    "cannot append to a '{}'",
                    other.type_name()
                ))),
            },
            _ => Err(invalid("cannot append to a scalar")),
        }
    }

    /// Sets key/value pairs into the dict node `dict`.
    fn set_items(&mut self, dict: Ref, items: Vec<Ref>) -> Result<(), DeserializeError> {
        let Ref::Node(d) = dict else {
            return Err(invalid("cannot set items on a scalar"));
        };
        if !matches!(self.nodes[d], Node::Dict { .. }) {
            let name = self.nodes[d].type_name();
            return Err(invalid(format!("cannot set items on a '{name}'")));
        }
        for pair in items.chunks_exact(2) {
            let (key_ref, value) = (pair[0], pair[1]);
            let key = self.key_of(key_ref)?;
            if let Node::Dict { entries, index } = &mut self.nodes[d] {
                match index.get(&key) {
                    Some(&at) => entries[at].1 = value,
                    None => {
                        index.insert(key, entries.len());
                        entries.push((key_ref, value));
                    }
                }
            }
        }
        Ok(())
    }

    /// The container that APPENDS, SETITEMS (at `x`, the popped mark) or APPEND, SETITEM
    /// (at `len - 1`, `len - 2`) add to is at `x - 1`; the items are above `x`.
    fn check_target(&self, x: usize) -> Result<bool, DeserializeError> {
        if x > self.stack.len() || x <= self.fence() {
            return Err(underflow());
        }
        Ok(x < self.stack.len())
    }

    fn memo_put(&mut self, index: u64) -> Result<(), DeserializeError> {
        let top = self.top()?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn memo_get(&mut self, index: u64) -> Result<(), DeserializeError> {
        let r = self
            .memo
            .get(&index)
            .copied()
            .ok_or_else(|| invalid(format!("memo value not found at index {index}")))?;
        self.push(r);
        Ok(())
    }

    /// Runs the opcodes up to STOP; returns the object on top of the stack.
    fn run(&mut self) -> Result<Ref, DeserializeError> {
        loop {
            let code = self.byte()?;
            match code {
                op::PROTO => {
                    let version = self.byte()?;
                    if version > HIGHEST_PROTOCOL {
                        return Err(invalid(format!("unsupported pickle protocol: {version}")));
                    }
                }
                op::FRAME => {
                    let len = u64::from_le_bytes(self.take_array()?);
                    let present = (self.input.len() - self.pos) as u64;
                    if len > present {
                        return Err(truncated());
                    }
                }
                op::STOP => return self.pop(),
                op::MARK => self.marks.push(self.stack.len()),
                op::POP => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                op::POP_MARK => {
                    self.pop_to_mark()?;
                }
                op::DUP => {
                    let top = self.top()?;
                    self.push(top);
                }
                op::NONE => self.push(Ref::None),
                op::NEWTRUE => self.push(Ref::Bool(true)),
                op::NEWFALSE => self.push(Ref::Bool(false)),
                op::INT => match self.line()? {
                    b"00" => self.push(Ref::Bool(false)),
                    b"01" => self.push(Ref::Bool(true)),
                    line => self.int(parse_int(line, true), "INT")?,
                },
                op::BININT => {
                    let n = i32::from_le_bytes(self.take_array()?);
                    self.push(Ref::Int(n.into()));
                }
                op::BININT1 => {
                    let n = self.byte()?;
                    self.push(Ref::Int(n.into()));
                }
                op::BININT2 => {
                    let n = u16::from_le_bytes(self.take_array()?);
                    self.push(Ref::Int(n.into()));
                }
                op::LONG => {
                    let line = self.line()?;
                    let digits = line.strip_suffix(b"L").unwrap_or(line);
                    self.int(parse_int(digits, true), "LONG")?;
                }
                op::LONG1 => {
                    let n = self.byte()?;
                    let data = self.take(n.into())?;
                    self.int(decode_long(data), "LONG1")?;
                }
                op::LONG4 => {
                    let n = i32::from_le_bytes(self.take_array()?);
                    let n = usize::try_from(n)
                        .map_err(|_| invalid("LONG pickle has negative byte count"))?;
                    let data = self.take(n)?;
                    self.int(decode_long(data), "LONG4")?;
                }
                op::FLOAT => {
                    let line = self.line()?;
                    let x = parse_float(line)
                        .ok_or_else(|| invalid("FLOAT: could not convert string to float"))?;
                    self.push(Ref::Float(x));
                }
                op::BINFLOAT => {
                    let x = f64::from_be_bytes(self.take_array()?);
                    self.push(Ref::Float(x));
                }
                op::STRING => {
                    let line = self.line()?;
                    let quoted = match line {
                        [q @ (b'\'' | b'"'), inner @ .., last] if q == last => inner,
                        _ => return Err(invalid("the STRING opcode argument must be quoted")),
                    };
                    let data =
                        unescape_bytes(quoted).map_err(|e| invalid(format!("STRING: {e}")))?;
                    self.text(&data, "STRING")?;
                }
                op::BINSTRING => {
                    let n = i32::from_le_bytes(self.take_array()?);
                    let n = usize::try_from(n)
                        .map_err(|_| invalid("BINSTRING pickle has negative byte count"))?;
                    let data = self.take(n)?;
                    self.text(data, "BINSTRING")?;
                }
                op::SHORT_BINSTRING => {
                    let n = self.byte()?;
                    let data = self.take(n.into())?;
                    self.text(data, "SHORT_BINSTRING")?;
                }
                op::UNICODE => {
                    let line = self.line()?;
                    let text = decode_raw_unicode_escape(line)
                        .map_err(|e| invalid(format!("UNICODE: {e}")))?;
                    self.push_node(Node::Str(text));
                }
                op::BINUNICODE => {
                    let n = u32::from_le_bytes(self.take_array()?);
                    let data = self.take_len(n.into())?;
                    self.text(data, "BINUNICODE")?;
                }
                op::SHORT_BINUNICODE => {
                    let n = self.byte()?;
                    let data = self.take(n.into())?;
                    self.text(data, "SHORT_BINUNICODE")?;
                }
                op::BINUNICODE8 => {
                    let n = u64::from_le_bytes(self.take_array()?);
                    let data = self.take_len(n)?;
                    self.text(data, "BINUNICODE8")?;
                }
                op::BINBYTES => {
                    let n = u32::from_le_bytes(self.take_array()?);
                    let data = self.take_len(n.into())?;
                    self.bytes(data, false);
                }
                op::SHORT_BINBYTES => {
                    let n = self.byte()?;
                    let data = self.take(n.into())?;
                    self.bytes(data, false);
                }
                op::BINBYTES8 | op::BYTEARRAY8 => {
                    let n = u64::from_le_bytes(self.take_array()?);
                    let data = self.take_len(n)?;
                    self.bytes(data, code == op::BYTEARRAY8);
                }
                op::EMPTY_LIST => self.push_node(Node::List(Vec::new())),
                op::LIST => {
                    let items = self.pop_to_mark()?;
                    self.push_node(Node::List(items));
                }
                op::APPEND => {
                    let x = self.stack.len().checked_sub(1).ok_or_else(underflow)?;
                    if self.check_target(x)? {
                        let items = self.stack.split_off(x);
                        self.append_to(x - 1, items)?;
                    }
                }
                op::APPENDS => {
                    let x = self.pop_mark()?;
                    if self.check_target(x)? {
                        let items = self.stack.split_off(x);
                        self.append_to(x - 1, items)?;
                    }
                }
                op::EMPTY_TUPLE => self.push_tuple(Vec::new()),
                op::TUPLE => {
                    let items = self.pop_to_mark()?;
                    self.push_tuple(items);
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = usize::from(code - op::TUPLE1) + 1;
                    let start = self.stack.len().checked_sub(n).ok_or_else(underflow)?;
                    if start < self.fence() {
                        return Err(underflow());
                    }
                    let items = self.stack.split_off(start);
                    self.push_tuple(items);
                }
                op::EMPTY_DICT => {
                    self.push_node(Node::Dict {
                        entries: Vec::new(),
                        index: HashMap::new(),
                    });
                }
                op::DICT => {
                    let items = self.pop_to_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(invalid("odd number of items for DICT"));
                    }
                    self.push_node(Node::Dict {
                        entries: Vec::new(),
                        index: HashMap::new(),
                    });
                    let dict = self.top()?;
                    self.set_items(dict, items)?;
                }
                op::SETITEM | op::SETITEMS => {
                    let x = if code == op::SETITEM {
                        self.stack.len().checked_sub(2).ok_or_else(underflow)?
                    } else {
                        self.pop_mark()?
                    };
                    if self.check_target(x)? {
                        if (self.stack.len() - x) % 2 != 0 {
                            return Err(invalid("odd number of items for SETITEMS"));
                        }
                        let items = self.stack.split_off(x);
                        let dict = self.stack[x - 1];
                        self.set_items(dict, items)?;
                    }
                }
                op::PUT => {
                    let line = self.line()?;
                    let index = parse_index(line).ok_or_else(|| invalid("PUT: bad memo index"))?;
                    self.memo_put(index)?;
                }
                op::BINPUT => {
                    let index = self.byte()?;
                    self.memo_put(index.into())?;
                }
                op::LONG_BINPUT => {
                    let index = u32::from_le_bytes(self.take_array()?);
                    self.memo_put(index.into())?;
                }
                op::MEMOIZE => {
                    let index = self.memo.len() as u64;
                    self.memo_put(index)?;
                }
                op::GET => {
                    let line = self.line()?;
                    let index = parse_index(line).ok_or_else(|| invalid("GET: bad memo index"))?;
                    self.memo_get(index)?;
                }
                op::BINGET => {
                    let index = self.byte()?;
                    self.memo_get(index.into())?;
                }
                op::LONG_BINGET => {
                    let index = u32::from_le_bytes(self.take_array()?);
                    self.memo_get(index.into())?;
                }
                other => {
                    return Err(match refused_opcode_name(other) {
                        Some(name) => invalid(format!(
                            "unsupported pickle opcode {name}: only plain data is accepted"
                        )),
                        None => invalid(format!("invalid pickle opcode 0x{other:02x}")),
                    })
                }
            }
        }
    }

    /// Builds the [`Value`] tree of `root`, without recursion, enforcing the depth and
    /// expansion limits and refusing cycles.
    fn materialize(&self, root: Ref) -> Result<Value, DeserializeError> {
        struct Frame {
            node: usize,
            next: usize,
            items: Vec<Value>,
        }
        let n = self.input.len();
        let max_values = n
            .saturating_mul(VALUES_PER_BYTE)
            .saturating_add(VALUES_BASE);
        let max_content = n
            .saturating_mul(CONTENT_PER_BYTE)
            .saturating_add(CONTENT_BASE);
        let mut values = 0usize;
        let mut content = 0usize;
        let mut on_path = vec![false; self.nodes.len()];
        let mut frames: Vec<Frame> = Vec::new();
        let mut next = root;
        loop {
            values += 1;
            if values > max_values {
                return Err(invalid(format!(
                    "the pickle ({n} bytes) expands to more than {max_values} values: \
                     refused as a memo amplification"
                )));
            }
            let mut done = match next {
                Ref::None => Some(Value::Null),
                Ref::Bool(b) => Some(Value::Bool(b)),
                Ref::Int(i) => Some(Value::Int(i)),
                Ref::Float(x) => Some(Value::Float(x)),
                Ref::Node(i) => {
                    let leaf = match &self.nodes[i] {
                        Node::Str(s) => Some((s.len(), Value::Str(s.clone()))),
                        Node::Bytes { data, .. } => Some((data.len(), Value::Bytes(data.clone()))),
                        _ => None,
                    };
                    match leaf {
                        Some((len, value)) => {
                            content = content.saturating_add(len);
                            if content > max_content {
                                return Err(invalid(format!(
                                    "the pickle ({n} bytes) expands to more than {max_content} \
                                     bytes of strings: refused as a memo amplification"
                                )));
                            }
                            Some(value)
                        }
                        None => {
                            if on_path[i] {
                                return Err(invalid(
                                    "the pickle holds a recursive structure, which plain data \
                                     cannot represent",
                                ));
                            }
                            if frames.len() >= MAX_DEPTH {
                                return Err(invalid(format!(
                                    "the pickle nests lists, tuples and dicts more than \
                                     {MAX_DEPTH} deep"
                                )));
                            }
                            on_path[i] = true;
                            frames.push(Frame {
                                node: i,
                                next: 0,
                                items: Vec::new(),
                            });
                            None
                        }
                    }
                }
            };
            // Hand finished values to their parents until one has a child left to build.
            loop {
                let Some(frame) = frames.last_mut() else {
                    return done.ok_or_else(|| invalid("empty pickle"));
                };
                if let Some(value) = done.take() {
                    frame.items.push(value);
                }
                if let Some(child) = self.child(frame.node, frame.next) {
                    frame.next += 1;
                    next = child;
                    break;
                }
                let Some(frame) = frames.pop() else { break };
                on_path[frame.node] = false;
                done = Some(if matches!(self.nodes[frame.node], Node::Dict { .. }) {
                    let mut items = frame.items.into_iter();
                    let mut entries = Vec::with_capacity(items.len() / 2);
                    while let (Some(key), Some(value)) = (items.next(), items.next()) {
                        entries.push((key, value));
                    }
                    Value::Map(entries)
                } else {
                    Value::List(frame.items)
                });
            }
        }
    }

    /// The `n`th child of a container node (dict entries count as key, value).
    fn child(&self, node: usize, n: usize) -> Option<Ref> {
        match &self.nodes[node] {
            Node::List(items) | Node::Tuple { items, .. } => items.get(n).copied(),
            Node::Dict { entries, .. } => entries
                .get(n / 2)
                .map(|&(k, v)| if n % 2 == 0 { k } else { v }),
            Node::Str(_) | Node::Bytes { .. } => None,
        }
    }
}

/// Two's complement, little-endian (LONG1, LONG4); `None` beyond the `i128` range.
fn decode_long(data: &[u8]) -> Option<i128> {
    let Some(&last) = data.last() else {
        return Some(0);
    };
    let negative = last & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    let mut le = [fill; 16];
    for (i, &b) in data.iter().enumerate() {
        match le.get_mut(i) {
            Some(slot) => *slot = b,
            None if b == fill => {}
            None => return None,
        }
    }
    let n = i128::from_le_bytes(le);
    (n.is_negative() == negative).then_some(n)
}

fn py_trim(text: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = text.iter().position(|b| !is_space(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &text[start..end]
}

/// Python's `int(text, 0)` (`prefixes`) or `int(text)`, restricted to the `i128` range.
fn parse_int(text: &[u8], prefixes: bool) -> Option<i128> {
    let text = py_trim(text);
    let (negative, text) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    let (radix, digits) = match text {
        [b'0', b'x' | b'X', rest @ ..] if prefixes => (16, rest),
        [b'0', b'o' | b'O', rest @ ..] if prefixes => (8, rest),
        [b'0', b'b' | b'B', rest @ ..] if prefixes => (2, rest),
        _ => (10, text),
    };
    // Underscores may separate digits, and follow a base prefix.
    let mut underscore_ok = radix != 10;
    let mut seen_digit = false;
    let mut magnitude: u128 = 0;
    for &c in digits {
        if c == b'_' {
            if !underscore_ok {
                return None;
            }
            underscore_ok = false;
            continue;
        }
        let digit = char::from(c).to_digit(radix)?;
        magnitude = magnitude
            .checked_mul(radix.into())?
            .checked_add(digit.into())?;
        seen_digit = true;
        underscore_ok = true;
    }
    if !seen_digit || digits.last() == Some(&b'_') {
        return None;
    }
    // `int("012", 0)` is an error in Python: only zeros may have leading zeros.
    if prefixes && radix == 10 && digits.len() > 1 && digits[0] == b'0' && magnitude != 0 {
        return None;
    }
    if negative {
        0i128.checked_sub_unsigned(magnitude)
    } else {
        i128::try_from(magnitude).ok()
    }
}

/// A memo index written in decimal (PUT, GET).
fn parse_index(text: &[u8]) -> Option<u64> {
    u64::try_from(parse_int(text, false)?).ok()
}

/// Python's `float(text)` for the forms `repr` writes (and `inf`/`nan` spellings).
fn parse_float(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(py_trim(text)).ok()?;
    let x: f64 = text.parse().ok()?;
    // Python raises OverflowError rather than rounding a finite literal to infinity.
    if x.is_infinite() && !text.to_ascii_lowercase().contains("inf") {
        return None;
    }
    Some(x)
}

/// Python's bytes escape decoding (`codecs.escape_decode`), for the STRING opcode.
fn unescape_bytes(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let escape = *text.get(i).ok_or("trailing \\ in string")?;
        i += 1;
        match escape {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(escape),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'r' => out.push(b'\r'),
            b'0'..=b'7' => {
                let mut value = u32::from(escape - b'0');
                for _ in 0..2 {
                    match text.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                // Python keeps the low byte of escapes beyond \377.
                out.push(value.to_le_bytes()[0]);
            }
            b'x' => {
                let hex = text.get(i..i + 2).ok_or("invalid \\x escape")?;
                let hex = std::str::from_utf8(hex).map_err(|_| "invalid \\x escape")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| "invalid \\x escape")?);
                i += 2;
            }
            other => out.extend_from_slice(&[b'\\', other]),
        }
    }
    Ok(out)
}

/// Python's `raw-unicode-escape` decoding, for the UNICODE opcode: bytes are Latin-1
/// characters, except `\uXXXX` and `\UXXXXXXXX` after an odd number of backslashes.
fn decode_raw_unicode_escape(text: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        if c != b'\\' {
            out.push(char::from(c));
            i += 1;
            continue;
        }
        let start = i;
        while text.get(i) == Some(&b'\\') {
            out.push('\\');
            i += 1;
        }
        let digits = match text.get(i) {
            Some(b'u') => 4,
            Some(b'U') => 8,
            _ => continue,
        };
        if (i - start) % 2 == 0 {
            continue;
        }
        out.pop();
        i += 1;
        let hex = text
            .get(i..i + digits)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(if digits == 4 {
                "truncated \\uXXXX escape"
            } else {
                "truncated \\UXXXXXXXX escape"
            })?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| "bad escape")?;
        let ch = char::from_u32(code).ok_or_else(|| {
            format!("\\u{code:x} is a lone surrogate or beyond U+10FFFF: not representable")
        })?;
        out.push(ch);
        i += digits;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
