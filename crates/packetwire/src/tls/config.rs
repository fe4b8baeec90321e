//! Client and server configurations, built with an explicit crypto provider (ring), and the
//! connector and acceptor that run handshakes with them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, CryptoProvider};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use super::error::{TlsConfigError, TlsConnectError, TlsHandshakeError};
use super::stream::{RawStream, TlsStream};
use crate::net::{TcpConnectOptions, TcpStream};
use crate::runtime::{self, Elapsed};

/// How long a TLS handshake may take by default (EasyNetwork's `SSL_HANDSHAKE_TIMEOUT`).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`TlsStream::close`] may take by default to send `close_notify` (EasyNetwork's
/// `SSL_SHUTDOWN_TIMEOUT`).
pub const TLS_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The crypto provider of every configuration built here. It is passed to rustls explicitly
/// (`builder_with_provider`), so the process-wide default provider is neither needed nor
/// installed: no "no process-level CryptoProvider" panic, whatever else the program links.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(crypto::ring::default_provider())
}

/// What every TLS stream keeps from its configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamSettings {
    pub(crate) handshake_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) standard_compatible: bool,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            shutdown_timeout: TLS_SHUTDOWN_TIMEOUT,
            standard_compatible: true,
        }
    }
}

fn pem_certificates(
    path: Option<&Path>,
    items: impl Iterator<Item = Result<CertificateDer<'static>, pem::Error>>,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certificates =
        items
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsConfigError::Pem {
                path: path.map(Path::to_path_buf),
                source,
            })?;
    if certificates.is_empty() {
        return Err(TlsConfigError::Empty {
            path: path.map(Path::to_path_buf),
            what: "certificate",
        });
    }
    Ok(certificates)
}

/// Reads every certificate of a PEM file (`-----BEGIN CERTIFICATE-----` sections; other
/// sections are skipped). An empty result is an error.
pub fn certificates_from_pem_file(
    path: impl AsRef<Path>,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let path = path.as_ref();
    let items = CertificateDer::pem_file_iter(path).map_err(|source| TlsConfigError::Pem {
        path: Some(path.to_path_buf()),
        source,
    })?;
    pem_certificates(Some(path), items)
}

/// Parses every certificate of PEM data. An empty result is an error.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    pem_certificates(None, CertificateDer::pem_slice_iter(pem))
}

fn pem_key(
    path: Option<&Path>,
    result: Result<PrivateKeyDer<'static>, pem::Error>,
) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    result.map_err(|source| match source {
        pem::Error::NoItemsFound => TlsConfigError::Empty {
            path: path.map(Path::to_path_buf),
            what: "private key",
        },
        source => TlsConfigError::Pem {
            path: path.map(Path::to_path_buf),
            source,
        },
    })
}

/// Reads the first private key of a PEM file (PKCS #8, PKCS #1 or SEC1).
pub fn private_key_from_pem_file(
    path: impl AsRef<Path>,
) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let path = path.as_ref();
    pem_key(Some(path), PrivateKeyDer::from_pem_file(path))
}

/// Parses the first private key of PEM data (PKCS #8, PKCS #1 or SEC1).
pub fn private_key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    pem_key(None, PrivateKeyDer::from_pem_slice(pem))
}

/// How a client checks the server's certificate.
#[derive(Debug, Clone)]
enum ServerVerification {
    /// Against these roots (and the Mozilla roots if asked).
    Roots {
        roots: Vec<CertificateDer<'static>>,
        webpki_roots: bool,
    },
    /// Not at all.
    DangerousNone,
}

