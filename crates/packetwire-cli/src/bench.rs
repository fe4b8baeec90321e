//! `packetwire bench`: an echo load generator in the style of the MagicStack/vmbench echo
//! clients. N connections (or datagram sockets) each send `mpr` messages of `msize` bytes per
//! request, read the echo back exactly, check it, and time the request.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use packetwire::net::{TcpStream, UdpSocket, UnixDatagram, UnixDatagramOptions, UnixStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::address::Address;

/// What the messages look like, to match the server's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// Arbitrary bytes (no newline), echoed as they are: for raw echo servers.
    Raw,
    /// `msize - 1` printable bytes and a newline (on datagrams, `msize` bytes and no newline: a
    /// datagram is one line): for line echo servers.
    Line,
    /// A compact JSON object of `msize - 1` bytes and a newline (no newline on datagrams): for
    /// JSON echo servers, which decode and re-encode it to the same bytes.
    Json,
}

/// How the results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Readable lines.
    Text,
    /// One JSON object.
    Json,
}

/// Options of `packetwire bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The echo server: tcp://HOST:PORT, udp://HOST:PORT, tls://HOST:PORT, unix:PATH,
    /// unix:@NAME, unix-dgram:PATH.
    address: String,
    /// Bytes per message.
    #[arg(long, default_value_t = 1024)]
    msize: usize,
    /// Messages per request: all are sent, then all their echoes are read.
    #[arg(long, default_value_t = 1)]
    mpr: usize,
    /// Connections (or datagram sockets), each sending one request at a time.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measurement starts (not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Message format.
    #[arg(long, value_enum, default_value = "raw")]
    mode: Mode,
    /// Result format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Seconds one request may take before the run fails (a stuck server; on datagram
    /// transports, every re-send lost).
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Datagram transports: seconds without the whole echo after which a request counts as
    /// lost and is sent again (loopback may drop a datagram under load).
    #[arg(long, default_value_t = 0.5)]
    loss_timeout: f64,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// TLS: do not verify the server's certificate.
    #[arg(long)]
    insecure: bool,
    /// TLS: trust the CA certificates of this PEM file.
    #[arg(long)]
    ca: Option<PathBuf>,
}

/// The message `worker` sends, and so expects back.
fn message(mode: Mode, msize: usize, worker: usize, datagram: bool) -> Vec<u8> {
    let fill = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i + worker) % 36])
            .collect()
    };
    match mode {
        Mode::Raw => fill(msize),
        Mode::Line if datagram => fill(msize),
        Mode::Line => {
            let mut m = fill(msize - 1);
            m.push(b'\n');
            m
        }
        Mode::Json => {
            let body = if datagram { msize } else { msize - 1 };
            let head = format!("{{\"worker\":{worker},\"data\":\"");
            let mut m = head.into_bytes();
            let pad = body.saturating_sub(m.len() + 2);
            m.extend(fill(pad));
            m.extend_from_slice(b"\"}");
            if !datagram {
                m.push(b'\n');
            }
            m
        }
    }
}

/// A latency histogram in microseconds, from 1 µs to one hour, 3 significant figures. Fixed
/// bounds: hdrhistogram 7.5's auto-resizing histograms were seen to report values that were
/// never recorded after a merge.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// What a run measured.
struct Results {
    requests: u64,
    /// Datagram requests sent again after no echo came within the loss timeout.
    lost: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

/// One connection's way to send a request and read its echo.
enum Conn {
    Stream(Box<dyn StreamIo>),
    Udp(UdpSocket),
    UnixDatagram(UnixDatagram),
}

/// How one try of a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// The whole echo came back.
    Done,
    /// A datagram (or its echo) was lost: the request is to be sent again.
    Lost,
}

trait StreamIo: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> StreamIo for T {}

