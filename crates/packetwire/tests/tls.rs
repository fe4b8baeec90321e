//! TLS over TCP on loopback, every test on tokio and on smol. Certificates are made here with
//! rcgen: a CA, a server leaf for "localhost" and 127.0.0.1, a client leaf, and a second CA
//! that nobody trusts. No test installs a process-wide crypto provider.
#![cfg(all(feature = "tls", any(feature = "tokio", feature = "smol")))]

mod common;

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{payload, runtime_tests, sleep, zip};
use packetwire::net::{ReceiveError, SendError, TcpListener, TcpStream};
use packetwire::runtime::{self, Runtime};
use packetwire::tls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use packetwire::tls::rustls::{self, CertificateError, ProtocolVersion};
use packetwire::tls::{
    connect_tls, TlsAcceptor, TlsClientConfig, TlsConnectError, TlsConnector, TlsHandshakeError,
    TlsListener, TlsServerConfig, TlsStream,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

type TestError = Box<dyn std::error::Error + Send + Sync>;

/// The test certificates.
struct Pki {
    ca: CertificateDer<'static>,
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
    server_chain_pem: String,
    server_key_pem: String,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: Vec<u8>,
    untrusted_ca: CertificateDer<'static>,
    untrusted_chain: Vec<CertificateDer<'static>>,
    untrusted_key: Vec<u8>,
}

fn make_ca(name: &str) -> (CertificateParams, KeyPair, rcgen::Certificate) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    (params, key, cert)
}

fn make_leaf(
    ca: &(CertificateParams, KeyPair, rcgen::Certificate),
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "packetwire test leaf");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let issuer = Issuer::from_params(&ca.0, &ca.1);
    (params.signed_by(&key, &issuer).unwrap(), key)
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = make_ca("packetwire test CA");
        let (server, server_key) = make_leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client, client_key) = make_leaf(&ca, &[], ExtendedKeyUsagePurpose::ClientAuth);
        let untrusted_ca = make_ca("nobody trusts this CA");
        let (untrusted, untrusted_key) = make_leaf(
            &untrusted_ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        Pki {
            ca: ca.2.der().clone(),
            ca_pem: ca.2.pem(),
            server_chain: vec![server.der().clone(), ca.2.der().clone()],
            server_key: server_key.serialize_der(),
            server_chain_pem: format!("{}{}", server.pem(), ca.2.pem()),
            server_key_pem: server_key.serialize_pem(),
            client_chain: vec![client.der().clone()],
            client_key: client_key.serialize_der(),
            untrusted_ca: untrusted_ca.2.der().clone(),
            untrusted_chain: vec![untrusted.der().clone()],
            untrusted_key: untrusted_key.serialize_der(),
        }
    })
}

fn key(der: &[u8]) -> PrivateKeyDer<'static> {
    PrivatePkcs8KeyDer::from(der.to_vec()).into()
}

/// The server, with a bounded handshake timeout so no test waits a minute.
fn server_config() -> TlsServerConfig {
    let pki = pki();
    TlsServerConfig::new(pki.server_chain.clone(), key(&pki.server_key))
        .handshake_timeout(Duration::from_secs(10))
}

/// A client trusting the test CA.
fn client_config() -> TlsClientConfig {
    TlsClientConfig::new()
        .root_certificates([pki().ca.clone()])
        .handshake_timeout(Duration::from_secs(10))
}

/// A TLS connection over loopback, both sides' results: the client connects to `host`.
async fn pair_with(
    connector: &TlsConnector,
    acceptor: &TlsAcceptor,
    host: &str,
) -> (
    Result<TlsStream, TlsConnectError>,
    Result<TlsStream, TlsHandshakeError>,
) {
    let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
    let port = listener.local_addrs()[0].port();
    zip(connector.connect(host, port), async {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await
    })
    .await
}

/// A working TLS connection: (client, server).
async fn tls_pair(
    client: TlsClientConfig,
    server: TlsServerConfig,
) -> Result<(TlsStream, TlsStream), TestError> {
    let (client, server) = pair_with(&client.build()?, &server.build()?, "localhost").await;
    Ok((client?, server?))
}

/// What a handshake error handler saw (the fields are read through `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
enum Seen {
    TimedOut,
    Tls(rustls::Error),
    Io(std::io::ErrorKind),
}

