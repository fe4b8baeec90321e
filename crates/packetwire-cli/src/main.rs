//! The `packetwire` command-line tool: encode and decode packets with any of packetwire's
//! serializers and wrappers.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod address;
mod bench;
mod codec;
mod demo;
mod send;
mod serve;
mod tls;

/// Typed packets on the command line.
#[derive(Debug, Parser)]
#[command(name = "packetwire", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Echo load generator: N connections send messages, read the echo back, check it and
    /// time every request; prints requests per second, throughput and latency percentiles.
    Bench(bench::BenchArgs),
    /// A guided tour: two JSON servers (Unix socket, TCP), a blocking and an async client, a
    /// file descriptor passed with a request, a bad packet survived, a clean shutdown.
    Demo,
    /// Read framed bytes on stdin and print each packet as one line of compact JSON.
    Decode(codec::DecodeArgs),
    /// Read JSON values on stdin, one per line, and write their framed bytes to stdout.
    Encode(codec::EncodeArgs),
    /// Serve ADDR: echo every packet back to its sender until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Send packets (JSON values, as arguments or one per stdin line) to a server and print
    /// each reply as one line of compact JSON.
    Send(send::SendArgs),
}

/// How packets are turned into bytes: the options every verb shares.
#[derive(Debug, Clone, Args)]
pub(crate) struct SerializerArgs {
    /// Serializer: json, json-raw, line, msgpack, cbor, pickle, struct:FORMAT,
    /// record:NAME=FMT,..., postcard; `serve` also takes raw (each received chunk) and
    /// line-bytes (lines of bytes up to 64 KiB, not decoded).
    #[arg(long, short = 's')]
    serializer: String,
    // Help text in an attribute: rustdoc would read the brackets as links.
    #[arg(
        long,
        short = 'w',
        value_delimiter = ',',
        help = "Wrappers, innermost first: base64[:standard|:urlsafe][:checksum][:key=KEY], zlib, \
                bz2, zstd (each with an optional :level=N). `--wrap zlib,base64` is base64 of zlib"
    )]
    wrap: Vec<String>,
    /// Packet-size limit in bytes (default: 65536).
    #[arg(long)]
    limit: Option<usize>,
    /// Line ending for the line serializer: lf, cr or crlf.
    #[arg(long)]
    newline: Option<String>,
    /// Text encoding for the line and record serializers: ascii, utf-8 or latin-1.
    #[arg(long)]
    encoding: Option<String>,
}

impl SerializerArgs {
    pub(crate) fn spec(&self) -> packetwire::dynamic::CodecSpec {
        packetwire::dynamic::CodecSpec {
            serializer: self.serializer.clone(),
            wrap: self
                .wrap
                .iter()
                .filter(|w| !w.is_empty())
                .cloned()
                .collect(),
            newline: self.newline.clone(),
            encoding: self.encoding.clone(),
            limit: self.limit,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::bench(&args).map(|()| ExitCode::SUCCESS),
        Command::Decode(args) => codec::decode(&args),
        Command::Demo => demo::demo().map(|()| ExitCode::SUCCESS),
        Command::Encode(args) => codec::encode(&args),
        Command::Send(args) => send::send(&args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve::serve(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("packetwire: {message}");
            ExitCode::FAILURE
        }
    }
}
