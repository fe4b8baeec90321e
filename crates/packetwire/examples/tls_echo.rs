//! A TLS line echo server and a client on loopback, on tokio: a test CA and a certificate
//! for "localhost" are made on the fly with rcgen (a real server loads its own with
//! `TlsServerConfig::from_pem_files`, and a client trusts its CA with
//! `TlsClientConfig::root_certificates_pem_file`).
//!
//! ```sh
//! cargo run -p packetwire --features tls --example tls_echo
//! ```

use std::time::Duration;

use packetwire::tls::{connect_tls, TlsClientConfig, TlsListener, TlsServerConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A CA, and a server certificate it signs for "localhost" and 127.0.0.1.
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "packetwire example CA");
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let server_key = KeyPair::generate()?;
    let server_cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?
        .signed_by(&server_key, &Issuer::from_params(&ca_params, &ca_key))?;

    let acceptor = TlsServerConfig::new(
        vec![server_cert.der().clone(), ca_cert.der().clone()],
        server_key.serialize_der().try_into()?,
    )
    .handshake_timeout(Duration::from_secs(10))
    .build()?;
    let server = TlsListener::bind("127.0.0.1", 0, acceptor)
        .await?
        .on_handshake_error(|peer, error| eprintln!("handshake with {peer} failed: {error}"))
        .serve(|mut stream| async move {
            while let Ok(line) = stream.receive_line().await {
                if stream.send_all(&line).await.is_err() {
                    return;
                }
            }
            // The client sent close_notify: answer with ours.
            let _ = stream.close().await;
        });
    let port = server.local_addrs()[0].port();
    println!("TLS server on {:?}", server.local_addrs());

    let connector = TlsClientConfig::new()
        .root_certificates([ca_cert.der().clone()])
        .build()?;
    let mut client = connect_tls("localhost", port, &connector).await?;
    println!(
        "connected with {:?}, {:?}",
        client.protocol_version(),
        client.negotiated_cipher_suite().map(|s| s.suite())
    );
    for line in ["hello\n", "over TLS\n"] {
        client.send_all(line.as_bytes()).await?;
        print!(
            "tls echo: {}",
            String::from_utf8_lossy(&client.receive_line().await?)
        );
    }
    client.send_eof().await?;
    assert!(client.receive(1).await.unwrap_err().is_end_of_stream());
    let outcome = server.shutdown(Duration::from_secs(5)).await;
    println!("TLS server stopped: {outcome:?}");
    Ok(())
}
