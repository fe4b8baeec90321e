//! [`UnixSocketAddress`]: the address of a Unix socket, named, abstract or unnamed.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Size of `sun_path` in `struct sockaddr_un` on Linux.
pub(crate) const SUN_PATH_LEN: usize = 108;

/// The address of a Unix socket.
///
/// Three kinds exist on Linux, as `unix(7)` describes them:
///
/// * [`Unnamed`](Self::Unnamed): a socket that was never bound (a socketpair, or the client end
///   of a connection that did not bind);
/// * [`Pathname`](Self::Pathname): a socket bound to a file in the file system;
/// * [`Abstract`](Self::Abstract): a socket bound to a name in the abstract namespace, which
///   has no file and disappears with the last socket that uses it. The name is any byte string
///   (NUL bytes included); it is stored *without* the leading NUL byte of the raw address.
///
/// It [displays](fmt::Display) like `/proc/net/unix` and Python EasyNetwork's
/// `UnixSocketAddress`: `/tmp/x.sock`, `@name`, `<unnamed>`; and it [parses](FromStr) the
/// command-line form, where `@NAME` is an abstract name and anything else a pathname.
///
/// The variants are public, so a value built by hand may break the length limits; every call
/// that hands an address to the kernel checks it first ([`validate`](Self::validate)) and fails
/// with [`AddressError`] instead.
///
/// ```
/// use packetwire::unix::UnixSocketAddress;
///
/// let path = UnixSocketAddress::from_pathname("/tmp/x.sock")?;
/// assert_eq!(path.to_string(), "/tmp/x.sock");
///
/// let abstract_name: UnixSocketAddress = "@my-service".parse()?;
/// assert_eq!(abstract_name.as_abstract_name(), Some(&b"my-service"[..]));
/// assert_eq!(abstract_name.to_string(), "@my-service");
///
/// assert_eq!(UnixSocketAddress::Unnamed.to_string(), "<unnamed>");
/// # Ok::<(), packetwire::unix::AddressError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnixSocketAddress {
    /// No name: a socket that was not bound.
    #[default]
    Unnamed,
    /// A path in the file system. Never empty, never contains a NUL byte.
    Pathname(PathBuf),
    /// A name in Linux's abstract namespace, without the leading NUL byte.
    Abstract(Vec<u8>),
}

/// Why a [`UnixSocketAddress`] could not be built, parsed or used.
///
/// Converts into an [`io::Error`] of kind [`InvalidInput`](io::ErrorKind::InvalidInput).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// The pathname contains a NUL byte, which `sockaddr_un` cannot hold.
    ContainsNul,
    /// The pathname or abstract name does not fit in `sockaddr_un`.
    TooLong {
        /// Length of the name, in bytes.
        len: usize,
        /// The longest name of this kind, in bytes.
        max: usize,
    },
    /// The operation needs a named address (for example sending a datagram to a peer, or
    /// converting to [`std::os::unix::net::SocketAddr`], which cannot represent an unnamed
    /// address).
    Unnamed,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ContainsNul => f.write_str("Unix socket path contains a NUL byte"),
            Self::TooLong { len, max } => {
                write!(
                    f,
                    "Unix socket name is {len} bytes long, the limit is {max}"
                )
            }
            Self::Unnamed => f.write_str("a named Unix socket address is needed, got <unnamed>"),
        }
    }
}

impl std::error::Error for AddressError {}

impl From<AddressError> for io::Error {
    fn from(error: AddressError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, error)
    }
}

impl UnixSocketAddress {
    /// The longest pathname, in bytes (the whole `sun_path`; the kernel does not need a
    /// terminating NUL byte). [`to_std`](Self::to_std) accepts one byte less, as the standard
    /// library keeps room for the NUL.
    pub const MAX_PATHNAME_LEN: usize = SUN_PATH_LEN;

    /// The longest abstract name, in bytes (`sun_path` less the leading NUL byte).
    pub const MAX_ABSTRACT_NAME_LEN: usize = SUN_PATH_LEN - 1;