/// The options of a TLS client, built into a [`TlsConnector`] with [`build`](Self::build).
///
/// The server's certificate is verified against the root certificates given here (there is
/// no implicit trust store: add roots, enable the Mozilla roots with
/// [`webpki_roots`](Self::webpki_roots) and feature `tls-webpki-roots`, or, for tests only,
/// turn verification off with
/// [`dangerous_insecure_no_verification`](Self::dangerous_insecure_no_verification)). The
/// server name checked is the host connected to, unless [`server_name`](Self::server_name)
/// overrides it.
///
/// Protocol versions are TLS 1.3 and 1.2 with rustls' safe defaults; the crypto provider is
/// rustls' `ring` provider, given explicitly (the process-wide default provider is never
/// used).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::tls::TlsClientConfig;
///
/// # let dir = tempfile::tempdir()?;
/// # let ca_path = dir.path().join("ca.pem");
/// # let ca = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// # std::fs::write(&ca_path, ca.cert.pem())?;
/// let connector = TlsClientConfig::new()
///     .root_certificates_pem_file(&ca_path)?
///     .alpn_protocols(["h2", "http/1.1"])
///     .handshake_timeout(Duration::from_secs(10))
///     .build()?;
/// // connector.connect("localhost", 443).await?
/// # let _ = connector;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct TlsClientConfig {
    verification: ServerVerification,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: Vec<Vec<u8>>,
    server_name: Option<String>,
    sni: bool,
    settings: StreamSettings,
    tcp: TcpConnectOptions,
}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private key stays out of the output.
        f.debug_struct("TlsClientConfig")
            .field("verification", &self.verification)
            .field("client_certificate", &self.client_auth.is_some())
            .field("alpn", &self.alpn)
            .field("server_name", &self.server_name)
            .field("sni", &self.sni)
            .field("settings", &self.settings)
            .field("tcp", &self.tcp)
            .finish()
    }
}

impl Clone for TlsClientConfig {
    fn clone(&self) -> Self {
        Self {
            verification: self.verification.clone(),
            client_auth: self
                .client_auth
                .as_ref()
                .map(|(chain, key)| (chain.clone(), key.clone_key())),
            alpn: self.alpn.clone(),
            server_name: self.server_name.clone(),
            sni: self.sni,
            settings: self.settings,
            tcp: self.tcp.clone(),
        }
    }
}

impl Default for TlsClientConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsClientConfig {
    /// No root certificate yet, no client certificate, no ALPN, SNI on, a 60 s handshake
    /// timeout, a 30 s shutdown timeout, standard-compatible closing, default TCP options.
    pub fn new() -> Self {
        Self {
            verification: ServerVerification::Roots {
                roots: Vec::new(),
                webpki_roots: false,
            },
            client_auth: None,
            alpn: Vec::new(),
            server_name: None,
            sni: true,
            settings: StreamSettings::default(),
            tcp: TcpConnectOptions::new(),
        }
    }

