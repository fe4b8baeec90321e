//! The `ADDR` argument of `send`, `serve` and `bench`: `tcp://HOST:PORT`, `udp://HOST:PORT`,
//! `tls://HOST:PORT`, `unix:PATH`, `unix:@NAME` (a Linux abstract name), `unix-dgram:PATH` and
//! `unix-dgram:@NAME`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A parsed `ADDR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    /// `tcp://HOST:PORT`.
    Tcp { host: String, port: u16 },
    /// `tls://HOST:PORT`: TCP with TLS.
    Tls { host: String, port: u16 },
    /// `udp://HOST:PORT`.
    Udp { host: String, port: u16 },
    /// `unix:PATH` or `unix:@NAME`.
    Unix(PathBuf),
    /// `unix-dgram:PATH` or `unix-dgram:@NAME`.
    UnixDatagram(PathBuf),
}

impl Address {
    /// Whether the transport carries datagrams (UDP, Unix datagram) rather than a stream.
    pub(crate) fn is_datagram(&self) -> bool {
        matches!(self, Self::Udp { .. } | Self::UnixDatagram(_))
    }

    /// The transport's short name, as in the scheme.
    pub(crate) fn transport(&self) -> &'static str {
        match self {
            Self::Tcp { .. } => "tcp",
            Self::Tls { .. } => "tls",
            Self::Udp { .. } => "udp",
            Self::Unix(_) => "unix",
            Self::UnixDatagram(_) => "unix-dgram",
        }
    }
}

/// Why an `ADDR` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddressError(String);

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AddressError {}

fn host_port(rest: &str, original: &str) -> Result<(String, u16), AddressError> {
    let bad = |why: &str| AddressError(format!("bad address {original:?}: {why}"));
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        // [IPv6]:PORT
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after an IPv6 address"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| bad("expected ':PORT' after ']'"))?;
        (host, port)
    } else {
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad("expected HOST:PORT"))?;
        if host.contains(':') {
            return Err(bad("write an IPv6 address in brackets: [::1]:PORT"));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
    Ok((host.to_owned(), port))
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, AddressError> {
        if let Some(rest) = text.strip_prefix("tcp://") {
            let (host, port) = host_port(rest, text)?;
            return Ok(Self::Tcp { host, port });
        }
        if let Some(rest) = text.strip_prefix("tls://") {
            let (host, port) = host_port(rest, text)?;
            return Ok(Self::Tls { host, port });
        }
        if let Some(rest) = text.strip_prefix("udp://") {
            let (host, port) = host_port(rest, text)?;
            return Ok(Self::Udp { host, port });
        }
        let path = |rest: &str| {
            if rest.is_empty() || rest == "@" {
                Err(AddressError(format!(
                    "bad address {text:?}: the path is empty"
                )))
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        if let Some(rest) = text.strip_prefix("unix-dgram:") {
            return Ok(Self::UnixDatagram(path(rest)?));
        }
        if let Some(rest) = text.strip_prefix("unix:") {
            return Ok(Self::Unix(path(rest)?));
        }
        Err(AddressError(format!(
            "bad address {text:?}: expected tcp://HOST:PORT, udp://HOST:PORT, tls://HOST:PORT, \
             unix:PATH, unix:@NAME or unix-dgram:PATH"
        )))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host_port = |f: &mut fmt::Formatter<'_>, scheme: &str, host: &str, port: u16| {
            if host.contains(':') {
                write!(f, "{scheme}://[{host}]:{port}")
            } else {
                write!(f, "{scheme}://{host}:{port}")
            }
        };
        match self {
            Self::Tcp { host, port } => host_port(f, "tcp", host, *port),
            Self::Tls { host, port } => host_port(f, "tls", host, *port),
            Self::Udp { host, port } => host_port(f, "udp", host, *port),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
            Self::UnixDatagram(path) => write!(f, "unix-dgram:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Address {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_form_parses_and_prints_back() {
        for text in [
            "tcp://127.0.0.1:8000",
            "tcp://localhost:0",
            "tcp://[::1]:9",
            "udp://127.0.0.1:53",
            "tls://example.com:443",
            "unix:/tmp/x.sock",
            "unix:@abstract",
            "unix-dgram:/tmp/d.sock",
            "unix-dgram:@name",
        ] {
            assert_eq!(parse(text).to_string(), text);
        }
        assert_eq!(
            parse("tcp://[::1]:9"),
            Address::Tcp {
                host: "::1".into(),
                port: 9
            }
        );
        assert_eq!(parse("unix:@abstract"), Address::Unix("@abstract".into()));
        assert!(parse("udp://h:1").is_datagram());
        assert!(parse("unix-dgram:/x").is_datagram());
        assert!(!parse("unix:/x").is_datagram());
    }

    #[test]
    fn bad_addresses_say_why() {
        for (text, why) in [
            ("http://x:1", "expected tcp://"),
            ("tcp://x", "expected HOST:PORT"),
            ("tcp://:80", "the host is empty"),
            ("tcp://x:70000", "the port"),
            ("tcp://::1:80", "brackets"),
            ("tcp://[::1]80", "':PORT'"),
            ("unix:", "the path is empty"),
            ("unix-dgram:@", "the path is empty"),
        ] {
            let error = text.parse::<Address>().unwrap_err().to_string();
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
