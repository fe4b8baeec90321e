//! The network verbs as a user runs them: `serve`, `send` and `demo`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn packetwire() -> Command {
    Command::new(env!("CARGO_BIN_EXE_packetwire"))
}

/// A running `packetwire serve` and the address its ready line gave.
struct Server {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = packetwire()
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start packetwire serve");
        let (lines, stderr) = mpsc::channel();
        let pipe: ChildStderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let ready = stderr
            .recv_timeout(Duration::from_secs(20))
            .expect("a ready line on stderr");
        let addr = ready
            .strip_prefix("packetwire serve: ready ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
            .to_owned();
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// Sends `signal`, waits for the exit, and returns the status and the rest of stderr.
    fn stop(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            rest.push_str(&line);
            rest.push('\n');
        }
        (status, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(args: &[&str], stdin: &str) -> Output {
    let mut child = packetwire()
        .arg("send")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn serve_and_send_over_every_transport() {
    let dir = tempfile::tempdir().unwrap();
    let unix = format!("unix:{}", dir.path().join("s.sock").display());
    let dgram = format!("unix-dgram:{}", dir.path().join("d.sock").display());
    let abstract_name = format!("unix:@packetwire-cli-test-{}", std::process::id());
    for (addr, serializer) in [
        ("tcp://127.0.0.1:0", "json"),
        ("udp://127.0.0.1:0", "msgpack"),
        (unix.as_str(), "cbor"),
        (dgram.as_str(), "json"),
        (abstract_name.as_str(), "json"),
    ] {
        let server = Server::start(&[addr, "-s", serializer]);
        let out = send(
            &[
                &server.addr,
                "-s",
                serializer,
                r#"{"a":[1,2.5,null]}"#,
                r#""hi""#,
            ],
            "",
        );
        assert!(out.status.success(), "{addr}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            "{\"a\":[1,2.5,null]}\n\"hi\"\n",
            "{addr}"
        );
        // One packet per stdin line when no packet is given.
        let out = send(&[&server.addr, "-s", serializer], "[1]\n\n{\"b\":true}\n");
        assert!(out.status.success(), "{addr}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "[1]\n{\"b\":true}\n", "{addr}");
        let (status, log) = server.stop("TERM");
        assert!(status.success(), "{addr}: {log}");
        assert!(log.contains("shutting down"), "{addr}: {log}");
    }
    // The socket files are gone.
    assert!(!dir.path().join("s.sock").exists());
    assert!(!dir.path().join("d.sock").exists());
}

#[test]
fn a_bad_packet_is_logged_and_the_connection_kept() {
    let server = Server::start(&["tcp://127.0.0.1:0", "-s", "json", "--wrap", "base64"]);
    let port: u16 = server.addr.rsplit(':').next().unwrap().parse().unwrap();
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // "not base64!" then base64 of `[1]` (EasyNetwork's base64 frames end with CRLF).
    raw.write_all(b"not base64!\r\nWzFd\r\n").unwrap();
    let mut reader = BufReader::new(raw.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "WzFd\r\n");
    drop((raw, reader));
    let (status, log) = server.stop("INT");
    assert!(status.success());
    assert!(log.contains("WARN"), "{log}");
}

#[test]
fn raw_and_line_bytes_echo_what_they_get() {
    for (serializer, mode) in [("raw", "raw"), ("line-bytes", "line")] {
        let server = Server::start(&["tcp://127.0.0.1:0", "-s", serializer, "--quiet"]);
        let out = packetwire()
            .args([
                "bench",
                &server.addr,
                "--mode",
                mode,
                "--msize",
                "300",
                "--mpr",
                "3",
            ])
            .args([
                "--duration",
                "0.3",
                "--warmup",
                "0",
                "--concurrency",
                "2",
                "--output",
                "json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{serializer}: {}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report["requests"].as_u64().unwrap() > 0);
        server.stop("TERM");
    }
    let out = packetwire()
        .args(["serve", "tcp://127.0.0.1:0", "-s", "raw", "--wrap", "zlib"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("takes no --wrap"));
}

#[test]
fn send_errors_are_one_clear_line() {
    // Nothing listens.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = send(&[&format!("tcp://127.0.0.1:{port}"), "-s", "json", "1"], "");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");

    // A server that never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tcp://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let out = send(&[&addr, "-s", "json", "--timeout", "0.3", "1"], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no reply within 0.3 s"),
        "{}",
        text(&out.stderr)
    );

    // A server that answers garbage.
    let liar = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tcp://127.0.0.1:{}", liar.local_addr().unwrap().port());
    let answering = std::thread::spawn(move || {
        let (mut conn, _) = liar.accept().unwrap();
        let mut buf = [0u8; 64];
        let _ = conn.read(&mut buf);
        conn.write_all(b"{garbage\n").unwrap();
    });
    let out = send(&[&addr, "-s", "json", "1"], "");
    answering.join().unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad reply"),
        "{}",
        text(&out.stderr)
    );

    // Bad input on our side, caught before connecting.
    let out = send(&["tcp://127.0.0.1:9", "-s", "json", "{not json"], "");
    assert!(
        text(&out.stderr).contains("is not JSON"),
        "{}",
        text(&out.stderr)
    );
    let out = send(&["tls://127.0.0.1:9", "-s", "json", "1"], "");
    assert!(
        text(&out.stderr).contains("--insecure"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn no_reply_sends_only() {
    let server = Server::start(&["udp://127.0.0.1:0", "-s", "json"]);
    let out = send(&[&server.addr, "-s", "json", "--no-reply", "1", "2"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    server.stop("TERM");
}

#[test]
fn demo_runs_its_tour_and_exits_cleanly() {
    let out = packetwire().arg("demo").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let transcript = text(&out.stdout);
    for expected in [
        "JSON on unix:",
        "JSON on tcp://127.0.0.1:",
        r#"<- {"result":9.5}"#,
        "hello through a pipe",
        "bad packet",
        r#"(same connection)           <- {"result":"pong"}"#,
        "the socket file is removed",
    ] {
        assert!(
            transcript.contains(expected),
            "{expected:?} missing:\n{transcript}"
        );
    }
}

/// A CA and a server certificate for `localhost` and 127.0.0.1, as PEM files in `dir`:
/// (ca.pem, cert.pem, key.pem).
fn tls_files(dir: &std::path::Path) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "packetwire CLI test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", cert.pem()),
        write("key.pem", key.serialize_pem()),
    )
}

#[test]
fn tls_serve_send_and_bench() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let server = Server::start(&[
        "tls://127.0.0.1:0",
        "-s",
        "json",
        "--cert",
        &cert,
        "--key",
        &key,
    ]);
    assert!(
        server.addr.starts_with("tls://127.0.0.1:"),
        "{}",
        server.addr
    );
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let by_name = format!("tls://localhost:{port}");
    // Verified against the CA, by name.
    let out = send(
        &[&by_name, "-s", "json", "--ca", &ca, r#"{"secure":true}"#],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\"secure\":true}\n");
    // Without the CA the handshake fails, in one line.
    let out = send(&[&by_name, "-s", "json", "--ca", &cert, "1"], "");
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
    // --insecure trusts anything.
    let out = send(&[&server.addr, "-s", "json", "--insecure", "2"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "2\n");
    // The load generator over TLS.
    let out = packetwire()
        .args([
            "bench", &by_name, "--ca", &ca, "--mode", "json", "--msize", "100",
        ])
        .args([
            "--duration",
            "0.3",
            "--warmup",
            "0",
            "--concurrency",
            "2",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, _) = server.stop("TERM");
    assert!(status.success());
}