    fn roots_mut(&mut self) -> Option<&mut Vec<CertificateDer<'static>>> {
        match &mut self.verification {
            ServerVerification::Roots { roots, .. } => Some(roots),
            ServerVerification::DangerousNone => None,
        }
    }

    /// Trusts these root certificates (DER). Ignored once verification is turned off.
    pub fn root_certificates(
        mut self,
        certificates: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Self {
        if let Some(roots) = self.roots_mut() {
            roots.extend(certificates);
        }
        self
    }

    /// Trusts the root certificates of a PEM file.
    pub fn root_certificates_pem_file(
        self,
        path: impl AsRef<Path>,
    ) -> Result<Self, TlsConfigError> {
        Ok(self.root_certificates(certificates_from_pem_file(path)?))
    }

    /// Trusts the root certificates of PEM data.
    pub fn root_certificates_pem(self, pem: &[u8]) -> Result<Self, TlsConfigError> {
        Ok(self.root_certificates(certificates_from_pem(pem)?))
    }

    /// Also trusts Mozilla's root certificates, as shipped by the `webpki-roots` crate
    /// (compiled in, not read from the system).
    #[cfg(feature = "tls-webpki-roots")]
    pub fn webpki_roots(mut self) -> Self {
        if let ServerVerification::Roots { webpki_roots, .. } = &mut self.verification {
            *webpki_roots = true;
        }
        self
    }

    /// **Dangerous: for tests only.** Accepts any server certificate, for any name, from any
    /// issuer, expired or not: anyone on the path can impersonate the server. The handshake
    /// signature is still checked against the certificate's key. Root certificates given
    /// before or after are ignored.
    pub fn dangerous_insecure_no_verification(mut self) -> Self {
        self.verification = ServerVerification::DangerousNone;
        self
    }

    /// Presents this certificate chain (leaf first) and private key when the server asks
    /// for a client certificate.
    pub fn client_certificate(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.client_auth = Some((chain, key));
        self
    }

    /// [`client_certificate`](Self::client_certificate) from PEM files.
    pub fn client_certificate_pem_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsConfigError> {
        let chain = certificates_from_pem_file(chain)?;
        let key = private_key_from_pem_file(key)?;
        Ok(self.client_certificate(chain, key))
    }

    /// The application protocols offered with ALPN, most preferred first (none by default).
    /// [`TlsStream::alpn_protocol`] tells which one the server chose.
    pub fn alpn_protocols<P: AsRef<[u8]>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Verifies the server's certificate for this name (a DNS name or an IP address) instead
    /// of the host connected to; it is also the name sent with SNI.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Whether to send the server name with SNI (on by default; never sent for IP
    /// addresses).
    pub fn sni(mut self, enabled: bool) -> Self {
        self.sni = enabled;
        self
    }

    /// How long the handshake may take ([`TLS_HANDSHAKE_TIMEOUT`], 60 s, by default). TCP
    /// connection time is not included: see [`tcp_options`](Self::tcp_options).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.settings.handshake_timeout = timeout;
        self
    }

    /// How long [`TlsStream::close`] may take ([`TLS_SHUTDOWN_TIMEOUT`], 30 s, by default).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.settings.shutdown_timeout = timeout;
        self
    }

    /// EasyNetwork's `ssl_standard_compatible` (on by default): [`TlsStream::close`] sends
    /// `close_notify`, and a peer that closes the TCP connection without sending one is an
    /// error (a truncation attack cannot pass for the end of the stream). Off: `close` skips
    /// `close_notify`, and such a "ragged" end of stream is a normal one.
    pub fn standard_compatible(mut self, enabled: bool) -> Self {
        self.settings.standard_compatible = enabled;
        self
    }

    /// How to open the TCP connection (timeout, local address, Happy Eyeballs delay, buffer
    /// limit, runtime) in [`TlsConnector::connect`].
    pub fn tcp_options(mut self, options: TcpConnectOptions) -> Self {
        self.tcp = options;
        self
    }

    /// Builds the rustls configuration and the connector.
    pub fn build(self) -> Result<TlsConnector, TlsConfigError> {
        let server_name = match self.server_name {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|_| TlsConfigError::InvalidServerName(name))?,
            ),
            None => None,
        };
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let builder = match self.verification {
            ServerVerification::Roots {
                roots,
                webpki_roots,
            } => {
                let mut store = RootCertStore::empty();
                for root in roots {
                    store.add(root)?;
                }
                #[cfg(feature = "tls-webpki-roots")]
                if webpki_roots {
                    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
                #[cfg(not(feature = "tls-webpki-roots"))]
                let _ = webpki_roots;
                if store.is_empty() {
                    return Err(TlsConfigError::NoRootCertificates);
                }
                // Uses the builder's provider for signature algorithms.
                builder.with_root_certificates(store)
            }
            ServerVerification::DangerousNone => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(DangerousNoVerification { provider })),
        };
        let mut config = match self.client_auth {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        config.enable_sni = self.sni;
        Ok(TlsConnector {
            config: Arc::new(config),
            server_name,
            settings: self.settings,
            tcp: self.tcp,
        })
    }
}

/// Accepts any server certificate: the "no verification" mode, for tests. The handshake
/// signatures are still verified, with the provider's algorithms.
#[derive(Debug)]
struct DangerousNoVerification {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for DangerousNoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS client: a rustls configuration and the connection options. Cheap to clone; build
/// one with [`TlsClientConfig`], or wrap a rustls configuration of your own with
/// [`from_rustls`](Self::from_rustls).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::tls::{certificates_from_pem, private_key_from_pem, TlsClientConfig, TlsListener, TlsServerConfig};
///
/// # let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// # let (cert_pem, key_pem) = (certified.cert.pem(), certified.signing_key.serialize_pem());
/// let acceptor = TlsServerConfig::new(
///     certificates_from_pem(cert_pem.as_bytes())?,
///     private_key_from_pem(key_pem.as_bytes())?,
/// )
/// .build()?;
/// let server = TlsListener::bind("127.0.0.1", 0, acceptor).await?.serve(|mut stream| async move {
///     if let Ok(line) = stream.receive_line().await {
///         let _ = stream.send_all(&line).await;
///         let _ = stream.close().await;
///     }
/// });
/// let port = server.local_addrs()[0].port();
///
/// let connector = TlsClientConfig::new()
///     .root_certificates_pem(cert_pem.as_bytes())?
///     .server_name("localhost")
///     .build()?;
/// let mut stream = connector.connect("127.0.0.1", port).await?;
/// stream.send_all(b"hello\n").await?;
/// assert_eq!(stream.receive_line().await?, &b"hello\n"[..]);
/// assert!(stream.receive(1).await.unwrap_err().is_end_of_stream());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    settings: StreamSettings,
    tcp: TcpConnectOptions,
}

