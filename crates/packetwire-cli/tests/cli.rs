//! The `packetwire` binary's `encode` and `decode` verbs, run as a user runs them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_packetwire"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn packetwire");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Encodes JSON lines with `args`, decodes the bytes back, and returns (bytes, decoded lines).
fn round_trip(args: &[&str], input: &str) -> (Vec<u8>, String) {
    let mut encode = vec!["encode"];
    encode.extend_from_slice(args);
    let encoded = run(&encode, input.as_bytes());
    assert!(
        encoded.status.success(),
        "encode {args:?} failed: {}",
        stderr(&encoded)
    );
    let mut decode = vec!["decode"];
    decode.extend_from_slice(args);
    let decoded = run(&decode, &encoded.stdout);
    assert!(
        decoded.status.success(),
        "decode {args:?} failed: {}",
        stderr(&decoded)
    );
    (encoded.stdout, stdout(&decoded))
}

#[test]
fn json_round_trip_matches_python_bytes() {
    let (bytes, lines) = round_trip(&["-s", "json"], "{\"a\":[1,2],\"é\":1e16}\n\"x\"\n");
    assert_eq!(bytes, b"{\"a\":[1,2],\"\\u00e9\":1e+16}\n\"x\"\n");
    assert_eq!(lines, "{\"a\":[1,2],\"é\":1e+16}\n\"x\"\n");
}

#[test]
fn json_raw_and_datagram() {
    let (bytes, lines) = round_trip(&["-s", "json-raw"], "[1]\n2\n");
    assert_eq!(bytes, b"[1]2\n");
    assert_eq!(lines, "[1]\n2\n");
    let (bytes, lines) = round_trip(&["-s", "json", "--datagram"], "{\"k\":null}\n");
    assert_eq!(bytes, b"{\"k\":null}");
    assert_eq!(lines, "{\"k\":null}\n");
}

#[test]
fn line_options() {
    let (bytes, lines) = round_trip(
        &["-s", "line", "--newline", "crlf", "--encoding", "latin-1"],
        "\"café\"\n",
    );
    assert_eq!(bytes, b"caf\xe9\r\n");
    assert_eq!(lines, "\"café\"\n");
}

#[test]
fn bad_packet_is_reported_and_decoding_goes_on() {
    let out = run(&["decode", "-s", "json"], b"[1]\n{bad\n[2]\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "[1]\n[2]\n");
    let err = stderr(&out);
    assert!(err.contains("packet 2 at byte offset 4"), "{err}");
    assert!(err.contains("JSON decode error"), "{err}");
}

#[test]
fn truncated_stream_is_an_error() {
    let out = run(&["decode", "-s", "json"], b"[1]\n[2");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "[1]\n");
    assert!(
        stderr(&out).contains("stream ended in the middle of a packet"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn limit_is_enforced_and_skipped() {
    let out = run(
        &["decode", "-s", "line", "--limit", "4"],
        b"ok\ntoolong\nfine\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "\"ok\"\n\"fine\"\n");
    assert!(stderr(&out).contains("limit"), "{}", stderr(&out));
}

#[test]
fn usage_errors() {
    let out = run(&["encode", "-s", "nope"], b"1\n");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown or disabled serializer"),
        "{}",
        stderr(&out)
    );
    let out = run(&["encode", "-s", "json", "--datagram"], b"1\n2\n");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("exactly one JSON value"),
        "{}",
        stderr(&out)
    );
    let out = run(&["encode", "-s", "json"], b"{not json\n");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("line 1: not a JSON value"),
        "{}",
        stderr(&out)
    );
}
