//! One error type per TLS operation: building a configuration, the handshake, connecting.

use std::fmt;
use std::io;
use std::path::PathBuf;

use rustls::pki_types::pem;

use crate::net::ConnectError;
use crate::runtime::NoRuntime;

/// Why a TLS configuration could not be built: a PEM file that cannot be read or parsed, a
/// certificate or key that rustls refuses, or a verifier that has nothing to trust.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A PEM file or buffer could not be read or parsed.
    Pem {
        /// The file, or `None` for PEM bytes given in memory.
        path: Option<PathBuf>,
        /// The parser's error (with the I/O error when the file could not be read).
        source: pem::Error,
    },
    /// A PEM file or buffer holds no certificate (or no private key, when a key was
    /// expected).
    Empty {
        /// The file, or `None` for PEM bytes given in memory.
        path: Option<PathBuf>,
        /// What was looked for: `"certificate"` or `"private key"`.
        what: &'static str,
    },
    /// A client configuration verifies server certificates but trusts no root certificate:
    /// add some, enable the Mozilla roots (feature `tls-webpki-roots`), or opt out of
    /// verification explicitly for tests.
    NoRootCertificates,
    /// The server name override is neither a DNS name nor an IP address.
    InvalidServerName(String),
    /// rustls refused the configuration (a malformed root certificate, a private key that
    /// does not match the certificate or that it cannot use, ...).
    Rustls(rustls::Error),
    /// The client-certificate verifier could not be built (for instance, no root
    /// certificate to verify clients against).
    ClientVerifier(rustls::server::VerifierBuilderError),
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem {
                path: Some(path),
                source,
            } => write!(f, "cannot read PEM file {}: {source}", path.display()),
            Self::Pem { path: None, source } => write!(f, "cannot parse PEM data: {source}"),
            Self::Empty {
                path: Some(path),
                what,
            } => write!(f, "no {what} in PEM file {}", path.display()),
            Self::Empty { path: None, what } => write!(f, "no {what} in the PEM data"),
            Self::NoRootCertificates => f.write_str(
                "no root certificate to verify the server with (add root certificates, or \
                 disable verification explicitly)",
            ),
            Self::InvalidServerName(name) => write!(f, "invalid TLS server name {name:?}"),
            Self::Rustls(e) => write!(f, "invalid TLS configuration: {e}"),
            Self::ClientVerifier(e) => write!(f, "cannot verify client certificates: {e}"),
        }
    }
}

impl std::error::Error for TlsConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Pem { source, .. } => Some(source),
            Self::Rustls(e) => Some(e),
            Self::ClientVerifier(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rustls::Error> for TlsConfigError {
    fn from(error: rustls::Error) -> Self {
        Self::Rustls(error)
    }
}

impl From<rustls::server::VerifierBuilderError> for TlsConfigError {
    fn from(error: rustls::server::VerifierBuilderError) -> Self {
        Self::ClientVerifier(error)
    }
}

impl From<TlsConfigError> for io::Error {
    fn from(error: TlsConfigError) -> Self {
        let kind = match &error {
            TlsConfigError::Pem {
                source: pem::Error::Io(e),
                ..
            } => e.kind(),
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, error)
    }
}

/// Why a TLS handshake failed. The TCP connection is closed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsHandshakeError {
    /// The handshake did not complete within the handshake timeout (60 s by default, as in
    /// EasyNetwork): for instance, the peer does not speak TLS.
    TimedOut,
    /// The TLS protocol failed: the peer's certificate was refused
    /// ([`rustls::Error::InvalidCertificate`], or [`rustls::Error::NoCertificatesPresented`]
    /// when a required client certificate is missing), the peer refused ours
    /// ([`rustls::Error::AlertReceived`]), no common protocol version or cipher suite, garbage
    /// instead of TLS records, ...
    Tls(rustls::Error),
    /// The connection failed (reset, or closed by the peer in the middle of the handshake).
    Io(io::Error),
    /// No runtime was given and none could be found.
    NoRuntime,
    /// The server name to verify is neither a DNS name nor an IP address.
    InvalidServerName(String),
}

