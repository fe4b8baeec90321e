//! Control-message (cmsg) encoder and decoder, over plain byte buffers.
//!
//! This is the Linux kernel's layout (`include/linux/socket.h`), which is what `sendmsg(2)` and
//! `recvmsg(2)` read and write whatever the C library: a header of `size_t cmsg_len`,
//! `int cmsg_level`, `int cmsg_type`, padded to `sizeof(long)`; then the data, padded to
//! `sizeof(long)` before the next header. `cmsg_len` counts the header and the data, not the
//! trailing padding.
//!
//! Working on bytes rather than through `CMSG_FIRSTHDR`/`CMSG_NXTHDR` keeps this file free of
//! `unsafe` and of panics: every read and write is bounds-checked, and malformed input ends the
//! walk. The encoder checks capacity as it writes (the idea of quinn-udp's encoder). The unit
//! tests compare the layout with the C library's `CMSG_LEN`/`CMSG_SPACE`.
//!
//! Decoding gives raw file descriptor numbers; the caller (`msg.rs`) turns them into `OwnedFd`s
//! straight away, because only it knows that they come from the kernel.

use std::mem::size_of;
use std::os::fd::RawFd;

use crate::unix::Credentials;

/// Alignment of headers and data: `sizeof(long)`.
pub(crate) const ALIGN: usize = size_of::<usize>();

/// Rounds `len` up to [`ALIGN`], or `None` on overflow.
const fn align_checked(len: usize) -> Option<usize> {
    match len.checked_add(ALIGN - 1) {
        Some(n) => Some(n & !(ALIGN - 1)),
        None => None,
    }
}

/// Rounds `len` up to [`ALIGN`], saturating near `usize::MAX`.
const fn align_saturating(len: usize) -> usize {
    match align_checked(len) {
        Some(n) => n,
        None => usize::MAX & !(ALIGN - 1),
    }
}

/// `CMSG_LEN(0)`: size of the (padded) header.
pub(crate) const HEADER_LEN: usize = align_saturating(size_of::<usize>() + 2 * size_of::<i32>());

/// `CMSG_SPACE(data_len)`: room one message with `data_len` bytes of data takes in a buffer.
pub(crate) const fn space(data_len: usize) -> usize {
    HEADER_LEN.saturating_add(align_saturating(data_len))
}

/// `SOL_SOCKET` on Linux.
const SOL_SOCKET: i32 = 1;
/// `SCM_RIGHTS` on Linux.
const SCM_RIGHTS: i32 = 1;
/// `SCM_CREDENTIALS` on Linux.
const SCM_CREDENTIALS: i32 = 2;

/// Size of one file descriptor in `SCM_RIGHTS` data.
pub(crate) const FD_LEN: usize = size_of::<i32>();
/// Size of `struct ucred` (`pid_t pid; uid_t uid; gid_t gid;`).
pub(crate) const UCRED_LEN: usize = 3 * size_of::<i32>();

/// A control message as found in a received buffer, before its fds are owned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RawMessage {
    /// `SCM_RIGHTS`: descriptor numbers installed in this process by the kernel.
    Rights(Vec<RawFd>),
    /// `SCM_CREDENTIALS`.
    Credentials(Credentials),
}

