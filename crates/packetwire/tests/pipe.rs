//! Pipes as byte streams, on tokio and smol.
#![cfg(any(feature = "tokio", feature = "smol"))]

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{payload, runtime_tests, zip};
use packetwire::net::{
    pipe, pipe_with_runtime, AdoptError, PipeReader, PipeWriter, ReceiveError, SendError,
};

runtime_tests! {
    async fn pipe_round_trip_and_end_of_stream(rt) {
        let (mut reader, mut writer) = pipe_with_runtime(Arc::clone(&rt))?;
        writer.send_all(b"first line\nsecond").await?;
        writer.flush().await?;
        assert_eq!(reader.receive_line().await?, "first line\n");
        drop(writer);
        match reader.receive_line().await {
            Err(ReceiveError::IncompleteRead { partial, .. }) => assert_eq!(partial, "second"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(reader.receive(10).await, Err(ReceiveError::EndOfStream)));
        assert!(reader.at_eof());
        Ok(())
    }

    async fn pipe_large_payload_waits_for_room(rt) {
        // Far more than a pipe's 64 KiB buffer: the writer must wait for the reader.
        let (mut reader, mut writer) = pipe()?;
        let data = payload(1024 * 1024);
        let sending = async {
            writer.send_all(&data).await?;
            drop(writer);
            Ok::<_, SendError>(())
        };
        let (sent, got) = zip(sending, reader.receive_exactly(data.len())).await;
        sent?;
        assert!(got? == data);
        let _ = rt;
        Ok(())
    }

    async fn pipe_to_a_child_process(rt) {
        let mut child = match Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn() {
            Ok(child) => child,
            Err(_) => return Ok(()), // no `cat` here
        };
        let mut to_child = PipeWriter::from_fd(child.stdin.take().unwrap())?;
        let mut from_child = PipeReader::from_fd(child.stdout.take().unwrap())?;
        let lines = [&b"alpha\n"[..], b"beta\n", b"gamma\n"];
        to_child.send_all_vectored(&lines.map(std::io::IoSlice::new)).await?;
        drop(to_child);
        for line in lines {
            assert_eq!(from_child.receive_line().await?, line);
        }
        assert!(matches!(from_child.receive(1).await, Err(ReceiveError::EndOfStream)));
        child.wait()?;
        let _ = rt;
        Ok(())
    }

    async fn adopting_the_wrong_end_or_a_file_fails(rt) {
        let (read_end, write_end) = rustix::pipe::pipe()?;
        assert!(matches!(PipeWriter::from_fd(read_end), Err(AdoptError::WrongType { .. })));
        assert!(matches!(PipeReader::from_fd(write_end), Err(AdoptError::WrongType { .. })));
        let file = tempfile::tempfile()?;
        match PipeReader::from_fd(file) {
            Err(AdoptError::WrongType { found, .. }) => assert!(found.contains("Regular"), "{found}"),
            other => panic!("unexpected {other:?}"),
        }
        let _ = rt;
        Ok(())
    }

    #[cfg(feature = "tokio")]
    async fn pipe_tokio_io_traits(rt) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut reader, mut writer) = pipe()?;
        writer.write_all(b"abc").await?;
        writer.shutdown().await?; // a no-op for pipes: drop closes
        drop(writer);
        let mut all = String::new();
        reader.read_to_string(&mut all).await?;
        assert_eq!(all, "abc");
        let _ = rt;
        Ok(())
    }
}
