//! Golden vectors: bytes made by Python's EasyNetwork, checked in both directions.
//!
//! `tests/golden/vectors.json` is written by `scripts/golden/regenerate.sh` (EasyNetwork's own
//! serializer classes; see `scripts/golden/generate.py`). For every case this test builds the
//! codec through [`packetwire_proto::dynamic`] and checks that
//!
//! * (a) decoding Python's bytes, in one chunk and byte by byte, gives the case's packets
//!   (compared as [`Value`]s, floats bit for bit, map order included);
//! * (b) encoding the packets gives Python's bytes exactly when the case is `exact`, and otherwise
//!   bytes that decode back to the same packets;
//! * (c) every invalid input gives an error, then the packets EasyNetwork decodes after it;
//! * (d) the bytes Rust encoded are written to `$CARGO_TARGET_TMPDIR/golden-rust-output.json`
//!   (`target/tmp/` by default) for `scripts/golden/check_rust_output.sh`, which decodes them with
//!   EasyNetwork.
//!
//! Every mismatch is collected and reported at the end, with case names.
//!
//! While a serializer is still missing from `dynamic`, two environment variables help:
//! `PACKETWIRE_GOLDEN_FILTER=json,line/` runs only the cases whose name contains one of the
//! comma-separated strings, and `PACKETWIRE_GOLDEN_ALLOW_UNBUILT=1` skips (and lists) the cases
//! whose codec cannot be built instead of failing them. Without them every case is required.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use packetwire_proto::dynamic::{CodecSpec, DynDatagramCodec, DynStreamCodec};
use packetwire_proto::Value;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/vectors.json");
const OUTPUT_FILE: &str = "golden-rust-output.json";
const FILTER_VAR: &str = "PACKETWIRE_GOLDEN_FILTER";
const ALLOW_UNBUILT_VAR: &str = "PACKETWIRE_GOLDEN_ALLOW_UNBUILT";

/// A decoder that returns this many packets more than expected is assumed to be looping.
const EXTRA_PACKETS_LIMIT: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vectors {
    generator: Json,
    cases: Vec<Case>,
    invalid_cases: Vec<InvalidCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    serializer: String,
    wrap: Vec<String>,
    options: Map<String, Json>,
    mode: Mode,
    exact: bool,
    packets: Vec<Json>,
    bytes_hex: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidCase {
    name: String,
    serializer: String,
    wrap: Vec<String>,
    options: Map<String, Json>,
    mode: Mode,
    invalid_hex: String,
    expect: String,
    packets_after: Vec<Json>,
    note: String,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Stream,
    Datagram,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Stream => "stream",
            Mode::Datagram => "datagram",
        }
    }
}

/// What running one case found.
enum Outcome {
    /// Every check passed; the entry for `golden-rust-output.json`, if Rust encoded the packets.
    Passed(Option<Json>),
    /// The codec could not be built (only a failure without `PACKETWIRE_GOLDEN_ALLOW_UNBUILT`).
    Unbuilt(String),
    /// Checks failed; the entry for the output file if encoding itself worked.
    Failed(Vec<String>, Option<Json>),
}

// ---------------------------------------------------------------------------------------------
// Loading

fn load_vectors() -> Vectors {
    let text = match std::fs::read_to_string(VECTORS) {
        Ok(text) => text,
        Err(e) => panic!("cannot read {VECTORS}: {e} (run scripts/golden/regenerate.sh)"),
    };
    match serde_json::from_str(&text) {
        Ok(vectors) => vectors,
        Err(e) => panic!("{VECTORS} is not a golden-vector file: {e}"),
    }
}

struct Selection {
    filters: Vec<String>,
    allow_unbuilt: bool,
}