/// Writes control messages into a buffer, checking capacity at every step.
pub(crate) struct Encoder<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Encoder<'a> {
    /// An encoder writing at the start of `buf`. `buf` should start at an [`ALIGN`] boundary.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Bytes written so far: the `msg_controllen` to hand to `sendmsg`.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends one message whose data is written by `fill` into a slice of `data_len` bytes.
    /// Returns `false`, writing nothing, when the buffer has no room.
    fn push(
        &mut self,
        level: i32,
        kind: i32,
        data_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        let Some(cmsg_len) = HEADER_LEN.checked_add(data_len) else {
            return false;
        };
        let Some(end) = align_checked(cmsg_len).and_then(|n| n.checked_add(self.len)) else {
            return false;
        };
        let Some(slot) = self.buf.get_mut(self.len..end) else {
            return false;
        };
        slot.fill(0);
        let (header, rest) = slot.split_at_mut(HEADER_LEN);
        let (len_field, rest_header) = header.split_at_mut(size_of::<usize>());
        len_field.copy_from_slice(&cmsg_len.to_ne_bytes());
        rest_header[..4].copy_from_slice(&level.to_ne_bytes());
        rest_header[4..8].copy_from_slice(&kind.to_ne_bytes());
        fill(&mut rest[..data_len]);
        self.len = end;
        true
    }

    /// Appends an `SCM_RIGHTS` message.
    pub(crate) fn push_rights(&mut self, fds: &[RawFd]) -> bool {
        let Some(data_len) = fds.len().checked_mul(FD_LEN) else {
            return false;
        };
        self.push(SOL_SOCKET, SCM_RIGHTS, data_len, |data| {
            for (chunk, fd) in data.chunks_exact_mut(FD_LEN).zip(fds) {
                chunk.copy_from_slice(&fd.to_ne_bytes());
            }
        })
    }

    /// Appends an `SCM_CREDENTIALS` message (the pid is written as given).
    pub(crate) fn push_credentials(&mut self, creds: Credentials) -> bool {
        self.push(SOL_SOCKET, SCM_CREDENTIALS, UCRED_LEN, |data| {
            data[0..4].copy_from_slice(&creds.pid.to_ne_bytes());
            data[4..8].copy_from_slice(&creds.uid.to_ne_bytes());
            data[8..12].copy_from_slice(&creds.gid.to_ne_bytes());
        })
    }
}