impl Conn {
    async fn open(
        address: &Address,
        args: &BenchArgs,
        local_dir: &tempfile::TempDir,
        index: usize,
    ) -> Result<Self, String> {
        let what = |e: &dyn std::fmt::Display| format!("cannot connect to {address}: {e}");
        Ok(match address {
            Address::Tcp { host, port } => Conn::Stream(Box::new(
                TcpStream::connect(host, *port)
                    .await
                    .map_err(|e| what(&e))?,
            )),
            Address::Unix(path) => Conn::Stream(Box::new(
                UnixStream::connect(path).await.map_err(|e| what(&e))?,
            )),
            Address::Tls { host, port } => {
                let connector = crate::tls::connector(args.insecure, args.ca.as_deref())?;
                Conn::Stream(Box::new(
                    connector.connect(host, *port).await.map_err(|e| what(&e))?,
                ))
            }
            Address::Udp { host, port } => Conn::Udp(
                UdpSocket::connect(host, *port)
                    .await
                    .map_err(|e| what(&e))?,
            ),
            Address::UnixDatagram(path) => {
                // A pathname, not an autobound abstract name: every echo server can answer a
                // pathname (tokio's `UnixDatagram::send_to` takes only paths).
                let local = local_dir.path().join(format!("client-{index}.sock"));
                Conn::UnixDatagram(
                    UnixDatagramOptions::new()
                        .local_path(&local)
                        .connect(path)
                        .await
                        .map_err(|e| what(&e))?,
                )
            }
        })
    }

    /// Sends `mpr` copies of `message` and checks the echo. On datagram transports, an echo
    /// that does not come within `loss_timeout` makes the request [`Attempt::Lost`].
    async fn request(
        &mut self,
        message: &[u8],
        batch: &[u8],
        echo: &mut [u8],
        mpr: usize,
        loss_timeout: Duration,
    ) -> Result<Attempt, String> {
        match self {
            Conn::Stream(stream) => {
                stream
                    .write_all(batch)
                    .await
                    .map_err(|e| format!("send failed: {e}"))?;
                stream.read_exact(echo).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        "the server closed the connection before the whole echo came back"
                            .to_owned()
                    } else {
                        format!("receive failed: {e}")
                    }
                })?;
                if echo != batch {
                    return Err(mismatch(batch, echo));
                }
            }
            Conn::Udp(_) | Conn::UnixDatagram(_) => {
                for _ in 0..mpr {
                    self.send_datagram(message)
                        .await
                        .map_err(|e| format!("send failed: {e}"))?;
                }
                for _ in 0..mpr {
                    let Ok(got) = tokio::time::timeout(loss_timeout, self.receive_datagram()).await
                    else {
                        return Ok(Attempt::Lost);
                    };
                    let got = got.map_err(|e| format!("receive failed: {e}"))?;
                    if got != message {
                        return Err(mismatch(message, &got));
                    }
                }
            }
        }
        Ok(Attempt::Done)
    }
}

impl Conn {
    async fn send_datagram(&self, datagram: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Udp(socket) => socket.send(datagram).await,
            Conn::UnixDatagram(socket) => socket.send(datagram).await,
            Conn::Stream(_) => unreachable!("streams do not send datagrams"),
        }
    }

    async fn receive_datagram(
        &self,
    ) -> Result<bytes::Bytes, packetwire::net::DatagramReceiveError> {
        match self {
            Conn::Udp(socket) => socket.receive().await,
            Conn::UnixDatagram(socket) => socket.receive().await,
            Conn::Stream(_) => unreachable!("streams do not receive datagrams"),
        }
    }
}

fn mismatch(expected: &[u8], got: &[u8]) -> String {
    let at = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    let show = |b: &[u8]| {
        let end = (at + 16).min(b.len());
        String::from_utf8_lossy(&b[at.min(end)..end]).into_owned()
    };
    format!(
        "wrong echo: expected {} bytes, got {}; first difference at byte {at}: expected {:?}, got {:?}",
        expected.len(),
        got.len(),
        show(expected),
        show(got)
    )
}

