//! Conversions between [`UnixSocketAddress`] and the kernel's `sockaddr_un`: by hand for
//! `sendmsg`, `recvmsg`, `getsockname` and `getpeername`, and to rustix's form for `bind`,
//! `connect` and `sendto`. No `unsafe` here.

use std::mem::size_of;
use std::os::unix::ffi::OsStrExt;

use rustix::net::SocketAddrUnix;

use crate::unix::address::SUN_PATH_LEN;
use crate::unix::{AddressError, UnixSocketAddress};

/// Offset of `sun_path` in `sockaddr_un`: the size of `sa_family_t`.
const SUN_PATH_OFFSET: usize = size_of::<libc::sa_family_t>();

/// A `sockaddr_un` with the Unix family and an empty path.
pub(crate) fn empty_unix() -> libc::sockaddr_un {
    libc::sockaddr_un {
        sun_family: libc::AF_UNIX as libc::sa_family_t,
        sun_path: [0; SUN_PATH_LEN],
    }
}

/// A named address as `sockaddr_un` and its length, for `sendmsg`'s `msg_name`.
pub(crate) fn encode_unix(
    addr: &UnixSocketAddress,
) -> Result<(libc::sockaddr_un, libc::socklen_t), AddressError> {
    addr.validate()?;
    let mut raw = empty_unix();
    let used = match addr {
        UnixSocketAddress::Unnamed => return Err(AddressError::Unnamed),
        UnixSocketAddress::Pathname(path) => {
            let bytes = path.as_os_str().as_bytes();
            for (slot, &byte) in raw.sun_path.iter_mut().zip(bytes) {
                *slot = byte as libc::c_char;
            }
            // Count the terminating NUL when there is room for it, as `SUN_LEN` does.
            (bytes.len() + 1).min(SUN_PATH_LEN)
        }
        UnixSocketAddress::Abstract(name) => {
            for (slot, &byte) in raw.sun_path.iter_mut().skip(1).zip(name) {
                *slot = byte as libc::c_char;
            }
            1 + name.len()
        }
    };
    Ok((raw, (SUN_PATH_OFFSET + used) as libc::socklen_t))
}

/// The address `recvmsg` wrote in `raw` with length `len`. `None` when there is no address
/// (length 0) or it is not a Unix one.
pub(crate) fn decode_unix(
    raw: &libc::sockaddr_un,
    len: libc::socklen_t,
) -> Option<UnixSocketAddress> {
    let len = len as usize;
    if len == 0 || raw.sun_family != libc::AF_UNIX as libc::sa_family_t {
        return None;
    }
    let path_len = len.saturating_sub(SUN_PATH_OFFSET).min(SUN_PATH_LEN);
    let bytes: Vec<u8> = raw.sun_path[..path_len].iter().map(|&c| c as u8).collect();
    UnixSocketAddress::from_raw(&bytes).ok()
}

/// The rustix form of a named address; an unnamed one gives the empty address (which `bind`
/// takes as "auto-bind" on Linux).
pub(crate) fn to_rustix(addr: &UnixSocketAddress) -> std::io::Result<SocketAddrUnix> {
    addr.validate()?;
    Ok(match addr {
        UnixSocketAddress::Unnamed => SocketAddrUnix::new_unnamed(),
        UnixSocketAddress::Pathname(path) => SocketAddrUnix::new(path.as_path())?,
        UnixSocketAddress::Abstract(name) => SocketAddrUnix::new_abstract_name(name)?,
    })
}

/// The named rustix form, for `connect` and `sendto`.
pub(crate) fn to_rustix_named(addr: &UnixSocketAddress) -> std::io::Result<SocketAddrUnix> {
    if addr.is_unnamed() {
        return Err(AddressError::Unnamed.into());
    }
    to_rustix(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let addrs = [
            UnixSocketAddress::from_pathname("/tmp/a.sock").unwrap(),
            UnixSocketAddress::from_pathname("p".repeat(108)).unwrap(),
            UnixSocketAddress::from_abstract_name(b"").unwrap(),
            UnixSocketAddress::from_abstract_name(b"x\0y").unwrap(),
            UnixSocketAddress::from_abstract_name([7u8; 107]).unwrap(),
        ];
        for addr in addrs {
            let (raw, len) = encode_unix(&addr).unwrap();
            assert_eq!(decode_unix(&raw, len), Some(addr.clone()));
            assert!(to_rustix(&addr).is_ok());
        }
        assert_eq!(
            encode_unix(&UnixSocketAddress::Unnamed).unwrap_err(),
            AddressError::Unnamed
        );
        assert_eq!(
            decode_unix(&empty_unix(), SUN_PATH_OFFSET as _),
            Some(UnixSocketAddress::Unnamed)
        );
        assert_eq!(decode_unix(&empty_unix(), 0), None);
        assert!(decode_unix(&empty_unix(), 5000).is_some());
    }
}
