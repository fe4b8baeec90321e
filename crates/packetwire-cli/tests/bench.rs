//! `packetwire bench` against echo servers written in the test: the JSON report, the datagram
//! path, and a wrong echo that must stop the run with an error.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_packetwire"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run packetwire bench")
}

/// A TCP server on a thread that answers each read with `reply(data)`.
fn tcp_server(reply: fn(&[u8]) -> Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&reply(&buf[..n])).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn json_report_over_tcp() {
    let port = tcp_server(|data| data.to_vec());
    let addr = format!("tcp://127.0.0.1:{port}");
    let out = bench(&[
        &addr,
        "--msize",
        "200",
        "--mpr",
        "2",
        "--concurrency",
        "3",
        "--duration",
        "0.3",
        "--warmup",
        "0.1",
        "--mode",
        "line",
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["transport"], "tcp");
    assert_eq!(report["mode"], "line");
    assert_eq!(report["msize"], 200);
    assert_eq!(report["mpr"], 2);
    assert_eq!(report["concurrency"], 3);
    let requests = report["requests"].as_u64().unwrap();
    assert!(requests > 0);
    let latency = &report["latency_us"];
    let field = |name: &str| latency[name].as_f64().unwrap();
    assert!(field("min") >= 1.0);
    assert!(field("min") <= field("median"));
    assert!(field("median") <= field("p90"));
    assert!(field("p90") <= field("p99"));
    assert!(field("p99") <= field("p99_9"));
    assert!(field("p99_9") <= field("max"));
    let rps = report["requests_per_second"].as_f64().unwrap();
    let mib = report["mib_per_second"].as_f64().unwrap();
    // Throughput is requests per second times 400 bytes.
    assert!((mib - rps * 400.0 / 1048576.0).abs() < 1e-6 * mib.max(1.0));
}

#[test]
fn text_report_over_udp() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], peer);
        }
    });
    let addr = format!("udp://127.0.0.1:{port}");
    let out = bench(&[
        &addr,
        "--duration",
        "0.3",
        "--warmup",
        "0",
        "--concurrency",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!(
            "{addr}: raw mode, 1024 bytes x 1 per request, 2 connections"
        )),
        "{text}"
    );
    for word in ["req/s", "MiB/s", "median", "p99.9", "max"] {
        assert!(text.contains(word), "{word} missing from {text}");
    }
}

#[test]
fn a_wrong_echo_stops_the_run() {
    let port = tcp_server(|data| {
        let mut reply = data.to_vec();
        reply[0] ^= 1;
        reply
    });
    let addr = format!("tcp://127.0.0.1:{port}");
    let out = bench(&[&addr, "--duration", "5", "--warmup", "0", "--msize", "64"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong echo"), "{err}");
    assert!(err.contains("first difference at byte 0"), "{err}");
}

#[test]
fn a_silent_server_times_out_and_bad_options_are_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let addr = format!("tcp://127.0.0.1:{port}");
    let out = bench(&[
        &addr,
        "--duration",
        "5",
        "--warmup",
        "0",
        "--timeout",
        "0.3",
        "--concurrency",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no complete echo within"));
    drop(listener);

    let out = bench(&["tcp://127.0.0.1:9", "--mode", "json", "--msize", "10"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("too small"));
    let out = bench(&["ftp://x:1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad address"));
    let out = bench(&["tls://127.0.0.1:9"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--insecure"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lost_datagrams_are_counted_and_sent_again() {
    // Drops every fifth datagram; answers a datagram holding a newline with garbage (in line
    // mode a datagram is one line, without the newline).
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut seen = 0u64;
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            seen += 1;
            if seen % 5 == 0 {
                continue;
            }
            let reply: &[u8] = if buf[..n].contains(&b'\n') {
                b"a newline in a datagram"
            } else {
                &buf[..n]
            };
            let _ = socket.send_to(reply, peer);
        }
    });
    let addr = format!("udp://127.0.0.1:{port}");
    let out = bench(&[
        &addr,
        "--mode",
        "line",
        "--msize",
        "100",
        "--concurrency",
        "2",
        "--duration",
        "0.5",
        "--warmup",
        "0",
        "--loss-timeout",
        "0.02",
        "--timeout",
        "5",
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
    assert!(report["lost"].as_u64().unwrap() > 0, "{report}");

    // Nothing gets through: the run fails once a request's whole timeout has passed.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = format!("udp://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let out = bench(&[
        &addr,
        "--duration",
        "5",
        "--warmup",
        "0",
        "--loss-timeout",
        "0.05",
        "--timeout",
        "0.4",
        "--concurrency",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no complete echo within"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(silent);
}