impl TlsConnector {
    /// Uses a rustls configuration built elsewhere, with the default timeouts and TCP
    /// options. The configuration's crypto provider is whatever it was built with.
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            server_name: None,
            settings: StreamSettings::default(),
            tcp: TcpConnectOptions::new(),
        }
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.settings.handshake_timeout
    }

    pub(crate) fn settings(&self) -> StreamSettings {
        self.settings
    }

    pub(crate) fn tcp_options(&self) -> &TcpConnectOptions {
        &self.tcp
    }

    pub(crate) fn server_name(&self) -> Option<&ServerName<'static>> {
        self.server_name.as_ref()
    }

    /// Connects over TCP to `host:port` (with the configured [`TcpConnectOptions`]), then
    /// runs the handshake, verifying the server's certificate for `host` (or the configured
    /// server name).
    pub async fn connect(&self, host: &str, port: u16) -> Result<TlsStream, TlsConnectError> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => parse_server_name(host)?,
        };
        let stream = self.tcp.connect(host, port).await?;
        Ok(self.handshake_as(stream, name).await?)
    }

    /// Runs the client handshake over a connected TCP stream (accepted, adopted with
    /// [`TcpStream::from_std`], or after a plain-text exchange such as `STARTTLS`), verifying
    /// the server's certificate for `server_name`. Bytes already buffered in the stream are
    /// read first, as part of the TLS stream.
    pub async fn handshake(
        &self,
        stream: TcpStream,
        server_name: &str,
    ) -> Result<TlsStream, TlsHandshakeError> {
        let name = parse_server_name(server_name)?;
        self.handshake_as(stream, name).await
    }

    async fn handshake_as(
        &self,
        stream: TcpStream,
        name: ServerName<'static>,
    ) -> Result<TlsStream, TlsHandshakeError> {
        let (raw, runtime, limit) = RawStream::new(stream);
        let connecting =
            tokio_rustls::TlsConnector::from(Arc::clone(&self.config)).connect(name, raw);
        let timeout = self.settings.handshake_timeout;
        match runtime::timeout(&*runtime, timeout, connecting).await {
            Ok(Ok(tls)) => Ok(TlsStream::new(tls.into(), runtime, limit, self.settings)),
            Ok(Err(e)) => Err(TlsHandshakeError::from_io(e)),
            Err(Elapsed) => Err(TlsHandshakeError::TimedOut),
        }
    }
}

pub(crate) fn parse_server_name(name: &str) -> Result<ServerName<'static>, TlsHandshakeError> {
    // An IPv6 literal may come bracketed, as in URLs.
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(bare.to_owned())
        .map_err(|_| TlsHandshakeError::InvalidServerName(name.to_owned()))
}

/// Connects to `host:port` over TLS with `connector`: [`TlsConnector::connect`].
pub async fn connect_tls(
    host: &str,
    port: u16,
    connector: &TlsConnector,
) -> Result<TlsStream, TlsConnectError> {
    connector.connect(host, port).await
}

/// Whether and how a server asks for client certificates.
#[derive(Debug, Clone)]
enum ClientAuth {
    None,
    Optional(Vec<CertificateDer<'static>>),
    Required(Vec<CertificateDer<'static>>),
}

/// The options of a TLS server, built into a [`TlsAcceptor`] with [`build`](Self::build):
/// the certificate chain and key, optional client-certificate verification, ALPN, timeouts.
///
/// Protocol versions are TLS 1.3 and 1.2 with rustls' safe defaults; the crypto provider is
/// rustls' `ring` provider, given explicitly.
pub struct TlsServerConfig {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: ClientAuth,
    alpn: Vec<Vec<u8>>,
    settings: StreamSettings,
}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private key stays out of the output.
        f.debug_struct("TlsServerConfig")
            .field("chain", &self.chain.len())
            .field("client_auth", &self.client_auth)
            .field("alpn", &self.alpn)
            .field("settings", &self.settings)
            .finish()
    }
}

impl Clone for TlsServerConfig {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            client_auth: self.client_auth.clone(),
            alpn: self.alpn.clone(),
            settings: self.settings,
        }
    }
}