fn read_usize(bytes: &[u8], at: usize) -> Option<usize> {
    let raw = bytes.get(at..at.checked_add(size_of::<usize>())?)?;
    Some(usize::from_ne_bytes(raw.try_into().ok()?))
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    Some(i32::from_ne_bytes(raw.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(raw.try_into().ok()?))
}

/// Walks the control messages in `control` (the first `msg_controllen` bytes of the buffer).
///
/// `SCM_RIGHTS` and `SCM_CREDENTIALS` are returned; other messages are skipped. A message cut
/// by the end of the buffer gives what fits of it (whole descriptors only, as the kernel writes
/// them on `MSG_CTRUNC`); a header that cannot be right ends the walk. Never panics.
pub(crate) fn decode(control: &[u8]) -> Vec<RawMessage> {
    let mut messages = Vec::new();
    let mut at = 0usize;
    while let Some(header_end) = at.checked_add(HEADER_LEN) {
        if header_end > control.len() {
            break;
        }
        let (Some(cmsg_len), Some(level), Some(kind)) = (
            read_usize(control, at),
            read_i32(control, at + size_of::<usize>()),
            read_i32(control, at + size_of::<usize>() + 4),
        ) else {
            break;
        };
        if cmsg_len < HEADER_LEN {
            break;
        }
        let data_end = at.saturating_add(cmsg_len).min(control.len());
        let data = &control[header_end..data_end];
        match (level, kind) {
            (SOL_SOCKET, SCM_RIGHTS) => {
                let fds = data
                    .chunks_exact(FD_LEN)
                    .filter_map(|chunk| read_i32(chunk, 0))
                    .filter(|&fd| fd >= 0)
                    .collect();
                messages.push(RawMessage::Rights(fds));
            }
            (SOL_SOCKET, SCM_CREDENTIALS) => {
                if let (Some(pid), Some(uid), Some(gid)) =
                    (read_i32(data, 0), read_u32(data, 4), read_u32(data, 8))
                {
                    messages.push(RawMessage::Credentials(Credentials { pid, uid, gid }));
                }
            }
            _ => {}
        }
        match align_checked(cmsg_len).and_then(|step| at.checked_add(step)) {
            Some(next) => at = next,
            None => break,
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_c_library() {
        for data_len in [0usize, 1, 4, 8, 12, 40, 8192] {
            let c_len = data_len as libc::c_uint;
            // SAFETY: CMSG_LEN and CMSG_SPACE are arithmetic on their argument; they touch no
            // memory.
            let (c_cmsg_len, c_cmsg_space) =
                unsafe { (libc::CMSG_LEN(c_len), libc::CMSG_SPACE(c_len)) };
            assert_eq!(HEADER_LEN + data_len, c_cmsg_len as usize);
            assert_eq!(space(data_len), c_cmsg_space as usize);
        }
        assert_eq!(space(8192), 8208);
        assert_eq!(SOL_SOCKET, libc::SOL_SOCKET);
        assert_eq!(SCM_RIGHTS, libc::SCM_RIGHTS);
        assert_eq!(SCM_CREDENTIALS, libc::SCM_CREDENTIALS);
        assert_eq!(UCRED_LEN, size_of::<libc::ucred>());
        assert_eq!(HEADER_LEN, size_of::<libc::cmsghdr>());
    }

    #[test]
    fn round_trip() {
        let mut buf = vec![0u8; 256];
        let mut enc = Encoder::new(&mut buf);
        assert!(enc.push_rights(&[3, 4, 5]));
        let creds = Credentials {
            pid: 12,
            uid: 1000,
            gid: 100,
        };
        assert!(enc.push_credentials(creds));
        assert!(enc.push_rights(&[9]));
        let len = enc.len();
        assert_eq!(len, space(12) + space(UCRED_LEN) + space(4));
        assert_eq!(
            decode(&buf[..len]),
            vec![
                RawMessage::Rights(vec![3, 4, 5]),
                RawMessage::Credentials(creds),
                RawMessage::Rights(vec![9]),
            ]
        );
    }

    #[test]
    fn encoder_refuses_what_does_not_fit() {
        let mut buf = vec![0u8; space(4)];
        let mut enc = Encoder::new(&mut buf);
        assert!(!enc.push_rights(&[1, 2, 3]));
        assert_eq!(enc.len(), 0);
        assert!(enc.push_rights(&[1]));
        assert!(!enc.push_credentials(Credentials {
            pid: 1,
            uid: 1,
            gid: 1
        }));
        assert_eq!(enc.len(), space(4));
    }

    #[test]
    fn truncated_rights_keep_whole_descriptors() {
        let mut buf = vec![0u8; 256];
        let mut enc = Encoder::new(&mut buf);
        assert!(enc.push_rights(&[10, 11, 12]));
        // Cut in the middle of the third descriptor.
        assert_eq!(
            decode(&buf[..HEADER_LEN + 10]),
            vec![RawMessage::Rights(vec![10, 11])]
        );
        // Header only.
        assert_eq!(decode(&buf[..HEADER_LEN]), vec![RawMessage::Rights(vec![])]);
        // Not even a header.
        assert_eq!(decode(&buf[..HEADER_LEN - 1]), vec![]);
    }

    #[test]
    fn unknown_messages_are_skipped_and_bad_headers_stop() {
        let mut buf = vec![0u8; 256];
        let mut enc = Encoder::new(&mut buf);
        assert!(enc.push(SOL_SOCKET, 99, 5, |d| d.fill(7)));
        assert!(enc.push(41, SCM_RIGHTS, 4, |d| d.fill(1)));
        assert!(enc.push_rights(&[5]));
        let len = enc.len();
        assert_eq!(decode(&buf[..len]), vec![RawMessage::Rights(vec![5])]);

        // cmsg_len smaller than a header: stop, no loop, no panic.
        let mut bad = vec![0u8; 64];
        bad[..size_of::<usize>()].copy_from_slice(&3usize.to_ne_bytes());
        assert_eq!(decode(&bad), vec![]);
        // cmsg_len huge: clamp to the buffer, then stop.
        let mut huge = vec![0u8; 64];
        huge[..size_of::<usize>()].copy_from_slice(&usize::MAX.to_ne_bytes());
        huge[size_of::<usize>()..size_of::<usize>() + 4].copy_from_slice(&SOL_SOCKET.to_ne_bytes());
        huge[size_of::<usize>() + 4..size_of::<usize>() + 8]
            .copy_from_slice(&SCM_RIGHTS.to_ne_bytes());
        assert_eq!(
            decode(&huge),
            vec![RawMessage::Rights(vec![0; (64 - HEADER_LEN) / 4])]
        );
    }

    #[test]
    fn decode_never_panics_on_noise() {
        // A small deterministic generator (xorshift) over many lengths and contents.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..2000 {
            let len = round % 97;
            let mut buf = vec![0u8; len];
            for byte in &mut buf {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            if len >= HEADER_LEN && round % 3 == 0 {
                let small = (state as usize) % 64;
                buf[..size_of::<usize>()].copy_from_slice(&small.to_ne_bytes());
                buf[size_of::<usize>()..size_of::<usize>() + 4]
                    .copy_from_slice(&1i32.to_ne_bytes());
            }
            let _ = decode(&buf);
        }
    }
}