impl Selection {
    fn from_env() -> Self {
        let filters = std::env::var(FILTER_VAR)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let allow_unbuilt =
            std::env::var(ALLOW_UNBUILT_VAR).is_ok_and(|v| !v.is_empty() && v != "0");
        Self {
            filters,
            allow_unbuilt,
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

fn spec_for(
    serializer: &str,
    wrap: &[String],
    options: &Map<String, Json>,
) -> Result<CodecSpec, String> {
    let mut spec = CodecSpec::new(serializer);
    spec.wrap = wrap.to_vec();
    for (key, value) in options {
        match (key.as_str(), value) {
            ("newline", Json::String(s)) => spec.newline = Some(s.clone()),
            ("encoding", Json::String(s)) => spec.encoding = Some(s.clone()),
            ("limit", Json::Number(n)) => {
                let limit = n.as_u64().and_then(|n| usize::try_from(n).ok());
                spec.limit = Some(limit.ok_or_else(|| format!("bad limit option {n}"))?);
            }
            _ => return Err(format!("unknown option {key:?}: {value}")),
        }
    }
    Ok(spec)
}

fn packets_from_json(packets: &[Json]) -> Result<Vec<Value>, String> {
    packets
        .iter()
        .map(|p| {
            Value::from_json(p.clone()).map_err(|e| format!("bad packet {p} in the vectors: {e}"))
        })
        .collect()
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return Err(format!(
            "not an even-length ASCII hex string ({} characters)",
            hex.len()
        ));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| format!("bad hex at {i}: {e}")))
        .collect()
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

// ---------------------------------------------------------------------------------------------
// Comparing

/// Equality of packets as EasyNetwork sees them, but strict about floats: bit for bit (so
/// `-0.0` is not `0.0`, and NaN equals NaN).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Value::List(xs), Value::List(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Map(xs), Value::Map(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys)
                    .all(|((kx, vx), (ky, vy))| same(kx, ky) && same(vx, vy))
        }
        _ => a == b,
    }
}

fn show(value: &Value) -> String {
    shorten(value.to_json().to_string(), 300)
}

fn shorten(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

fn compare_packets(got: &[Value], want: &[Value]) -> Result<(), String> {
    if got.len() != want.len() {
        let shown: Vec<String> = got.iter().map(show).collect();
        return Err(format!(
            "got {} packet(s), expected {}: [{}]",
            got.len(),
            want.len(),
            shorten(shown.join(", "), 600)
        ));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if !same(g, w) {
            return Err(format!("packet {i}: got {}, expected {}", show(g), show(w)));
        }
    }
    Ok(())
}

fn compare_bytes(rust: &[u8], python: &[u8]) -> Result<(), String> {
    if rust == python {
        return Ok(());
    }
    let at = rust
        .iter()
        .zip(python)
        .position(|(r, p)| r != p)
        .unwrap_or(rust.len().min(python.len()));
    let window = |bytes: &[u8]| {
        let start = at.saturating_sub(16);
        let end = (at + 24).min(bytes.len());
        format!(
            "{}{}",
            if start > 0 { "..." } else { "" },
            encode_hex(&bytes[start.min(end)..end])
        )
    };
    Err(format!(
        "bytes differ from EasyNetwork's at offset {at} (rust {} bytes, python {} bytes): rust {}, python {}",
        rust.len(),
        python.len(),
        window(rust),
        window(python)
    ))
}

// ---------------------------------------------------------------------------------------------
// Decoding and encoding with the dynamic codecs

/// Feeds `data` to a fresh decoder in chunks of `chunk` bytes (all at once if None), collecting
/// packets, then signals the end of the stream. Any error, and any byte left over, is a failure.
fn decode_stream(
    codec: &dyn DynStreamCodec,
    data: &[u8],
    chunk: Option<usize>,
    expected: usize,
) -> Result<Vec<Value>, String> {
    let mut decoder = codec.decoder();
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    let chunk = chunk.unwrap_or(data.len()).max(1);
    let too_many = |packets: &Vec<Value>| packets.len() > expected + EXTRA_PACKETS_LIMIT;
    for (index, piece) in data.chunks(chunk).enumerate() {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(packet)) => packets.push(packet),
                Ok(None) => break,
                Err(e) => {
                    return Err(format!(
                        "decode error after {} packet(s), {} byte(s) fed: {e}",
                        packets.len(),
                        (index * chunk + piece.len()).min(data.len())
                    ))
                }
            }
            if too_many(&packets) {
                return Err(format!(
                    "the decoder keeps returning packets ({})",
                    packets.len()
                ));
            }
        }
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(packet)) => packets.push(packet),
            Ok(None) => break,
            Err(e) => {
                return Err(format!(
                    "decode_eof error after {} packet(s): {e}",
                    packets.len()
                ))
            }
        }
        if too_many(&packets) {
            return Err(format!(
                "decode_eof keeps returning packets ({})",
                packets.len()
            ));
        }
    }
    if !buf.is_empty() {
        return Err(format!(
            "{} byte(s) left in the buffer after the end of the stream",
            buf.len()
        ));
    }
    Ok(packets)
}