impl TlsServerConfig {
    /// Serves this certificate chain (leaf first) with this private key; no client
    /// certificate, no ALPN, a 60 s handshake timeout, a 30 s shutdown timeout,
    /// standard-compatible closing.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self {
            chain,
            key,
            client_auth: ClientAuth::None,
            alpn: Vec::new(),
            settings: StreamSettings::default(),
        }
    }

    /// [`new`](Self::new) from PEM files: the certificate chain (leaf first) and the private
    /// key (PKCS #8, PKCS #1 or SEC1), which may be the same file.
    pub fn from_pem_files(
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsConfigError> {
        Ok(Self::new(
            certificates_from_pem_file(chain)?,
            private_key_from_pem_file(key)?,
        ))
    }

    /// Requires a client certificate issued by one of `roots`: a client without one fails
    /// the handshake ([`rustls::Error::NoCertificatesPresented`]).
    pub fn require_client_certificates(
        mut self,
        roots: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Self {
        self.client_auth = ClientAuth::Required(roots.into_iter().collect());
        self
    }

    /// Asks for a client certificate, verified against `roots` when one is presented; a
    /// client without one is accepted too ([`TlsStream::peer_certificates`] is then `None`).
    pub fn request_client_certificates(
        mut self,
        roots: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Self {
        self.client_auth = ClientAuth::Optional(roots.into_iter().collect());
        self
    }

    /// The application protocols accepted with ALPN, most preferred first (none by
    /// default). A client offering none of them fails the handshake; a client offering no
    /// ALPN at all is accepted.
    pub fn alpn_protocols<P: AsRef<[u8]>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// How long the handshake of each connection may take ([`TLS_HANDSHAKE_TIMEOUT`], 60 s,
    /// by default).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.settings.handshake_timeout = timeout;
        self
    }

    /// How long [`TlsStream::close`] may take ([`TLS_SHUTDOWN_TIMEOUT`], 30 s, by default).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.settings.shutdown_timeout = timeout;
        self
    }

    /// EasyNetwork's `ssl_standard_compatible`; see
    /// [`TlsClientConfig::standard_compatible`].
    pub fn standard_compatible(mut self, enabled: bool) -> Self {
        self.settings.standard_compatible = enabled;
        self
    }

    /// Builds the rustls configuration and the acceptor.
    pub fn build(self) -> Result<TlsAcceptor, TlsConfigError> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let client_verifier = |roots: Vec<CertificateDer<'static>>| {
            let mut store = RootCertStore::empty();
            for root in roots {
                store.add(root)?;
            }
            Ok::<_, TlsConfigError>(WebPkiClientVerifier::builder_with_provider(
                Arc::new(store),
                Arc::clone(&provider),
            ))
        };
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Required(roots) => {
                builder.with_client_cert_verifier(client_verifier(roots)?.build()?)
            }
            ClientAuth::Optional(roots) => builder.with_client_cert_verifier(
                client_verifier(roots)?.allow_unauthenticated().build()?,
            ),
        };
        let mut config = builder.with_single_cert(self.chain, self.key)?;
        config.alpn_protocols = self.alpn;
        Ok(TlsAcceptor {
            config: Arc::new(config),
            settings: self.settings,
        })
    }
}

/// A TLS server: a rustls configuration and the handshake options, to run the server side
/// of handshakes over accepted TCP streams. Cheap to clone. A [`TlsListener`](super::TlsListener)
/// uses one for every connection.
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    settings: StreamSettings,
}

impl TlsAcceptor {
    /// Uses a rustls configuration built elsewhere, with the default timeouts. The
    /// configuration's crypto provider is whatever it was built with.
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self {
            config,
            settings: StreamSettings::default(),
        }
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.settings.handshake_timeout
    }

    pub(crate) fn settings(&self) -> StreamSettings {
        self.settings
    }

    /// Runs the server handshake over an accepted TCP stream, within the handshake timeout.
    /// Bytes already buffered in the stream are read first, as part of the TLS stream.
    pub async fn accept(&self, stream: TcpStream) -> Result<TlsStream, TlsHandshakeError> {
        let (raw, runtime, limit) = RawStream::new(stream);
        let accepting = tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config)).accept(raw);
        let timeout = self.settings.handshake_timeout;
        match runtime::timeout(&*runtime, timeout, accepting).await {
            Ok(Ok(tls)) => Ok(TlsStream::new(tls.into(), runtime, limit, self.settings)),
            Ok(Err(e)) => Err(TlsHandshakeError::from_io(e)),
            Err(Elapsed) => Err(TlsHandshakeError::TimedOut),
        }
    }
}
