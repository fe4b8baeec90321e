//! TLS over TCP streams, with [rustls] (feature `tls`).
//!
//! | | client | server |
//! |---|---|---|
//! | options | [`TlsClientConfig`] | [`TlsServerConfig`] |
//! | built into | [`TlsConnector`] | [`TlsAcceptor`] |
//! | open | [`TlsConnector::connect`], [`connect_tls`] | [`TlsListener::accept`], [`TlsListener::serve`] |
//! | over a TCP stream | [`TlsConnector::handshake`] | [`TlsAcceptor::accept`] |
//! | stream | [`TlsStream`] | [`TlsStream`] |
//! | blocking | [`TlsConnector::connect_blocking`] → [`BlockingTlsStream`] | [`TlsAcceptor::accept_blocking`] → [`BlockingTlsStream`] |
//!
//! [`TlsStream`] speaks the vocabulary of [`TcpStream`](crate::net::TcpStream) (`receive`,
//! `receive_exactly`, `receive_until`, `receive_line`, `send_all`, `send_all_vectored`,
//! `flush`, `send_eof`), adds the session's details, and implements tokio's and futures-io's
//! `AsyncRead`/`AsyncWrite`.
//!
//! ```text
//!  socket ──▶ TcpStream halves (runtime seam) ──▶ rustls (tokio-rustls) ──▶ ReceiveBuffer ──▶ receive*
//! ```
//!
//! # Choices
//!
//! - **Crypto provider.** Every configuration is built with rustls' `ring` provider, passed
//!   explicitly (`builder_with_provider`): the process-wide default provider is neither used
//!   nor installed, so no "no process-level CryptoProvider" panic can happen, and a program
//!   that installs another default is not affected.
//! - **Trust.** No implicit trust store: a client verifies the server against the root
//!   certificates it is given (PEM files or DER), plus Mozilla's roots with
//!   [`TlsClientConfig::webpki_roots`] (feature `tls-webpki-roots`). The operating system's
//!   store is not read. [`TlsClientConfig::dangerous_insecure_no_verification`] turns
//!   verification off, for tests.
//! - **Timeouts** (EasyNetwork's defaults): handshakes must finish within
//!   [`TLS_HANDSHAKE_TIMEOUT`] (60 s), [`TlsStream::close`] within [`TLS_SHUTDOWN_TIMEOUT`]
//!   (30 s), both on the runtime's clock.
//! - **Half-close.** [`TlsStream::send_eof`] sends `close_notify` and shuts down the TCP
//!   write side, where EasyNetwork refuses `send_eof` over TLS; see
//!   [`TlsStream`](TlsStream#ending-the-connection).
//! - **One driver for every runtime.** tokio-rustls drives rustls over the TCP stream's own
//!   I/O, which goes through the runtime seam; it needs tokio's I/O traits only, not tokio's
//!   runtime, so the same code serves smol (and any [`Runtime`](crate::runtime::Runtime)).
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use packetwire::tls::{connect_tls, TlsClientConfig, TlsListener, TlsServerConfig};
//!
//! // A certificate for "localhost"; a real server loads its own with `from_pem_files`.
//! let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
//! let cert = certified.cert.der().clone();
//! let key = certified.signing_key.serialize_der().try_into()?;
//!
//! let acceptor = TlsServerConfig::new(vec![cert.clone()], key).build()?;
//! let server = TlsListener::bind("localhost", 0, acceptor).await?.serve(|mut stream| async move {
//!     while let Ok(line) = stream.receive_line().await {
//!         if stream.send_all(&line).await.is_err() {
//!             return;
//!         }
//!     }
//!     let _ = stream.close().await;
//! });
//! let port = server.local_addrs()[0].port();
//!
//! let connector = TlsClientConfig::new().root_certificates([cert]).build()?;
//! let mut stream = connect_tls("localhost", port, &connector).await?;
//! stream.send_all(b"hello\n").await?;
//! assert_eq!(stream.receive_line().await?, &b"hello\n"[..]);
//! stream.send_eof().await?;
//! assert!(stream.receive(1024).await.unwrap_err().is_end_of_stream());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod blocking;
mod config;
mod error;
mod listener;
mod stream;

pub use blocking::BlockingTlsStream;
pub use config::{
    certificates_from_pem, certificates_from_pem_file, connect_tls, private_key_from_pem,
    private_key_from_pem_file, TlsAcceptor, TlsClientConfig, TlsConnector, TlsServerConfig,
    TLS_HANDSHAKE_TIMEOUT, TLS_SHUTDOWN_TIMEOUT,
};
pub use error::{TlsConfigError, TlsConnectError, TlsHandshakeError};
pub use listener::{HandshakeErrorHandler, TlsListener, DEFAULT_MAX_PENDING_HANDSHAKES};
pub use stream::TlsStream;

/// The rustls crate packetwire is built with, for [`TlsConnector::from_rustls`],
/// [`TlsAcceptor::from_rustls`] and the error and certificate types.
pub use rustls;
/// Certificate and key types ([`CertificateDer`], [`PrivateKeyDer`], ...).
pub use rustls::pki_types;
pub use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}

    #[test]
    fn public_types_are_send_and_sync() {
        send_sync::<TlsStream>();
        send_sync::<BlockingTlsStream>();
        send_sync::<TlsConnector>();
        send_sync::<TlsAcceptor>();
        send_sync::<TlsClientConfig>();
        send_sync::<TlsServerConfig>();
        send_sync::<TlsConfigError>();
        send_sync::<TlsHandshakeError>();
        send_sync::<TlsConnectError>();
        fn send_only<T: Send>() {}
        send_only::<TlsListener>();
    }

    /// Compiled, never run: every future can go to a multi-threaded executor.
    #[allow(dead_code, clippy::let_underscore_future)]
    async fn futures_are_send(
        stream: &mut TlsStream,
        connector: &TlsConnector,
        acceptor: &TlsAcceptor,
        listener: &mut TlsListener,
        tcp: crate::net::TcpStream,
    ) {
        send(&stream.receive(1));
        send(&stream.receive_line());
        send(&stream.send_all(b""));
        send(&stream.send_all_vectored(&[]));
        send(&stream.send_eof());
        send(&connector.connect("localhost", 1));
        send(&listener.accept());
        send(&acceptor.accept(tcp));
    }

    #[test]
    fn no_roots_is_an_error() {
        assert!(matches!(
            TlsClientConfig::new().build(),
            Err(TlsConfigError::NoRootCertificates)
        ));
        assert!(TlsClientConfig::new()
            .dangerous_insecure_no_verification()
            .build()
            .is_ok());
    }

    #[test]
    fn bad_pem_is_an_error() {
        assert!(matches!(
            certificates_from_pem(b"nothing here"),
            Err(TlsConfigError::Empty { .. })
        ));
        assert!(matches!(
            private_key_from_pem(b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n"),
            Err(TlsConfigError::Pem { .. })
        ));
        let missing = certificates_from_pem_file("/nonexistent/packetwire.pem").unwrap_err();
        assert_eq!(
            std::io::Error::from(missing).kind(),
            std::io::ErrorKind::NotFound
        );
    }

    #[test]
    fn invalid_server_name_is_an_error() {
        let result = TlsClientConfig::new()
            .dangerous_insecure_no_verification()
            .server_name("not a name!")
            .build();
        assert!(matches!(result, Err(TlsConfigError::InvalidServerName(_))));
    }

    #[cfg(feature = "tls-webpki-roots")]
    #[test]
    fn webpki_roots_are_enough() {
        assert!(TlsClientConfig::new().webpki_roots().build().is_ok());
    }
}