fn encode_stream(codec: &dyn DynStreamCodec, packets: &[Value]) -> Result<Vec<u8>, String> {
    let mut dst = BytesMut::new();
    for (i, packet) in packets.iter().enumerate() {
        codec
            .encode(packet, &mut dst)
            .map_err(|e| format!("encode of packet {i} failed: {e}"))?;
    }
    Ok(dst.to_vec())
}

fn encode_datagram(codec: &dyn DynDatagramCodec, packet: &Value) -> Result<Vec<u8>, String> {
    let mut dst = BytesMut::new();
    codec
        .serialize(packet, &mut dst)
        .map_err(|e| format!("serialize failed: {e}"))?;
    Ok(dst.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Valid cases: (a), (b), (d)

fn prepare_case(case: &Case) -> Result<(CodecSpec, Vec<Value>, Vec<u8>), String> {
    let spec = spec_for(&case.serializer, &case.wrap, &case.options)?;
    let packets = packets_from_json(&case.packets)?;
    let python = decode_hex(&case.bytes_hex).map_err(|e| format!("bytes_hex: {e}"))?;
    if case.mode == Mode::Datagram && packets.len() != 1 {
        return Err(format!(
            "a datagram case has one packet, not {}",
            packets.len()
        ));
    }
    Ok((spec, packets, python))
}

fn run_case(case: &Case) -> Outcome {
    let mut problems = Vec::new();
    let (spec, packets, python) = match prepare_case(case) {
        Ok(setup) => setup,
        Err(e) => return Outcome::Failed(vec![e], None),
    };

    let rust_bytes = match case.mode {
        Mode::Stream => {
            let codec = match spec.build_stream() {
                Ok(codec) => codec,
                Err(e) => return Outcome::Unbuilt(format!("build_stream: {e}")),
            };
            let codec = codec.as_ref();
            // (a) Python's bytes, whole and byte by byte.
            for (how, chunk) in [("in one chunk", None), ("byte by byte", Some(1))] {
                let decoded = decode_stream(codec, &python, chunk, packets.len())
                    .and_then(|got| compare_packets(&got, &packets));
                if let Err(e) = decoded {
                    problems.push(format!("decoding Python's bytes {how}: {e}"));
                }
            }
            // (b) Rust's bytes.
            match encode_stream(codec, &packets) {
                Ok(rust) => {
                    let check = if case.exact {
                        compare_bytes(&rust, &python)
                    } else {
                        decode_stream(codec, &rust, None, packets.len())
                            .and_then(|got| compare_packets(&got, &packets))
                            .map_err(|e| format!("decoding Rust's own bytes: {e}"))
                    };
                    if let Err(e) = check {
                        problems.push(e);
                    }
                    Some(rust)
                }
                Err(e) => {
                    problems.push(e);
                    None
                }
            }
        }
        Mode::Datagram => {
            let codec = match spec.build_datagram() {
                Ok(codec) => codec,
                Err(e) => return Outcome::Unbuilt(format!("build_datagram: {e}")),
            };
            let codec = codec.as_ref();
            // (a)
            match codec.deserialize(&python) {
                Ok(got) => {
                    if let Err(e) = compare_packets(&[got], &packets) {
                        problems.push(format!("deserializing Python's datagram: {e}"));
                    }
                }
                Err(e) => problems.push(format!("deserializing Python's datagram failed: {e}")),
            }
            // (b)
            match encode_datagram(codec, &packets[0]) {
                Ok(rust) => {
                    let check = if case.exact {
                        compare_bytes(&rust, &python)
                    } else {
                        codec
                            .deserialize(&rust)
                            .map_err(|e| e.to_string())
                            .and_then(|got| compare_packets(&[got], &packets))
                            .map_err(|e| format!("deserializing Rust's own datagram: {e}"))
                    };
                    if let Err(e) = check {
                        problems.push(e);
                    }
                    Some(rust)
                }
                Err(e) => {
                    problems.push(e);
                    None
                }
            }
        }
    };

    // (d) What verify_rust_output.py decodes with EasyNetwork.
    let entry = rust_bytes.map(|rust| {
        json!({
            "name": case.name,
            "serializer": case.serializer,
            "wrap": case.wrap,
            "options": case.options,
            "mode": case.mode.as_str(),
            "packets": case.packets,
            "bytes_hex": encode_hex(&rust),
        })
    });
    if problems.is_empty() {
        Outcome::Passed(entry)
    } else {
        Outcome::Failed(problems, entry)
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid input: (c)

fn prepare_invalid(case: &InvalidCase) -> Result<(CodecSpec, Vec<Value>, Vec<u8>), String> {
    let spec = spec_for(&case.serializer, &case.wrap, &case.options)?;
    let after = packets_from_json(&case.packets_after)?;
    let data = decode_hex(&case.invalid_hex).map_err(|e| format!("invalid_hex: {e}"))?;
    let expect = match case.mode {
        Mode::Stream => "error then packets",
        Mode::Datagram => "error",
    };
    if case.expect != expect {
        return Err(format!(
            "expect is {:?}, this test knows {expect:?}",
            case.expect
        ));
    }
    if case.mode == Mode::Datagram && !after.is_empty() {
        return Err("a datagram case has no packets after its error".to_owned());
    }
    Ok((spec, after, data))
}

fn run_invalid(case: &InvalidCase) -> Outcome {
    let (spec, after, data) = match prepare_invalid(case) {
        Ok(setup) => setup,
        Err(e) => return Outcome::Failed(vec![e], None),
    };
    let result = match case.mode {
        Mode::Datagram => {
            let codec = match spec.build_datagram() {
                Ok(codec) => codec,
                Err(e) => return Outcome::Unbuilt(format!("build_datagram: {e}")),
            };
            match codec.deserialize(&data) {
                Ok(packet) => Err(format!("decoded {} instead of failing", show(&packet))),
                Err(_) => Ok(()),
            }
        }
        Mode::Stream => {
            let codec = match spec.build_stream() {
                Ok(codec) => codec,
                Err(e) => return Outcome::Unbuilt(format!("build_stream: {e}")),
            };
            invalid_stream(codec.as_ref(), &data, &after)
        }
    };
    match result {
        Ok(()) => Outcome::Passed(None),
        Err(e) => Outcome::Failed(vec![format!("{e} (vector note: {})", case.note)], None),
    }
}

/// The whole input in one chunk: the first result must be an error (the decoder may first
/// return `Ok(None)` while it discards bytes), then exactly the packets EasyNetwork decodes.
fn invalid_stream(codec: &dyn DynStreamCodec, data: &[u8], after: &[Value]) -> Result<(), String> {
    let mut decoder = codec.decoder();
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Err(_) => break,
            Ok(Some(packet)) => {
                return Err(format!(
                    "decoded {} where EasyNetwork reports an error",
                    show(&packet)
                ))
            }
            Ok(None) if buf.len() < before => continue,
            Ok(None) => {
                return Err(format!(
                    "no error: the decoder waits for more data with {} byte(s) buffered",
                    buf.len()
                ))
            }
        }
    }
    let mut packets = Vec::new();
    let mut eof = false;
    loop {
        let result = if eof {
            decoder.decode_eof(&mut buf)
        } else {
            decoder.decode(&mut buf)
        };
        match result {
            Ok(Some(packet)) => packets.push(packet),
            Ok(None) if eof => break,
            Ok(None) => eof = true,
            Err(e) => {
                return Err(format!(
                    "a second error after {} packet(s) (EasyNetwork: one error): {e}",
                    packets.len()
                ))
            }
        }
        if packets.len() > after.len() + EXTRA_PACKETS_LIMIT {
            return Err(format!(
                "the decoder keeps returning packets ({})",
                packets.len()
            ));
        }
    }
    compare_packets(&packets, after).map_err(|e| format!("after the error: {e}"))?;
    if !buf.is_empty() {
        return Err(format!(
            "{} byte(s) left in the buffer after the end of the stream",
            buf.len()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Driver

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_owned())
}

struct Report {
    checked: usize,
    filtered_out: usize,
    unbuilt: Vec<String>,
    failures: Vec<String>,
}

/// Runs `run` on every selected case, catching panics, and collects what went wrong.
fn run_all<C>(
    cases: &[C],
    name: impl Fn(&C) -> &str,
    run: impl Fn(&C) -> Outcome,
    mut on_entry: impl FnMut(Json),
) -> Report {
    let selection = Selection::from_env();
    let mut report = Report {
        checked: 0,
        filtered_out: 0,
        unbuilt: Vec::new(),
        failures: Vec::new(),
    };
    for case in cases {
        let case_name = name(case);
        if !selection.wants(case_name) {
            report.filtered_out += 1;
            continue;
        }
        report.checked += 1;
        let outcome =
            panic::catch_unwind(AssertUnwindSafe(|| run(case))).unwrap_or_else(|payload| {
                Outcome::Failed(
                    vec![format!("panicked: {}", panic_message(&*payload))],
                    None,
                )
            });
        match outcome {
            Outcome::Passed(entry) => entry.into_iter().for_each(&mut on_entry),
            Outcome::Unbuilt(e) if selection.allow_unbuilt => {
                report.unbuilt.push(format!("{case_name}: {e}"))
            }
            Outcome::Unbuilt(e) => report.failures.push(format!("{case_name}: {e}")),
            Outcome::Failed(problems, entry) => {
                entry.into_iter().for_each(&mut on_entry);
                for problem in problems {
                    report.failures.push(format!("{case_name}: {problem}"));
                }
            }
        }
    }
    report
}

fn finish(what: &str, total: usize, report: &Report) {
    println!(
        "golden {what}: {} of {total} case(s) checked ({} filtered out by {FILTER_VAR}), {} not buildable yet, {} problem(s)",
        report.checked,
        report.filtered_out,
        report.unbuilt.len(),
        report.failures.len()
    );
    if !report.unbuilt.is_empty() {
        println!(
            "skipped because {ALLOW_UNBUILT_VAR} is set:\n  {}",
            report.unbuilt.join("\n  ")
        );
    }
    assert!(
        report.failures.is_empty(),
        "{} problem(s) in the golden {what} (vectors: {VECTORS}):\n  {}",
        report.failures.len(),
        report.failures.join("\n  ")
    );
    assert!(
        report.checked > 0 || report.filtered_out > 0,
        "no golden {what} in {VECTORS}"
    );
}

fn write_output(entries: &[Json]) -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(OUTPUT_FILE);
    let text =
        serde_json::to_string_pretty(entries).map_err(|e| format!("cannot render JSON: {e}"))?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

#[test]
fn golden_cases_match_easynetwork() {
    let vectors = load_vectors();
    println!("golden vectors from {}", vectors.generator);
    let mut entries = Vec::new();
    let mut report = run_all(
        &vectors.cases,
        |c| c.name.as_str(),
        run_case,
        |entry| entries.push(entry),
    );
    match write_output(&entries) {
        Ok(path) => println!(
            "wrote {} Rust-encoded case(s) to {}",
            entries.len(),
            path.display()
        ),
        Err(e) => report
            .failures
            .push(format!("(output for verify_rust_output.py) {e}")),
    }
    finish("cases", vectors.cases.len(), &report);
}

#[test]
fn golden_invalid_inputs_match_easynetwork() {
    let vectors = load_vectors();
    let report = run_all(
        &vectors.invalid_cases,
        |c| c.name.as_str(),
        run_invalid,
        |_| {},
    );
    finish("invalid inputs", vectors.invalid_cases.len(), &report);
}