/// `packetwire bench`.
pub(crate) fn bench(args: &BenchArgs) -> Result<(), String> {
    let address: Address = args.address.parse().map_err(|e| format!("{e}"))?;
    let min = if args.mode == Mode::Raw || address.is_datagram() {
        1
    } else {
        2
    };
    let json_min = 24;
    if args.msize < min || (args.mode == Mode::Json && args.msize < json_min) {
        return Err(format!(
            "--msize {} is too small for --mode {:?}",
            args.msize, args.mode
        ));
    }
    if args.mpr == 0 || args.concurrency == 0 || args.threads == 0 {
        return Err("--mpr, --concurrency and --threads must be at least 1".into());
    }
    if !(args.duration > 0.0
        && args.warmup >= 0.0
        && args.timeout > 0.0
        && args.loss_timeout > 0.0
        && [args.duration, args.warmup, args.timeout, args.loss_timeout]
            .iter()
            .all(|s| s.is_finite()))
    {
        return Err(
            "--duration, --timeout and --loss-timeout must be positive, --warmup not negative"
                .into(),
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let results = runtime.block_on(run(&address, args))?;
    report(&address, args, &results);
    Ok(())
}

async fn run(address: &Address, args: &BenchArgs) -> Result<Results, String> {
    let local_dir = tempfile::Builder::new()
        .prefix("packetwire-bench-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let mut conns = Vec::with_capacity(args.concurrency);
    for index in 0..args.concurrency {
        conns.push(Conn::open(address, args, &local_dir, index).await?);
    }
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let timeout = Duration::from_secs_f64(args.timeout);
    let loss_timeout = Duration::from_secs_f64(args.loss_timeout);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let counted = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));

    let mut tasks = tokio::task::JoinSet::new();
    for (worker, mut conn) in conns.into_iter().enumerate() {
        let message = message(args.mode, args.msize, worker, address.is_datagram());
        let batch = message.repeat(args.mpr);
        let mpr = args.mpr;
        let counted = Arc::clone(&counted);
        let failed = Arc::clone(&failed);
        let lost = Arc::clone(&lost);
        tasks.spawn(async move {
            let mut latency = new_histogram();
            let mut echo = vec![0u8; batch.len()];
            let mut requests = 0u64;
            loop {
                let began = Instant::now();
                if began >= end || failed.load(Ordering::Relaxed) {
                    break;
                }
                let give_up = tokio::time::Instant::from_std(began + timeout);
                let done = loop {
                    let attempt = tokio::time::timeout_at(
                        give_up,
                        conn.request(&message, &batch, &mut echo, mpr, loss_timeout),
                    )
                    .await;
                    match attempt {
                        Ok(Ok(Attempt::Lost)) => {
                            if began >= measure_from {
                                lost.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        other => break other.map(|r| r.map(|_| ())),
                    }
                };
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(format!("connection {worker}: {e}"));
                    }
                    Err(_) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(format!(
                            "connection {worker}: no complete echo within {timeout:?} \
                             (lost datagram or stuck server)"
                        ));
                    }
                }
                if began >= measure_from {
                    let micros = began.elapsed().as_micros().min(u64::MAX as u128) as u64;
                    latency.saturating_record(micros.max(1));
                    requests += 1;
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<_, String>((requests, latency))
        });
    }

    let progress = if std::io::stderr().is_terminal() && args.output == Output::Text {
        let counted = Arc::clone(&counted);
        Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let now = Instant::now();
                let (phase, elapsed, total) = if now < measure_from {
                    ("warm-up", now - start, warmup)
                } else {
                    ("measure", now.min(end) - measure_from, duration)
                };
                let rate = if phase == "measure" && !elapsed.is_zero() {
                    counted.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
                } else {
                    0.0
                };
                let filled = ((elapsed.as_secs_f64() / total.as_secs_f64().max(1e-9)) * 30.0)
                    .clamp(0.0, 30.0) as usize;
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r{phase} [{}{}] {:5.1}/{:.1} s  {:>10.0} req/s",
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    elapsed.as_secs_f64(),
                    total.as_secs_f64(),
                    rate
                );
                let _ = err.flush();
            }
        }))
    } else {
        None
    };

    let mut requests = 0;
    let mut latency = new_histogram();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((n, histogram))) => {
                requests += n;
                latency
                    .add(&histogram)
                    .map_err(|e| format!("cannot merge latencies: {e}"))?;
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(format!("a worker failed: {e}"));
            }
        }
    }
    if let Some(progress) = progress {
        progress.abort();
        eprintln!();
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let lost = lost.load(Ordering::Relaxed);
    if requests == 0 && lost > 0 {
        return Err(format!(
            "no request got its echo back: {lost} lost (no echo within {loss_timeout:?})"
        ));
    }
    let elapsed = Instant::now()
        .min(end)
        .saturating_duration_since(measure_from);
    Ok(Results {
        requests,
        lost,
        elapsed: if elapsed.is_zero() { duration } else { elapsed },
        latency,
    })
}