    /// A pathname address. The empty path gives [`Unnamed`](Self::Unnamed), as in EasyNetwork.
    ///
    /// ```
    /// use packetwire::unix::{AddressError, UnixSocketAddress};
    ///
    /// let addr = UnixSocketAddress::from_pathname("/run/app.sock")?;
    /// assert_eq!(addr.as_pathname(), Some(std::path::Path::new("/run/app.sock")));
    /// assert!(UnixSocketAddress::from_pathname("")?.is_unnamed());
    /// assert_eq!(UnixSocketAddress::from_pathname("a\0b"), Err(AddressError::ContainsNul));
    /// # Ok::<(), AddressError>(())
    /// ```
    pub fn from_pathname(path: impl AsRef<Path>) -> Result<Self, AddressError> {
        let path = path.as_ref();
        if path.as_os_str().is_empty() {
            return Ok(Self::Unnamed);
        }
        let addr = Self::Pathname(path.to_path_buf());
        addr.validate()?;
        Ok(addr)
    }

    /// An abstract address (Linux). `name` is given without the leading NUL byte.
    ///
    /// ```
    /// use packetwire::unix::UnixSocketAddress;
    ///
    /// let addr = UnixSocketAddress::from_abstract_name(b"hidden")?;
    /// assert_eq!(addr.to_string(), "@hidden");
    /// assert!(UnixSocketAddress::from_abstract_name([b'x'; 200]).is_err());
    /// # Ok::<(), packetwire::unix::AddressError>(())
    /// ```
    pub fn from_abstract_name(name: impl AsRef<[u8]>) -> Result<Self, AddressError> {
        let addr = Self::Abstract(name.as_ref().to_vec());
        addr.validate()?;
        Ok(addr)
    }

    /// Parses the raw form used by Python's `socket` module (and EasyNetwork's `from_raw`):
    /// empty for unnamed, a leading NUL byte for an abstract name, else a pathname (cut at the
    /// first NUL byte, as the kernel does).
    ///
    /// ```
    /// use packetwire::unix::UnixSocketAddress;
    ///
    /// assert_eq!(UnixSocketAddress::from_raw(b"\0name")?.to_string(), "@name");
    /// assert_eq!(UnixSocketAddress::from_raw(b"/tmp/s\0")?.to_string(), "/tmp/s");
    /// assert!(UnixSocketAddress::from_raw(b"")?.is_unnamed());
    /// # Ok::<(), packetwire::unix::AddressError>(())
    /// ```
    pub fn from_raw(raw: &[u8]) -> Result<Self, AddressError> {
        match raw {
            [] => Ok(Self::Unnamed),
            [0, name @ ..] => Self::from_abstract_name(name),
            path => {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                Self::from_pathname(OsStr::from_bytes(&path[..end]))
            }
        }
    }

    /// The raw form: what [`from_raw`](Self::from_raw) takes back.
    ///
    /// ```
    /// use packetwire::unix::UnixSocketAddress;
    ///
    /// let addr = UnixSocketAddress::from_abstract_name(b"name")?;
    /// assert_eq!(addr.to_raw(), b"\0name");
    /// # Ok::<(), packetwire::unix::AddressError>(())
    /// ```
    pub fn to_raw(&self) -> Vec<u8> {
        match self {
            Self::Unnamed => Vec::new(),
            Self::Pathname(path) => path.as_os_str().as_bytes().to_vec(),
            Self::Abstract(name) => {
                let mut raw = Vec::with_capacity(name.len() + 1);
                raw.push(0);
                raw.extend_from_slice(name);
                raw
            }
        }
    }

