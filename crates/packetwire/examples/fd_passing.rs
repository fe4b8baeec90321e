//! Passing file descriptors and credentials over Unix sockets (`SCM_RIGHTS`,
//! `SCM_CREDENTIALS`): a pipe's write end travels over a stream socket pair and over a datagram
//! socket pair, and the receiver writes through it; the async half runs on tokio.
//!
//! Run: `cargo run -p packetwire --example fd_passing`

use std::fs::File;
use std::io::{Read, Write};

use packetwire::unix::{Credentials, SocketAncillary};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    blocking_stream()?;
    blocking_datagram()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async_stream())?;
    Ok(())
}

/// Blocking Unix stream: the descriptor goes with the first byte of the message.
fn blocking_stream() -> Result<(), Box<dyn std::error::Error>> {
    let (mut left, mut right) = packetwire::blocking::socketpair()?;
    let (reader, writer) = packetwire::os::pipe()?;

    let mut out = SocketAncillary::new();
    out.add_fd(&writer);
    left.send_all_with_ancillary(b"here is a pipe", &out)?;
    drop(out);
    drop(writer); // the receiver now holds the only write end

    let mut received = SocketAncillary::new();
    let data = right.receive_with_ancillary(1024, &mut received)?;
    // Received descriptors are owned: closed on drop unless taken.
    let fd = received.take_fds().pop().ok_or("no descriptor arrived")?;
    File::from(fd).write_all(b"written by the receiver")?;

    let mut text = String::new();
    File::from(reader).read_to_string(&mut text)?;
    println!(
        "stream: got {:?} and a pipe; through it: {text:?}",
        String::from_utf8_lossy(&data)
    );
    println!("stream: peer credentials {:?}", right.peer_credentials()?);
    Ok(())
}

/// Blocking Unix datagram: descriptors and the sender's credentials with one datagram.
fn blocking_datagram() -> Result<(), Box<dyn std::error::Error>> {
    let (left, right) = packetwire::blocking::UnixDatagram::pair()?;
    right.set_passcred(true)?;
    let (reader, writer) = packetwire::os::pipe()?;

    let mut out = SocketAncillary::new();
    out.add_fd(&writer).add_creds(Credentials::current());
    left.send_with_ancillary(b"datagram with a pipe", &out)?;
    drop(out);
    drop(writer);

    let mut received = SocketAncillary::new();
    let (datagram, _sender) = right.receive_with_ancillary(&mut received)?;
    let creds: Vec<Credentials> = received.credentials().collect();
    File::from(received.take_fds().pop().ok_or("no descriptor arrived")?).write_all(b"hi")?;
    let mut text = String::new();
    File::from(reader).read_to_string(&mut text)?;
    println!(
        "datagram: got {:?} from {creds:?}; through the pipe: {text:?}",
        String::from_utf8_lossy(&datagram)
    );
    Ok(())
}

/// The same over an async stream pair.
async fn async_stream() -> Result<(), Box<dyn std::error::Error>> {
    let (mut left, mut right) = packetwire::net::socketpair()?;
    let (reader, writer) = packetwire::os::pipe()?;
    let mut out = SocketAncillary::new();
    out.add_fd(&writer);
    left.send_all_with_ancillary(b"async pipe", &out).await?;
    drop(out);
    drop(writer);

    let mut received = SocketAncillary::new();
    let data = right.receive_with_ancillary(1024, &mut received).await?;
    File::from(received.take_fds().pop().ok_or("no descriptor arrived")?).write_all(b"async")?;
    let mut text = String::new();
    File::from(reader).read_to_string(&mut text)?;
    println!(
        "async: got {:?}; through the pipe: {text:?}",
        String::from_utf8_lossy(&data)
    );
    Ok(())
}
