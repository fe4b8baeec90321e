//! The `encode` and `decode` verbs.

use std::io::{self, BufRead, BufWriter, Read, Write};
use std::process::ExitCode;

use bytes::BytesMut;
use clap::Args;
use packetwire::Value;

use crate::SerializerArgs;

/// Options of `packetwire decode`.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    #[command(flatten)]
    serializer: SerializerArgs,
    /// One datagram instead of a framed stream.
    #[arg(long)]
    datagram: bool,
}

/// Options of `packetwire encode`.
#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    #[command(flatten)]
    serializer: SerializerArgs,
    /// One datagram instead of a framed stream.
    #[arg(long)]
    datagram: bool,
}

fn print_packet(out: &mut impl Write, packet: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &packet.to_json())?;
    out.write_all(b"\n")
}

/// `packetwire decode`: bytes on stdin, one compact JSON line per packet on stdout. Bad packets
/// are reported on stderr and decoding goes on; the exit status says whether any failed.
pub(crate) fn decode(args: &DecodeArgs) -> Result<ExitCode, String> {
    let spec = args.serializer.spec();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut stdin = io::stdin().lock();
    let mut failures = 0usize;

    if args.datagram {
        let codec = spec.build_datagram().map_err(|e| e.to_string())?;
        let mut datagram = Vec::new();
        stdin
            .read_to_end(&mut datagram)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        match codec.deserialize(&datagram) {
            Ok(packet) => print_packet(&mut out, &packet).map_err(|e| e.to_string())?,
            Err(e) => {
                eprintln!("packetwire: datagram ({} bytes): {e}", datagram.len());
                failures += 1;
            }
        }
    } else {
        let codec = spec.build_stream().map_err(|e| e.to_string())?;
        let mut decoder = codec.decoder();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        // Bytes taken off the front of `buf` so far: the stream offset of `buf[0]`.
        let mut fed = 0usize;
        let mut index = 0usize;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut eof = false;
        while !eof {
            let n = stdin
                .read(&mut chunk)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            eof = n == 0;
            buf.extend_from_slice(&chunk[..n]);
            fed += n;
            loop {
                let offset = fed - buf.len();
                let result = if eof {
                    decoder.decode_eof(&mut buf)
                } else {
                    decoder.decode(&mut buf)
                };
                match result {
                    Ok(Some(packet)) => {
                        index += 1;
                        print_packet(&mut out, &packet).map_err(|e| e.to_string())?;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        index += 1;
                        failures += 1;
                        let after = if e.is_recoverable() {
                            "decoding goes on with the next packet"
                        } else {
                            "framing lost, decoding goes on with the following bytes"
                        };
                        eprintln!(
                            "packetwire: packet {index} at byte offset {offset}: {e} ({after})"
                        );
                    }
                }
            }
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    if failures > 0 {
        eprintln!("packetwire: {failures} packet(s) could not be decoded");
        Ok(ExitCode::FAILURE)
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// `packetwire encode`: JSON values on stdin, one per line, framed bytes on stdout.
pub(crate) fn encode(args: &EncodeArgs) -> Result<ExitCode, String> {
    let spec = args.serializer.spec();
    let stdin = io::stdin().lock();
    let mut values = Vec::new();
    let mut failures = 0usize;
    for (n, line) in stdin.lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line)
            .map_err(|e| e.to_string())
            .and_then(|json| Value::from_json(json).map_err(|e| e.to_string()))
        {
            Ok(value) => values.push((n + 1, value)),
            Err(e) => {
                eprintln!("packetwire: line {}: not a JSON value: {e}", n + 1);
                failures += 1;
            }
        }
    }

    let mut wire = BytesMut::new();
    if args.datagram {
        let codec = spec.build_datagram().map_err(|e| e.to_string())?;
        if values.len() != 1 || failures > 0 {
            return Err(format!(
                "--datagram takes exactly one JSON value, got {}",
                values.len() + failures
            ));
        }
        codec
            .serialize(&values[0].1, &mut wire)
            .map_err(|e| format!("line {}: {e}", values[0].0))?;
    } else {
        let codec = spec.build_stream().map_err(|e| e.to_string())?;
        for (line, value) in &values {
            if let Err(e) = codec.encode(value, &mut wire) {
                eprintln!("packetwire: line {line}: cannot encode packet: {e}");
                failures += 1;
            }
        }
    }
    let mut out = io::stdout().lock();
    out.write_all(&wire)
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    Ok(if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