    /// Checks the invariants of each variant: a pathname is not empty, has no NUL byte and fits
    /// `sun_path`; an abstract name fits `sun_path` after the leading NUL byte.
    ///
    /// ```
    /// use std::path::PathBuf;
    /// use packetwire::unix::{AddressError, UnixSocketAddress};
    ///
    /// let long = UnixSocketAddress::Pathname(PathBuf::from("x".repeat(500)));
    /// assert_eq!(long.validate(), Err(AddressError::TooLong { len: 500, max: 108 }));
    /// ```
    pub fn validate(&self) -> Result<(), AddressError> {
        match self {
            Self::Unnamed => Ok(()),
            Self::Pathname(path) => {
                let bytes = path.as_os_str().as_bytes();
                if bytes.contains(&0) {
                    Err(AddressError::ContainsNul)
                } else if bytes.is_empty() {
                    // An empty path is how the kernel spells "unnamed": refuse the ambiguity.
                    Err(AddressError::Unnamed)
                } else if bytes.len() > Self::MAX_PATHNAME_LEN {
                    Err(AddressError::TooLong {
                        len: bytes.len(),
                        max: Self::MAX_PATHNAME_LEN,
                    })
                } else {
                    Ok(())
                }
            }
            Self::Abstract(name) => {
                if name.len() > Self::MAX_ABSTRACT_NAME_LEN {
                    Err(AddressError::TooLong {
                        len: name.len(),
                        max: Self::MAX_ABSTRACT_NAME_LEN,
                    })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Whether this is [`Unnamed`](Self::Unnamed).
    pub fn is_unnamed(&self) -> bool {
        matches!(self, Self::Unnamed)
    }

    /// The path, for a [`Pathname`](Self::Pathname) address.
    pub fn as_pathname(&self) -> Option<&Path> {
        match self {
            Self::Pathname(path) => Some(path),
            _ => None,
        }
    }

    /// The name without its leading NUL byte, for an [`Abstract`](Self::Abstract) address.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match self {
            Self::Abstract(name) => Some(name),
            _ => None,
        }
    }

    /// Converts to the standard library's address, to use with `UnixListener::bind_addr`,
    /// `UnixStream::connect_addr`, `UnixDatagram::bind_addr` and friends.
    ///
    /// Fails with [`AddressError::Unnamed`] for an unnamed address (the standard library has no
    /// way to build one), and for a 108-byte pathname (the standard library wants a NUL
    /// terminator to fit).
    ///
    /// ```
    /// use std::os::unix::net::{UnixListener, UnixStream};
    /// use packetwire::unix::UnixSocketAddress;
    ///
    /// let name = format!("@packetwire-doc-to-std-{}", std::process::id());
    /// let addr: UnixSocketAddress = name.parse()?;
    /// let listener = UnixListener::bind_addr(&addr.to_std()?)?;
    /// let _client = UnixStream::connect_addr(&addr.to_std()?)?;
    /// let (_server_side, _) = listener.accept()?;
    /// assert_eq!(UnixSocketAddress::from(listener.local_addr()?), addr);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_std(&self) -> Result<std::os::unix::net::SocketAddr, AddressError> {
        self.validate()?;
        match self {
            Self::Unnamed => Err(AddressError::Unnamed),
            Self::Pathname(path) => {
                std::os::unix::net::SocketAddr::from_pathname(path).map_err(|_| {
                    AddressError::TooLong {
                        len: path.as_os_str().len(),
                        max: Self::MAX_PATHNAME_LEN - 1,
                    }
                })
            }
            Self::Abstract(name) => std_abstract(name),
        }
    }
}

#[cfg(target_os = "linux")]
fn std_abstract(name: &[u8]) -> Result<std::os::unix::net::SocketAddr, AddressError> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(|_| AddressError::TooLong {
        len: name.len(),
        max: UnixSocketAddress::MAX_ABSTRACT_NAME_LEN,
    })
}

#[cfg(target_os = "android")]
fn std_abstract(name: &[u8]) -> Result<std::os::unix::net::SocketAddr, AddressError> {
    use std::os::android::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(|_| AddressError::TooLong {
        len: name.len(),
        max: UnixSocketAddress::MAX_ABSTRACT_NAME_LEN,
    })
}

#[cfg(target_os = "linux")]
fn std_as_abstract(addr: &std::os::unix::net::SocketAddr) -> Option<&[u8]> {
    use std::os::linux::net::SocketAddrExt;
    addr.as_abstract_name()
}

#[cfg(target_os = "android")]
fn std_as_abstract(addr: &std::os::unix::net::SocketAddr) -> Option<&[u8]> {
    use std::os::android::net::SocketAddrExt;
    addr.as_abstract_name()
}

impl From<&std::os::unix::net::SocketAddr> for UnixSocketAddress {
    fn from(addr: &std::os::unix::net::SocketAddr) -> Self {
        if let Some(path) = addr.as_pathname() {
            Self::Pathname(path.to_path_buf())
        } else if let Some(name) = std_as_abstract(addr) {
            Self::Abstract(name.to_vec())
        } else {
            Self::Unnamed
        }
    }
}

impl From<std::os::unix::net::SocketAddr> for UnixSocketAddress {
    fn from(addr: std::os::unix::net::SocketAddr) -> Self {
        Self::from(&addr)
    }
}

impl TryFrom<&UnixSocketAddress> for std::os::unix::net::SocketAddr {
    type Error = AddressError;

    fn try_from(addr: &UnixSocketAddress) -> Result<Self, AddressError> {
        addr.to_std()
    }
}