impl TlsHandshakeError {
    /// Sorts an error from the TLS driver: rustls' own errors come out typed.
    pub(crate) fn from_io(error: io::Error) -> Self {
        let tls = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned();
        match tls {
            Some(tls) => Self::Tls(tls),
            None => Self::Io(error),
        }
    }

    /// The rustls error, if the TLS protocol failed.
    pub fn tls_error(&self) -> Option<&rustls::Error> {
        match self {
            Self::Tls(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the peer's certificate was refused here
    /// ([`rustls::Error::InvalidCertificate`] or [`rustls::Error::NoCertificatesPresented`]).
    pub fn is_certificate_error(&self) -> bool {
        matches!(
            self,
            Self::Tls(
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        )
    }

    /// The closest [`io::ErrorKind`] (what `From<TlsHandshakeError> for io::Error` uses).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::TimedOut => io::ErrorKind::TimedOut,
            Self::Tls(_) => io::ErrorKind::InvalidData,
            Self::Io(e) => e.kind(),
            Self::NoRuntime => io::ErrorKind::Unsupported,
            Self::InvalidServerName(_) => io::ErrorKind::InvalidInput,
        }
    }
}

impl fmt::Display for TlsHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut => f.write_str("TLS handshake timed out"),
            Self::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            Self::Io(e) => write!(f, "TLS handshake failed: {e}"),
            Self::NoRuntime => NoRuntime.fmt(f),
            Self::InvalidServerName(name) => write!(f, "invalid TLS server name {name:?}"),
        }
    }
}

impl std::error::Error for TlsHandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Tls(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// rustls errors carried by the I/O error come out as [`TlsHandshakeError::Tls`].
impl From<io::Error> for TlsHandshakeError {
    fn from(error: io::Error) -> Self {
        Self::from_io(error)
    }
}

impl From<NoRuntime> for TlsHandshakeError {
    fn from(_: NoRuntime) -> Self {
        Self::NoRuntime
    }
}

impl From<TlsHandshakeError> for io::Error {
    fn from(error: TlsHandshakeError) -> Self {
        match error {
            TlsHandshakeError::Io(e) => e,
            e => io::Error::new(e.kind(), e),
        }
    }
}

/// Why a TLS connection could not be opened: the TCP connection, or the handshake after it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsConnectError {
    /// The TCP connection failed (resolution, refused, timed out, ...).
    Connect(ConnectError),
    /// The TCP connection was made, and the TLS handshake over it failed.
    Handshake(TlsHandshakeError),
}

impl TlsConnectError {
    /// The handshake error, if the TCP connection was made.
    pub fn handshake_error(&self) -> Option<&TlsHandshakeError> {
        match self {
            Self::Handshake(e) => Some(e),
            Self::Connect(_) => None,
        }
    }

    /// The closest [`io::ErrorKind`] (what `From<TlsConnectError> for io::Error` uses).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Connect(e) => e.kind(),
            Self::Handshake(e) => e.kind(),
        }
    }
}

impl fmt::Display for TlsConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => e.fmt(f),
            Self::Handshake(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TlsConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(e) => Some(e),
            Self::Handshake(e) => Some(e),
        }
    }
}

impl From<ConnectError> for TlsConnectError {
    fn from(error: ConnectError) -> Self {
        Self::Connect(error)
    }
}

impl From<TlsHandshakeError> for TlsConnectError {
    fn from(error: TlsHandshakeError) -> Self {
        Self::Handshake(error)
    }
}

impl From<TlsConnectError> for io::Error {
    fn from(error: TlsConnectError) -> Self {
        match error {
            TlsConnectError::Connect(e) => e.into(),
            TlsConnectError::Handshake(e) => e.into(),
        }
    }
}