fn seen(error: &TlsHandshakeError) -> Seen {
    match error {
        TlsHandshakeError::TimedOut => Seen::TimedOut,
        TlsHandshakeError::Tls(e) => Seen::Tls(e.clone()),
        TlsHandshakeError::Io(e) => Seen::Io(e.kind()),
        other => panic!("unexpected handshake error {other:?}"),
    }
}

type Seens = Arc<Mutex<Vec<(SocketAddr, Seen)>>>;

fn recorder() -> (
    Seens,
    impl Fn(SocketAddr, &TlsHandshakeError) + Send + Sync + 'static,
) {
    let seens: Seens = Arc::default();
    let sink = Arc::clone(&seens);
    (seens, move |peer, error: &TlsHandshakeError| {
        sink.lock().unwrap().push((peer, seen(error)))
    })
}

/// Waits until `seens` holds `n` entries (bounded by the test timeout).
async fn wait_for(rt: &Arc<dyn Runtime>, seens: &Seens, n: usize) {
    while seens.lock().unwrap().len() < n {
        sleep(rt, 10).await;
    }
}

fn is_name_error(error: &rustls::Error) -> bool {
    matches!(
        error,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

/// Echoes lines until the end of the stream, then closes with close_notify.
async fn echo_lines(mut stream: TlsStream) {
    while let Ok(line) = stream.receive_line().await {
        if stream.send_all(&line).await.is_err() {
            return;
        }
    }
    let _ = stream.close().await;
}

runtime_tests! {
    async fn echo_with_custom_roots(_rt) {
        let acceptor = server_config().alpn_protocols(["pw/1"]).build()?;
        let server = TlsListener::bind("127.0.0.1", 0, acceptor).await?.serve(echo_lines);
        let port = server.local_addrs()[0].port();
        let connector = client_config().alpn_protocols(["pw/1", "h2"]).build()?;

        // By name ("localhost" resolves to the loopback addresses; Happy Eyeballs finds the
        // IPv4 one), then by IP address (the certificate has an IP SAN).
        for host in ["localhost", "127.0.0.1"] {
            let mut stream = connect_tls(host, port, &connector).await?;
            assert!(!stream.is_server());
            assert_eq!(stream.protocol_version(), Some(ProtocolVersion::TLSv1_3));
            assert_eq!(stream.alpn_protocol(), Some(&b"pw/1"[..]));
            assert!(stream.negotiated_cipher_suite().is_some());
            let chain = stream.peer_certificates().expect("the server's chain");
            assert_eq!(chain, &pki().server_chain[..]);
            assert_eq!(stream.peer_addr()?.port(), port);
            assert!(stream.local_addr()?.ip().is_loopback());

            stream.send_all(b"hello\nwor").await?;
            stream.send_all(b"ld\n").await?;
            assert_eq!(stream.receive_line().await?, &b"hello\n"[..]);
            assert_eq!(stream.receive_line().await?, &b"world\n"[..]);
            stream.send_eof().await?;
            assert!(matches!(stream.receive(10).await, Err(ReceiveError::EndOfStream)));
            assert!(stream.at_eof());
        }
        assert_eq!(server.shutdown(Duration::from_secs(5)).await.aborted, 0);
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        Ok(())
    }

    async fn server_sees_sni_alpn_and_version(_rt) {
        let (client, server) = tls_pair(
            client_config().alpn_protocols(["b", "a"]),
            server_config().alpn_protocols(["a", "b"]),
        )
        .await?;
        assert!(server.is_server());
        assert_eq!(server.sni_hostname(), Some("localhost"));
        assert_eq!(client.sni_hostname(), None);
        // The server's preference wins.
        assert_eq!(server.alpn_protocol(), Some(&b"a"[..]));
        assert_eq!(client.alpn_protocol(), Some(&b"a"[..]));
        assert_eq!(server.protocol_version(), Some(ProtocolVersion::TLSv1_3));
        // No client certificate was asked for.
        assert!(server.peer_certificates().is_none());
        assert_eq!(server.peer_addr()?, client.local_addr()?);
        Ok(())
    }

    async fn alpn_mismatch_fails_the_handshake(_rt) {
        let (client, server) = pair_with(
            &client_config().alpn_protocols(["h2"]).build()?,
            &server_config().alpn_protocols(["pw/1"]).build()?,
            "localhost",
        )
        .await;
        assert!(matches!(
            server,
            Err(TlsHandshakeError::Tls(rustls::Error::NoApplicationProtocol))
        ));
        assert!(client.is_err());
        Ok(())
    }

    async fn pem_files(_rt) {
        let dir = tempfile::tempdir()?;
        let pki = pki();
        let (ca, chain, key) = (
            dir.path().join("ca.pem"),
            dir.path().join("chain.pem"),
            dir.path().join("key.pem"),
        );
        std::fs::write(&ca, &pki.ca_pem)?;
        std::fs::write(&chain, &pki.server_chain_pem)?;
        std::fs::write(&key, &pki.server_key_pem)?;
        let server = TlsServerConfig::from_pem_files(&chain, &key)?;
        let client = TlsClientConfig::new().root_certificates_pem_file(&ca)?;
        let (mut client, mut server) = tls_pair(client, server).await?;
        assert_eq!(client.peer_certificates().unwrap().len(), 2);
        client.send_all(b"pem").await?;
        assert_eq!(server.receive_exactly(3).await?, &b"pem"[..]);
        Ok(())
    }

    async fn wrong_server_name_is_a_verification_error(_rt) {
        let connector = client_config().server_name("example.com").build()?;
        let (client, server) = pair_with(&connector, &server_config().build()?, "127.0.0.1").await;
        match client {
            Err(TlsConnectError::Handshake(TlsHandshakeError::Tls(e))) if is_name_error(&e) => {}
            other => panic!("expected a name verification error, got {other:?}"),
        }
        let handshake = client_error(&connector, "127.0.0.1").await;
        assert!(handshake.is_certificate_error(), "{handshake:?}");
        // The server hears why: the client sent an alert.
        assert!(
            matches!(server, Err(TlsHandshakeError::Tls(rustls::Error::AlertReceived(_)))),
            "{server:?}"
        );
        Ok(())
    }

    async fn untrusted_certificate_is_refused_and_insecure_mode_accepts_it(_rt) {
        let pki = pki();
        let untrusted = || {
            TlsServerConfig::new(pki.untrusted_chain.clone(), key(&pki.untrusted_key))
                .handshake_timeout(Duration::from_secs(10))
        };
        let (client, server) =
            pair_with(&client_config().build()?, &untrusted().build()?, "localhost").await;
        match client {
            Err(TlsConnectError::Handshake(TlsHandshakeError::Tls(
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            ))) => {}
            other => panic!("expected UnknownIssuer, got {other:?}"),
        }
        assert!(server.is_err());

        // Trusting the other CA works; so does no verification at all, even with a name
        // that the certificate does not have.
        let trusting = TlsClientConfig::new().root_certificates([pki.untrusted_ca.clone()]);
        let (mut client, _server) = tls_pair(trusting, untrusted()).await?;
        assert!(client.peer_certificates().is_some());
        client.send_all(b"x").await?;

        let insecure = client_config()
            .dangerous_insecure_no_verification()
            .server_name("not-the-name.invalid");
        let (mut client, mut server) = tls_pair(insecure, untrusted()).await?;
        client.send_all(b"insecure\n").await?;
        assert_eq!(server.receive_line().await?, &b"insecure\n"[..]);
        Ok(())
    }

    async fn client_certificate_required_and_provided(_rt) {
        let pki = pki();
        let server = server_config().require_client_certificates([pki.ca.clone()]);
        let client = client_config().client_certificate(pki.client_chain.clone(), key(&pki.client_key));
        let (mut client, mut server) = tls_pair(client, server).await?;
        assert_eq!(server.peer_certificates(), Some(&pki.client_chain[..]));
        client.send_all(b"authenticated\n").await?;
        assert_eq!(server.receive_line().await?, &b"authenticated\n"[..]);
        server.send_all(b"welcome\n").await?;
        assert_eq!(client.receive_line().await?, &b"welcome\n"[..]);
        Ok(())
    }

    async fn client_certificate_required_and_missing(_rt) {
        let server = server_config().require_client_certificates([pki().ca.clone()]);
        let (client, server) =
            pair_with(&client_config().build()?, &server.build()?, "localhost").await;
        assert!(
            matches!(server, Err(TlsHandshakeError::Tls(rustls::Error::NoCertificatesPresented))),
            "{server:?}"
        );
        // In TLS 1.3 the client's handshake may be over before the server refuses: the
        // refusal then comes as an alert at the first receive. Either way, no data.
        match client {
            Err(TlsConnectError::Handshake(_)) => {}
            Ok(mut client) => match client.receive(10).await {
                Err(ReceiveError::Io(e)) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
                }
                other => panic!("expected the server's alert, got {other:?}"),
            },
            Err(other) => panic!("unexpected error {other:?}"),
        }
        Ok(())
    }

    async fn client_certificate_optional(_rt) {
        let pki = pki();
        let server = || server_config().request_client_certificates([pki.ca.clone()]);
        let (_client, anonymous) = tls_pair(client_config(), server()).await?;
        assert!(anonymous.peer_certificates().is_none());
        let client = client_config().client_certificate(pki.client_chain.clone(), key(&pki.client_key));
        let (_client, known) = tls_pair(client, server()).await?;
        assert_eq!(known.peer_certificates(), Some(&pki.client_chain[..]));
        Ok(())
    }

    async fn client_handshake_timeout_against_a_silent_peer(_rt) {
        // A TCP server that accepts and never speaks TLS.
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addrs()[0].port();
        let connector = client_config()
            .handshake_timeout(Duration::from_millis(300))
            .build()?;
        let started = Instant::now();
        let (result, accepted) = zip(connector.connect("localhost", port), listener.accept()).await;
        let (mut peer, _) = accepted?;
        match result {
            Err(TlsConnectError::Handshake(TlsHandshakeError::TimedOut)) => {}
            other => panic!("expected a handshake timeout, got {other:?}"),
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        let error: std::io::Error = TlsConnectError::Handshake(TlsHandshakeError::TimedOut).into();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        // The client said hello, then closed the connection.
        let hello = peer.receive(5).await?;
        assert_eq!(hello[0], 0x16, "a TLS handshake record");
        loop {
            match peer.receive(65536).await {
                Ok(_) => continue,
                Err(e) => {
                    assert!(e.is_end_of_stream(), "{e}");
                    break;
                }
            }
        }
        Ok(())
    }

    async fn listener_accept_keeps_serving_during_a_stalled_handshake(rt) {
        let acceptor = server_config()
            .handshake_timeout(Duration::from_secs(3))
            .build()?;
        let (seens, handler) = recorder();
        let mut listener = TlsListener::bind("127.0.0.1", 0, acceptor)
            .await?
            .on_handshake_error(handler);
        let port = listener.local_addrs()[0].port();
        let connector = client_config().build()?;

        // A client that connects and never speaks, then a real one.
        let mut silent = TcpStream::connect("127.0.0.1", port).await?;
        let silent_addr = silent.local_addr()?;
        let client = async {
            sleep(&rt, 50).await;
            let mut stream = connector.connect("localhost", port).await?;
            stream.send_all(b"ping\n").await?;
            let line = stream.receive_line().await?;
            Ok::<_, TestError>(line)
        };
        let server = async {
            let (mut stream, peer) = listener.accept().await?;
            let line = stream.receive_line().await?;
            stream.send_all(&line).await?;
            Ok::<_, TestError>((stream, peer))
        };
        let (line, accepted) = zip(client, server).await;
        assert_eq!(line?, &b"ping\n"[..]);
        let (_stream, peer) = accepted?;
        assert_ne!(peer, silent_addr);
        // The silent client's handshake is still running, not failed.
        assert!(seens.lock().unwrap().is_empty());
        assert_eq!(listener.pending_handshakes(), 1);

        // Keep accepting: the silent handshake times out, the listener goes on.
        let waited = runtime::timeout(&*rt, Duration::from_secs(5), listener.accept()).await;
        assert!(waited.is_err(), "no connection should have been accepted");
        {
            let seens = seens.lock().unwrap();
            assert_eq!(seens.len(), 1, "{seens:?}");
            assert_eq!(seens[0].0, silent_addr);
            assert!(matches!(seens[0].1, Seen::TimedOut), "{seens:?}");
        }
        assert_eq!(listener.pending_handshakes(), 0);
        assert!(silent.receive(1).await.is_err(), "the server closed the connection");

        // And a new client still gets in.
        let (client, accepted) = zip(connector.connect("127.0.0.1", port), listener.accept()).await;
        let (mut client, (mut server, _)) = (client?, accepted?);
        client.send_all(b"again").await?;
        assert_eq!(server.receive_exactly(5).await?, &b"again"[..]);
        Ok(())
    }

    async fn listener_serve_survives_silent_and_garbage_clients(rt) {
        let acceptor = server_config()
            .handshake_timeout(Duration::from_millis(1500))
            .build()?;
        let (seens, handler) = recorder();
        let server = TlsListener::bind("127.0.0.1", 0, acceptor)
            .await?
            .on_handshake_error(handler)
            .serve(echo_lines);
        let port = server.local_addrs()[0].port();
        let connector = client_config().build()?;

        let mut silent = TcpStream::connect("127.0.0.1", port).await?;
        let mut garbage = TcpStream::connect("127.0.0.1", port).await?;
        garbage.send_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;

        // Served at once, while the silent client waits for its timeout.
        let mut stream = connector.connect("localhost", port).await?;
        stream.send_all(b"still here\n").await?;
        assert_eq!(stream.receive_line().await?, &b"still here\n"[..]);

        // The garbage client fails fast with a TLS error; the silent one times out.
        wait_for(&rt, &seens, 2).await;
        {
            let seens = seens.lock().unwrap();
            assert!(matches!(seens[0].1, Seen::Tls(_)), "{seens:?}");
            assert_eq!(seens[0].0, garbage.local_addr()?);
            assert!(matches!(seens[1].1, Seen::TimedOut), "{seens:?}");
            assert_eq!(seens[1].0, silent.local_addr()?);
        }
        assert!(silent.receive(1).await.is_err());
        // rustls answered the garbage with an alert record, then closed.
        let mut answer = Vec::new();
        while let Ok(chunk) = garbage.receive(1024).await {
            answer.extend_from_slice(&chunk);
        }
        assert_eq!(answer.first(), Some(&0x15), "an alert record: {answer:?}");

        stream.send_all(b"and still\n").await?;
        assert_eq!(stream.receive_line().await?, &b"and still\n"[..]);
        stream.send_eof().await?;
        assert!(matches!(stream.receive(1).await, Err(ReceiveError::EndOfStream)));
        assert_eq!(server.shutdown(Duration::from_secs(5)).await.aborted, 0);
        Ok(())
    }

    async fn receive_line_exactly_and_until(_rt) {
        let (mut client, mut server) = tls_pair(client_config(), server_config()).await?;
        client.send_all(b"A\nB\nC").await?;
        client.send_all(b"D\nrest:0123456789;").await?;
        assert_eq!(server.receive_line().await?, &b"A\n"[..]);
        assert_eq!(server.receive_line().await?, &b"B\n"[..]);
        assert_eq!(server.receive_line().await?, &b"CD\n"[..]);
        assert_eq!(server.receive_exactly(5).await?, &b"rest:"[..]);
        assert_eq!(server.receive_until(b";").await?, &b"0123456789;"[..]);

        // The limit applies to decrypted bytes, and an overrun leaves them in place.
        server.set_limit(8);
        client.send_all(b"0123456789abcdef\n").await?;
        match server.receive_line().await {
            Err(ReceiveError::LimitOverrun { limit: 8, .. }) => {}
            other => panic!("expected a limit overrun, got {other:?}"),
        }
        assert_eq!(server.receive_exactly(17).await?, &b"0123456789abcdef\n"[..]);

        // A partial frame at the end of the stream.
        client.send_all(b"tail").await?;
        client.send_eof().await?;
        match server.receive_exactly(10).await {
            Err(ReceiveError::IncompleteRead { partial, expected: Some(10) }) => {
                assert_eq!(partial, &b"tail"[..]);
            }
            other => panic!("expected an incomplete read, got {other:?}"),
        }
        assert!(server.at_eof());
        Ok(())
    }

    async fn large_payloads_both_ways(_rt) {
        let (mut client, mut server) = tls_pair(client_config(), server_config()).await?;
        let data = payload(4 * 1024 * 1024 + 3);
        // The server takes everything, then sends it all back and closes.
        let server_side = async {
            let mut received = Vec::new();
            loop {
                match server.receive(100_000).await {
                    Ok(chunk) => {
                        assert!(!chunk.is_empty() && chunk.len() <= 100_000);
                        received.extend_from_slice(&chunk);
                    }
                    Err(ReceiveError::EndOfStream) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            server.send_all(&received).await?;
            server.close().await?;
            Ok::<_, TestError>(received.len())
        };
        let client_side = async {
            // Gathered writes: many small buffers, then large ones.
            let (head, tail) = data.split_at(1000);
            let (middle, tail) = tail.split_at(3 * 1024 * 1024);
            let small: Vec<IoSlice<'_>> = head.chunks(10).map(IoSlice::new).collect();
            client.send_all_vectored(&small).await?;
            client
                .send_all_vectored(&[IoSlice::new(middle), IoSlice::new(&[]), IoSlice::new(tail)])
                .await?;
            client.send_eof().await?;
            let mut echoed = Vec::with_capacity(data.len());
            loop {
                match client.receive(65536).await {
                    Ok(chunk) => echoed.extend_from_slice(&chunk),
                    Err(ReceiveError::EndOfStream) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok::<_, TestError>(echoed)
        };
        let (total, echoed) = zip(server_side, client_side).await;
        assert_eq!(total?, data.len());
        assert!(echoed? == data, "payload corrupted");
        Ok(())
    }

    async fn close_notify_and_half_close(_rt) {
        let (mut client, mut server) = tls_pair(client_config(), server_config()).await?;
        client.send_all(b"request").await?;
        client.send_eof().await?;
        assert!(client.eof_sent());
        client.send_eof().await?; // again: nothing more
        assert!(matches!(client.send_all(b"late").await, Err(SendError::WriteClosed)));

        assert_eq!(server.receive(100).await?, &b"request"[..]);
        assert!(matches!(server.receive(100).await, Err(ReceiveError::EndOfStream)));
        // The server can still answer over the half-closed connection.
        server.send_all(b"response").await?;
        server.close().await?;
        assert_eq!(client.receive_exactly(8).await?, &b"response"[..]);
        assert!(matches!(client.receive(1).await, Err(ReceiveError::EndOfStream)));
        Ok(())
    }

    async fn ragged_eof_is_an_error_unless_not_standard_compatible(_rt) {
        // The server drops its stream: TCP closes without close_notify.
        let (mut client, server) = tls_pair(client_config(), server_config()).await?;
        drop(server);
        match client.receive(10).await {
            Err(ReceiveError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
            other => panic!("expected an unexpected end of stream, got {other:?}"),
        }

        let lenient = client_config().standard_compatible(false);
        let (mut client, server) = tls_pair(lenient, server_config()).await?;
        drop(server);
        assert!(matches!(client.receive(10).await, Err(ReceiveError::EndOfStream)));

        // A lenient server closes without close_notify.
        let lenient = server_config().standard_compatible(false);
        let (mut client, server) = tls_pair(client_config(), lenient).await?;
        server.close().await?;
        assert!(matches!(client.receive(10).await, Err(ReceiveError::Io(_))));
        Ok(())
    }

    async fn handshake_over_an_adopted_socket(rt) {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addrs()[0].port();
        let std_stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        let tcp = TcpStream::from_std_with_runtime(std_stream, Arc::clone(&rt))?;
        let connector = client_config().build()?;
        let acceptor = server_config().build()?;
        let (client, server) = zip(connector.handshake(tcp, "127.0.0.1"), async {
            let (tcp, _) = listener.accept().await?;
            Ok::<_, TestError>(acceptor.accept(tcp).await?)
        })
        .await;
        let (mut client, mut server) = (client?, server?);
        assert_eq!(server.sni_hostname(), None, "no SNI for an IP address");
        server.send_all(b"adopted\n").await?;
        assert_eq!(client.receive_line().await?, &b"adopted\n"[..]);

        let invalid = TcpStream::connect("127.0.0.1", port).await?;
        assert!(matches!(
            connector.handshake(invalid, "not a name!").await,
            Err(TlsHandshakeError::InvalidServerName(_))
        ));
        Ok(())
    }

    async fn bytes_buffered_before_the_handshake_are_part_of_it(rt) {
        // STARTTLS-like: a plain-text line, then TLS on the same connection; the server has
        // read the start of the client hello into its buffer with the line.
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addrs()[0].port();
        let connector = client_config().build()?;
        let acceptor = server_config().build()?;
        let client = async {
            let mut tcp = TcpStream::connect("127.0.0.1", port).await?;
            tcp.send_all(b"STARTTLS\n").await?;
            let mut tls = connector.handshake(tcp, "localhost").await?;
            tls.send_all(b"secret\n").await?;
            Ok::<_, TestError>(tls)
        };
        let server = async {
            let (mut tcp, _) = listener.accept().await?;
            sleep(&rt, 100).await;
            assert_eq!(tcp.receive_line().await?, &b"STARTTLS\n"[..]);
            let mut tls = acceptor.accept(tcp).await?;
            assert_eq!(tls.receive_line().await?, &b"secret\n"[..]);
            Ok::<_, TestError>(tls)
        };
        let (client, server) = zip(client, server).await;
        client?;
        server?;
        Ok(())
    }

    async fn async_read_and_write_traits(_rt) {
        let (mut client, mut server) = tls_pair(client_config(), server_config()).await?;
        client.send_all(b"0123456789").await?;
        assert_eq!(server.receive_exactly(2).await?, &b"01"[..]);
        #[cfg(feature = "tokio")]
        {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 8];
            // The buffered bytes come first.
            AsyncReadExt::read_exact(&mut server, &mut buf).await?;
            assert_eq!(&buf, b"23456789");
            AsyncWriteExt::write_all(&mut server, b"tokio-io").await?;
            AsyncWriteExt::flush(&mut server).await?;
            assert_eq!(client.receive_exactly(8).await?, &b"tokio-io"[..]);
            client.send_all(b"0123456789").await?;
            assert_eq!(server.receive_exactly(2).await?, &b"01"[..]);
        }
        #[cfg(feature = "smol")]
        {
            use smol::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 8];
            AsyncReadExt::read_exact(&mut server, &mut buf).await?;
            assert_eq!(&buf, b"23456789");
            AsyncWriteExt::write_all(&mut server, b"futures-io").await?;
            AsyncWriteExt::flush(&mut server).await?;
            assert_eq!(client.receive_exactly(10).await?, &b"futures-io"[..]);
            // Closing the writer is send_eof: close_notify.
            AsyncWriteExt::close(&mut server).await?;
            assert!(server.eof_sent());
            assert!(matches!(client.receive(1).await, Err(ReceiveError::EndOfStream)));
        }
        Ok(())
    }

    async fn no_process_wide_crypto_provider_is_needed(_rt) {
        // Every configuration carries its provider: none is installed process-wide, before
        // or after a full exchange.
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        let (mut client, mut server) = tls_pair(client_config(), server_config()).await?;
        client.send_all(b"ok").await?;
        assert_eq!(server.receive_exactly(2).await?, &b"ok"[..]);
        let _ = TlsClientConfig::new().dangerous_insecure_no_verification().build()?;
        let _ = server_config().request_client_certificates([pki().ca.clone()]).build()?;
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        Ok(())
    }
}

/// The client's handshake error against a fresh server.
async fn client_error(connector: &TlsConnector, host: &str) -> TlsHandshakeError {
    let acceptor = server_config().build().unwrap();
    match pair_with(connector, &acceptor, host).await.0 {
        Err(TlsConnectError::Handshake(e)) => e,
        other => panic!("expected a handshake error, got {other:?}"),
    }
}

/// Blocking TLS: a server thread and a client, no runtime.
mod blocking {
    use std::io::{Read, Write};
    use std::thread;

    use super::*;

    type Server = thread::JoinHandle<Result<(), TestError>>;

    /// A blocking TLS server thread running `serve` on one connection.
    fn serve_one(
        config: TlsServerConfig,
        serve: impl FnOnce(packetwire::tls::BlockingTlsStream) -> Result<(), TestError> + Send + 'static,
    ) -> (u16, Server) {
        let acceptor = config.build().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (sock, _) = listener.accept()?;
            serve(acceptor.accept_blocking(sock)?)
        });
        (port, server)
    }

    #[test]
    fn echo_half_close_and_io_traits() {
        let (port, server) = serve_one(server_config().alpn_protocols(["pw/1"]), |mut s| {
            assert!(s.is_server());
            assert_eq!(s.sni_hostname(), Some("localhost"));
            assert_eq!(s.receive_line()?, &b"one\n"[..]);
            assert_eq!(s.receive_exactly(3)?, &b"two"[..]);
            let mut rest = Vec::new();
            s.read_to_end(&mut rest)?; // until close_notify
            assert_eq!(rest, payload(100_000));
            assert!(s.at_eof() || s.buffered().is_empty());
            s.write_all(b"answer after half-close")?;
            s.flush()?;
            s.close()?;
            Ok(())
        });
        let connector = client_config().alpn_protocols(["pw/1"]).build().unwrap();
        let mut client = connector.connect_blocking("localhost", port).unwrap();
        assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_3));
        assert_eq!(client.alpn_protocol(), Some(&b"pw/1"[..]));
        assert_eq!(client.peer_certificates().unwrap(), &pki().server_chain[..]);
        assert_eq!(
            client.get_ref().read_timeout().unwrap(),
            None,
            "timeouts restored"
        );
        assert_eq!(client.peer_addr().unwrap().port(), port);
        client.send_all(b"one\ntw").unwrap();
        let data = payload(100_000);
        client
            .send_all_vectored(&[IoSlice::new(b"o"), IoSlice::new(&data)])
            .unwrap();
        client.send_eof().unwrap();
        assert!(matches!(
            client.send_all(b"late"),
            Err(SendError::WriteClosed)
        ));
        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "answer after half-close");
        assert!(matches!(client.receive(1), Err(ReceiveError::EndOfStream)));
        server.join().unwrap().unwrap();
    }

    #[test]
    fn handshake_timeout_against_a_silent_peer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connector = client_config()
            .handshake_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let started = Instant::now();
        match connector.connect_blocking("127.0.0.1", port) {
            Err(TlsConnectError::Handshake(TlsHandshakeError::TimedOut)) => {}
            other => panic!("expected a handshake timeout, got {other:?}"),
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        drop(listener);
    }

    #[test]
    fn blocking_connect_applies_the_tcp_options() {
        let (port, server) = serve_one(server_config(), |mut s| {
            let peer = s.peer_addr()?;
            s.send_all(format!("{}\n", peer.ip()).as_bytes())?;
            s.close()?;
            Ok(())
        });
        let local: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        let connector = client_config()
            .tcp_options(
                packetwire::net::TcpConnectOptions::new()
                    .timeout(Duration::from_secs(5))
                    .local_addr(local),
            )
            .build()
            .unwrap();
        let mut client = connector.connect_blocking("localhost", port).unwrap();
        assert_eq!(client.local_addr().unwrap().ip(), local.ip());
        assert_eq!(client.receive_line().unwrap(), &b"127.0.0.1\n"[..]);
        server.join().unwrap().unwrap();

        // An IPv4 local address leaves no usable address for an IPv6 literal.
        let v6 = client_config()
            .tcp_options(packetwire::net::TcpConnectOptions::new().local_addr(local))
            .build()
            .unwrap();
        match v6.connect_blocking("::1", port) {
            Err(TlsConnectError::Connect(packetwire::net::ConnectError::NoAddress { .. })) => {}
            other => panic!("expected no usable address, got {other:?}"),
        }
    }

    #[test]
    fn verification_errors() {
        let (port, server) = serve_one(server_config(), |_| Ok(()));
        let connector = client_config().server_name("example.com").build().unwrap();
        match connector.connect_blocking("127.0.0.1", port) {
            Err(TlsConnectError::Handshake(TlsHandshakeError::Tls(e))) if is_name_error(&e) => {}
            other => panic!("expected a name verification error, got {other:?}"),
        }
        match server.join().unwrap() {
            Err(e) => assert!(e.to_string().contains("TLS handshake failed"), "{e}"),
            Ok(()) => panic!("the server handshake should have failed"),
        }

        let (port, server) = serve_one(server_config(), |mut s| {
            assert_eq!(s.receive_line()?, &b"trusting nobody\n"[..]);
            Ok(())
        });
        let insecure = TlsClientConfig::new()
            .dangerous_insecure_no_verification()
            .build()
            .unwrap();
        let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut client = insecure
            .handshake_blocking(sock, "anything.invalid")
            .unwrap();
        client.send_all(b"trusting nobody\n").unwrap();
        server.join().unwrap().unwrap();
    }

    #[test]
    fn ragged_eof() {
        let (port, server) = serve_one(server_config(), |s| {
            drop(s);
            Ok(())
        });
        let mut client = client_config()
            .build()
            .unwrap()
            .connect_blocking("localhost", port)
            .unwrap();
        server.join().unwrap().unwrap();
        match client.receive(1) {
            Err(ReceiveError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
            other => panic!("expected an unexpected end of stream, got {other:?}"),
        }
    }
}

runtime_tests! {
    async fn blocking_client_against_async_listener(rt) {
        let mut listener = TlsListener::bind("127.0.0.1", 0, server_config().build()?).await?;
        let port = listener.local_addrs()[0].port();
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let run = || -> Result<(), TestError> {
                let mut client = client_config().build()?.connect_blocking("localhost", port)?;
                client.send_all(b"from a thread\n")?;
                assert_eq!(client.receive_line()?, &b"from a thread\n"[..]);
                client.send_eof()?;
                assert!(matches!(client.receive(1), Err(ReceiveError::EndOfStream)));
                Ok(())
            };
            let _ = done.send(run().map_err(|e| e.to_string()));
        });
        let (stream, _) = listener.accept().await?;
        echo_lines(stream).await;
        loop {
            match result.try_recv() {
                Ok(outcome) => return outcome.map_err(Into::into),
                Err(std::sync::mpsc::TryRecvError::Empty) => sleep(&rt, 10).await,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