fn report(address: &Address, args: &BenchArgs, results: &Results) {
    let seconds = results.elapsed.as_secs_f64();
    let rps = results.requests as f64 / seconds;
    let bytes = results.requests as f64 * (args.msize * args.mpr) as f64;
    let mib_s = bytes / seconds / (1024.0 * 1024.0);
    let h = &results.latency;
    let (min, mean, median, p90, p99, p999, max) = if h.is_empty() {
        (0, 0.0, 0, 0, 0, 0, 0)
    } else {
        (
            h.min(),
            h.mean(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
        )
    };
    match args.output {
        Output::Text => {
            println!(
                "{address}: {} mode, {} bytes x {} per request, {} connections, {:.1} s measured",
                format!("{:?}", args.mode).to_lowercase(),
                args.msize,
                args.mpr,
                args.concurrency,
                seconds
            );
            println!("requests:    {} ({rps:.1} req/s)", results.requests);
            if address.is_datagram() {
                println!("lost:        {} (sent again)", results.lost);
            }
            println!("throughput:  {mib_s:.2} MiB/s");
            println!(
                "latency (us): min {min}  mean {mean:.1}  median {median}  p90 {p90}  p99 {p99}  \
                 p99.9 {p999}  max {max}"
            );
        }
        Output::Json => {
            let value = serde_json::json!({
                "address": address.to_string(),
                "transport": address.transport(),
                "mode": format!("{:?}", args.mode).to_lowercase(),
                "msize": args.msize,
                "mpr": args.mpr,
                "concurrency": args.concurrency,
                "duration_s": seconds,
                "requests": results.requests,
                "lost": results.lost,
                "requests_per_second": rps,
                "mib_per_second": mib_s,
                "latency_us": {
                    "min": min,
                    "mean": mean,
                    "median": median,
                    "p90": p90,
                    "p99": p99,
                    "p99_9": p999,
                    "max": max,
                },
            });
            println!("{value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_asked_size_and_framing() {
        for msize in [24, 100, 1024, 10 * 1024] {
            let raw = message(Mode::Raw, msize, 3, false);
            assert_eq!(raw.len(), msize);
            assert!(!raw.contains(&b'\n'));
            let line = message(Mode::Line, msize, 3, false);
            assert_eq!(line.len(), msize);
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            assert_eq!(line.last(), Some(&b'\n'));
            // A datagram is one line: no newline in it.
            let line = message(Mode::Line, msize, 3, true);
            assert_eq!(line.len(), msize);
            assert!(!line.contains(&b'\n'));
            let json = message(Mode::Json, msize, 3, false);
            assert_eq!(json.len(), msize, "{}", String::from_utf8_lossy(&json));
            let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
            // The server re-encodes it compactly to the same bytes.
            assert_eq!(
                format!("{}\n", serde_json::to_string(&value).unwrap()).as_bytes(),
                &json[..]
            );
            let datagram = message(Mode::Json, msize, 3, true);
            assert_eq!(datagram.len(), msize);
            assert_eq!(serde_json::to_string(&value).unwrap().len(), msize - 1);
        }
    }

    #[test]
    fn a_mismatch_names_the_first_difference() {
        let e = mismatch(b"hello world", b"hello wOrld");
        assert!(e.contains("byte 7"), "{e}");
        let e = mismatch(b"abc", b"ab");
        assert!(e.contains("expected 3 bytes, got 2"), "{e}");
    }
}
