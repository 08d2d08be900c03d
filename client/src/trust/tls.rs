//! Builds the rustls client configuration for a [`Trust`] mode.
//!
//! The ring provider is passed explicitly, so nothing depends on a
//! process-wide default provider being installed. Only TLS 1.3 is offered:
//! QUIC requires it (RFC 9001 §4.2).

use super::verifier::{PinVerifier, Verdict};
use super::{KnownHost, KnownHosts, Trust};
use crate::ClientError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A ready TLS configuration plus what `connect` needs to interpret a
/// pinning failure.
pub(crate) struct TlsSetup {
    /// The rustls configuration, with ALPN set.
    pub(crate) config: Arc<rustls::ClientConfig>,
    /// For known-hosts trust: the verifier's decision slot.
    pub(crate) verdict: Option<Arc<Mutex<Option<Verdict>>>>,
}

/// Builds the TLS configuration. `host_key` is the `host:port` known-hosts
/// key; `approved` a fingerprint the user accepted at a prompt.
///
/// # Errors
/// [`ClientError::CaFile`] or [`ClientError::KnownHosts`] when the trust
/// files cannot be read; [`ClientError::Tls`] if rustls rejects the setup.
pub(crate) async fn build_tls(
    trust: &Trust,
    server: &str,
    host_key: &str,
    approved: Option<String>,
) -> Result<TlsSetup, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ClientError::Tls {
            server: server.to_owned(),
            reason: e.to_string(),
        })?;
    let (mut config, verdict) = match trust {
        Trust::CaFile(path) => {
            let roots = load_roots(path).await?;
            (
                builder.with_root_certificates(roots).with_no_client_auth(),
                None,
            )
        }
        Trust::KnownHosts { path, on_unknown } => {
            let known = load_entry(path, host_key).await?;
            let slot = Arc::new(Mutex::new(None));
            let verifier = PinVerifier {
                known,
                accept_new: matches!(on_unknown, super::OnUnknown::AcceptNew),
                approved,
                algorithms: provider.signature_verification_algorithms,
                verdict: slot.clone(),
            };
            let config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            (config, Some(slot))
        }
    };
    config.alpn_protocols = vec![chat_protocol::ALPN.to_vec()];
    Ok(TlsSetup {
        config: Arc::new(config),
        verdict,
    })
}

/// Reads the PEM CA file into a root store.
async fn load_roots(path: &Path) -> Result<rustls::RootCertStore, ClientError> {
    let err = |reason: String| ClientError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = tokio::fs::read(path)
        .await
        .map_err(|e| err(format!("cannot read it: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| err(format!("bad PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| err(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(err("it holds no CERTIFICATE block".to_owned()));
    }
    Ok(roots)
}

/// Loads the known-hosts file on a blocking thread and finds `host_key`.
async fn load_entry(path: &Path, host_key: &str) -> Result<Option<KnownHost>, ClientError> {
    let owned: PathBuf = path.to_owned();
    let key = host_key.to_owned();
    tokio::task::spawn_blocking(move || KnownHosts::load(&owned).map(|kh| kh.lookup(&key).cloned()))
        .await
        .map_err(|e| ClientError::KnownHosts {
            path: path.to_owned(),
            line: None,
            msg: format!("reading it failed: {e}"),
        })?
}