/// `/proc/net/unix` style: the path, `@` and the abstract name, or `<unnamed>`.
///
/// Abstract names are shown as UTF-8 where they are valid UTF-8 and printable; other bytes
/// (invalid UTF-8, control characters, NUL) are shown as `\xNN` and a backslash as `\\`, so the
/// text parses back to the same address with [`FromStr`].
impl fmt::Display for UnixSocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unnamed => f.write_str("<unnamed>"),
            Self::Pathname(path) => fmt::Display::fmt(&path.display(), f),
            Self::Abstract(name) => {
                f.write_str("@")?;
                for chunk in name.utf8_chunks() {
                    for c in chunk.valid().chars() {
                        match c {
                            '\\' => f.write_str("\\\\")?,
                            c if c.is_control() && c.is_ascii() => {
                                write!(f, "\\x{:02x}", c as u32)?
                            }
                            c => fmt::Write::write_char(f, c)?,
                        }
                    }
                    for byte in chunk.invalid() {
                        write!(f, "\\x{byte:02x}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Parses the command-line form: `@NAME` is an abstract name, the empty string is unnamed,
/// anything else is a pathname.
///
/// In an abstract name, `\\` stands for a backslash and `\xNN` (two hex digits) for a byte,
/// as [`Display`](fmt::Display) writes them; any other backslash is kept as it is.
///
/// ```
/// use packetwire::unix::UnixSocketAddress;
///
/// let addr: UnixSocketAddress = r"@a\x00b".parse()?;
/// assert_eq!(addr.as_abstract_name(), Some(&b"a\0b"[..]));
/// assert_eq!(addr.to_string(), r"@a\x00b");
/// let path: UnixSocketAddress = "./relative.sock".parse()?;
/// assert!(path.as_pathname().is_some());
/// # Ok::<(), packetwire::unix::AddressError>(())
/// ```
impl FromStr for UnixSocketAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, AddressError> {
        match s.strip_prefix('@') {
            Some(name) => Self::from_abstract_name(unescape(name.as_bytes())),
            None => Self::from_pathname(s),
        }
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&byte) = text.get(i) {
        if byte == b'\\' {
            if let Some([b'x', hi, lo]) = text.get(i + 1..i + 4) {
                if let (Some(hi), Some(lo)) = (hex_value(*hi), hex_value(*lo)) {
                    out.push(hi << 4 | lo);
                    i += 4;
                    continue;
                }
            }
            if text.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
        }
        out.push(byte);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip_for_odd_abstract_names() {
        let names: [&[u8]; 7] = [
            b"",
            b"plain",
            b"a\0b",
            b"back\\slash",
            b"\xff\xfe",
            b"caf\xc3\xa9",
            b"\\x41",
        ];
        for name in names {
            let addr = UnixSocketAddress::from_abstract_name(name).unwrap();
            let text = addr.to_string();
            let back: UnixSocketAddress = text.parse().unwrap();
            assert_eq!(back, addr, "{text}");
        }
        assert_eq!(
            UnixSocketAddress::from_abstract_name(b"caf\xc3\xa9")
                .unwrap()
                .to_string(),
            "@café"
        );
    }

    #[test]
    fn unescape_keeps_stray_backslashes() {
        assert_eq!(unescape(br"a\qb\x4"), br"a\qb\x4".to_vec());
        assert_eq!(unescape(br"\x41\\"), b"A\\".to_vec());
        assert_eq!(unescape(br"\"), b"\\".to_vec());
    }

    #[test]
    fn limits() {
        assert!(UnixSocketAddress::from_abstract_name([1u8; 107]).is_ok());
        assert_eq!(
            UnixSocketAddress::from_abstract_name([1u8; 108]),
            Err(AddressError::TooLong { len: 108, max: 107 })
        );
        assert!(UnixSocketAddress::from_pathname("p".repeat(108)).is_ok());
        assert!(UnixSocketAddress::from_pathname("p".repeat(109)).is_err());
        assert_eq!(
            UnixSocketAddress::Pathname(PathBuf::new()).validate(),
            Err(AddressError::Unnamed)
        );
        assert_eq!(
            UnixSocketAddress::Unnamed.to_std().unwrap_err(),
            AddressError::Unnamed
        );
    }

    #[test]
    fn raw_forms() {
        for raw in [&b""[..], b"\0", b"\0abc", b"/x/y"] {
            assert_eq!(UnixSocketAddress::from_raw(raw).unwrap().to_raw(), raw);
        }
        assert_eq!(
            UnixSocketAddress::from_raw(b"/x\0junk").unwrap().to_raw(),
            b"/x"
        );
        assert!(UnixSocketAddress::from_raw(b"\0")
            .unwrap()
            .as_abstract_name()
            .unwrap()
            .is_empty());
    }
}
