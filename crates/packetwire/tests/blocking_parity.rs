//! One table of receive scenarios, run through the blocking shell and through the async shell
//! on every runtime the build has: each must give the expected outcomes, and the shells must
//! agree with each other step by step, buffered bytes included.
//!
//! Each scenario writes its input (and maybe the end of the stream) on one end of a Unix
//! socketpair before the first read, so every shell sees the same bytes in one read, and then
//! runs its operations on the other end.

use std::io::Write;
use std::time::Duration;

use packetwire::blocking::ReceiveError;

/// A receive call.
#[derive(Debug, Clone, Copy)]
enum Op {
    Receive(usize),
    Exactly(usize),
    Until(&'static [u8]),
    Line,
    /// `receive_line`, given up after this many milliseconds.
    LineWithin(u64),
    /// `receive_exactly`, given up after this many milliseconds.
    ExactlyWithin(usize, u64),
    SetLimit(usize),
}

/// What a receive call gave.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Data(Vec<u8>),
    EndOfStream,
    Incomplete(Vec<u8>, Option<usize>),
    LimitOverrun { consumed: usize, limit: usize },
    TimedOut,
    Done,
}

impl Outcome {
    fn of(result: Result<bytes::Bytes, ReceiveError>) -> Self {
        match result {
            Ok(bytes) => Self::Data(bytes.to_vec()),
            Err(ReceiveError::EndOfStream) => Self::EndOfStream,
            Err(ReceiveError::IncompleteRead { partial, expected }) => {
                Self::Incomplete(partial.to_vec(), expected)
            }
            Err(ReceiveError::LimitOverrun { consumed, limit }) => {
                Self::LimitOverrun { consumed, limit }
            }
            Err(ReceiveError::TimedOut) => Self::TimedOut,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}

fn data(bytes: &[u8]) -> Outcome {
    Outcome::Data(bytes.to_vec())
}

fn incomplete(bytes: &[u8], expected: Option<usize>) -> Outcome {
    Outcome::Incomplete(bytes.to_vec(), expected)
}

/// One step of a run: the outcome and the bytes left buffered after it.
type Step = (Outcome, Vec<u8>);

struct Scenario {
    name: &'static str,
    input: &'static [u8],
    eof: bool,
    steps: Vec<(Op, Outcome)>,
}

fn scenarios() -> Vec<Scenario> {
    use Op::*;
    vec![
        Scenario {
            name: "lines, then the end of the stream",
            input: b"hello\nworld\n",
            eof: true,
            steps: vec![
                (Line, data(b"hello\n")),
                (Line, data(b"world\n")),
                (Line, incomplete(b"", None)),
                (Receive(10), Outcome::EndOfStream),
            ],
        },
        Scenario {
            name: "exactly, then a short read at the end",
            input: b"abcdef",
            eof: true,
            steps: vec![
                (Exactly(4), data(b"abcd")),
                (Exactly(4), incomplete(b"ef", Some(4))),
                (Exactly(4), incomplete(b"", Some(4))),
                (Receive(1), Outcome::EndOfStream),
            ],
        },
        Scenario {
            name: "a line over the limit stays buffered",
            input: b"0123456789abc\nrest",
            eof: false,
            steps: vec![
                (SetLimit(8), Outcome::Done),
                (
                    Line,
                    Outcome::LimitOverrun {
                        consumed: 13,
                        limit: 8,
                    },
                ),
                (Receive(5), data(b"01234")),
                (Line, data(b"56789abc\n")),
                (LineWithin(30), Outcome::TimedOut),
                (Receive(100), data(b"rest")),
            ],
        },
        Scenario {
            name: "separator exactly at the limit, then one byte past it",
            input: b"abcd\nabcde\n",
            eof: true,
            steps: vec![
                (SetLimit(4), Outcome::Done),
                (Line, data(b"abcd\n")),
                (
                    Line,
                    Outcome::LimitOverrun {
                        consumed: 5,
                        limit: 4,
                    },
                ),
                (SetLimit(5), Outcome::Done),
                (Line, data(b"abcde\n")),
            ],
        },
        Scenario {
            name: "no separator, more than the limit searched",
            input: b"abcdefgh",
            eof: false,
            steps: vec![
                (SetLimit(4), Outcome::Done),
                (
                    Until(b"\r\n"),
                    Outcome::LimitOverrun {
                        consumed: 7,
                        limit: 4,
                    },
                ),
                (Exactly(8), data(b"abcdefgh")),
            ],
        },
        Scenario {
            name: "a partial line at the end of the stream",
            input: b"no newline",
            eof: true,
            steps: vec![
                (Line, incomplete(b"no newline", None)),
                (Receive(1), Outcome::EndOfStream),
            ],
        },
        Scenario {
            name: "a multi-byte separator, a partial one at the end",
            input: b"a\r\nb\r\nc\r",
            eof: true,
            steps: vec![
                (Until(b"\r\n"), data(b"a\r\n")),
                (Until(b"\r\n"), data(b"b\r\n")),
                (Until(b"\r\n"), incomplete(b"c\r", None)),
            ],
        },
        Scenario {
            name: "timeouts keep what was received",
            input: b"par",
            eof: false,
            steps: vec![
                (LineWithin(20), Outcome::TimedOut),
                (Receive(2), data(b"pa")),
                (ExactlyWithin(5, 20), Outcome::TimedOut),
                (Receive(10), data(b"r")),
                (LineWithin(0), Outcome::TimedOut),
            ],
        },
        Scenario {
            name: "zero-byte receives",
            input: b"x",
            eof: true,
            steps: vec![
                (Receive(0), data(b"")),
                (Exactly(0), data(b"")),
                (Receive(5), data(b"x")),
                (Receive(0), data(b"")),
                (Receive(5), Outcome::EndOfStream),
            ],
        },
    ]
}

/// The writing end, with the scenario's bytes sent, and the reading end.
fn prepared(
    scenario: &Scenario,
) -> (
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixStream,
) {
    let (mut writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
    writer.write_all(scenario.input).unwrap();
    if scenario.eof {
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    }
    (writer, reader)
}

fn run_blocking(scenario: &Scenario) -> Vec<Step> {
    use packetwire::blocking::UnixStream;
    let (_writer, reader) = prepared(scenario);
    let mut stream = UnixStream::from_std(reader).unwrap();
    let within = |ms: u64| Some(Duration::from_millis(ms));
    scenario
        .steps
        .iter()
        .map(|(op, _)| {
            let outcome = match *op {
                Op::Receive(max) => Outcome::of(stream.receive(max)),
                Op::Exactly(n) => Outcome::of(stream.receive_exactly(n)),
                Op::Until(separator) => Outcome::of(stream.receive_until(separator)),
                Op::Line => Outcome::of(stream.receive_line()),
                Op::LineWithin(ms) => Outcome::of(stream.receive_line_within(within(ms))),
                Op::ExactlyWithin(n, ms) => {
                    Outcome::of(stream.receive_exactly_within(n, within(ms)))
                }
                Op::SetLimit(limit) => {
                    stream.set_limit(limit);
                    Outcome::Done
                }
            };
            (outcome, stream.buffered().to_vec())
        })
        .collect()
}

#[cfg(any(feature = "tokio", feature = "smol"))]
async fn run_async(
    scenario: &Scenario,
    rt: std::sync::Arc<dyn packetwire::runtime::Runtime>,
) -> Vec<Step> {
    use packetwire::net::UnixStream;
    use packetwire::runtime;
    let (_writer, reader) = prepared(scenario);
    let mut stream = UnixStream::from_std_with_runtime(reader, std::sync::Arc::clone(&rt)).unwrap();
    let mut steps = Vec::new();
    for (op, _) in &scenario.steps {
        let outcome = match *op {
            Op::Receive(max) => Outcome::of(stream.receive(max).await),
            Op::Exactly(n) => Outcome::of(stream.receive_exactly(n).await),
            Op::Until(separator) => Outcome::of(stream.receive_until(separator).await),
            Op::Line => Outcome::of(stream.receive_line().await),
            // The async shell times out by cancelling the call.
            Op::LineWithin(ms) => {
                match runtime::timeout(&*rt, Duration::from_millis(ms), stream.receive_line()).await
                {
                    Ok(result) => Outcome::of(result),
                    Err(_) => Outcome::TimedOut,
                }
            }
            Op::ExactlyWithin(n, ms) => {
                match runtime::timeout(&*rt, Duration::from_millis(ms), stream.receive_exactly(n))
                    .await
                {
                    Ok(result) => Outcome::of(result),
                    Err(_) => Outcome::TimedOut,
                }
            }
            Op::SetLimit(limit) => {
                stream.set_limit(limit);
                Outcome::Done
            }
        };
        steps.push((outcome, stream.buffered().to_vec()));
    }
    steps
}

fn check_expected(shell: &str, scenario: &Scenario, steps: &[Step]) {
    for (i, ((op, expected), (got, _))) in scenario.steps.iter().zip(steps).enumerate() {
        assert_eq!(
            got, expected,
            "{shell}, {:?}, step {i} ({op:?})",
            scenario.name
        );
    }
}

/// Runs `f` on a thread, bounded.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match receiver.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("timed out"),
    }
}

#[test]
fn blocking_shell_meets_the_table() {
    bounded(|| {
        for scenario in scenarios() {
            let steps = run_blocking(&scenario);
            check_expected("blocking", &scenario, &steps);
        }
    });
}

#[cfg(feature = "tokio")]
#[test]
fn blocking_and_tokio_shells_agree() {
    bounded(|| {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for scenario in scenarios() {
            let blocking = run_blocking(&scenario);
            let rt = tokio.block_on(async { packetwire::runtime::current().unwrap() });
            let asynchronous = tokio.block_on(run_async(&scenario, rt));
            check_expected("tokio", &scenario, &asynchronous);
            assert_eq!(blocking, asynchronous, "{:?}", scenario.name);
        }
    });
}

#[cfg(feature = "smol")]
#[test]
fn blocking_and_smol_shells_agree() {
    bounded(|| {
        for scenario in scenarios() {
            let blocking = run_blocking(&scenario);
            let asynchronous = smol::block_on(async {
                let rt = packetwire::runtime::current().unwrap();
                run_async(&scenario, rt).await
            });
            check_expected("smol", &scenario, &asynchronous);
            assert_eq!(blocking, asynchronous, "{:?}", scenario.name);
        }
    });
}
