//! Test helper for `scripts/pickle_compat.py`: decodes pickles with [`PickleSerializer`] and
//! encodes the decoded value again.
//!
//! Each input line is `<protocol> <hex pickle>`. Each output line is `OK <hex>` (the value
//! re-encoded with that protocol) or `ERR <kind>: <message>` when decoding or encoding fails.

use std::io::{self, BufRead, Write};

use bytes::BytesMut;
use packetwire_proto::{DatagramSerializer, PickleSerializer};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let mut out = io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let Some((protocol, data)) = line.trim().split_once(' ') else {
            continue;
        };
        let (Ok(protocol), Some(data)) = (protocol.parse::<u8>(), unhex(data)) else {
            writeln!(out, "ERR input: bad line")?;
            continue;
        };
        let serializer = match PickleSerializer::new().with_protocol(protocol) {
            Ok(s) => s,
            Err(e) => {
                writeln!(out, "ERR protocol: {e}")?;
                continue;
            }
        };
        match serializer.deserialize(&data) {
            Err(e) => writeln!(out, "ERR {:?}: {e}", e.kind())?,
            Ok(value) => {
                let mut wire = BytesMut::new();
                match serializer.serialize(&value, &mut wire) {
                    Ok(()) => writeln!(out, "OK {}", hex(&wire))?,
                    Err(e) => writeln!(out, "ERR encode: {e}")?,
                }
            }
        }
    }
    out.flush()
}
