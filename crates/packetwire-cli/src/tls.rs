//! TLS options shared by the verbs that connect (`send`, `bench`): `--insecure` or `--ca FILE`.

use std::path::Path;

use packetwire::tls::{TlsClientConfig, TlsConnector};

/// A connector that trusts `ca` (a PEM file), or nobody and everything with `insecure`.
pub(crate) fn connector(insecure: bool, ca: Option<&Path>) -> Result<TlsConnector, String> {
    let config = match (insecure, ca) {
        (true, Some(_)) => return Err("give --insecure or --ca, not both".into()),
        (true, None) => TlsClientConfig::new().dangerous_insecure_no_verification(),
        (false, Some(ca)) => TlsClientConfig::new()
            .root_certificates_pem_file(ca)
            .map_err(|e| format!("--ca {}: {e}", ca.display()))?,
        (false, None) => {
            return Err("a tls:// address needs --ca FILE (the server's CA) or --insecure".into())
        }
    };
    config.build().map_err(|e| format!("bad TLS options: {e}"))
}
