//! The trust-on-first-use certificate verifier: compares the server's
//! end-entity certificate with the fingerprint pinned in known-hosts.
//!
//! rustls reports a verifier's refusal to quinn as an opaque TLS alert, so
//! the verifier also records its [`Verdict`] in a shared slot that
//! [`crate::connect`] reads after the handshake to return a typed error.
//! It does no I/O and never blocks: asking the user and writing the file
//! happen in `connect`, outside the handshake.

use super::KnownHost;
use super::fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};

/// What the verifier decided about the presented certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Trusted. `new` means it was not pinned yet and must be appended to
    /// the known-hosts file once the connection succeeds.
    Accepted {
        /// The presented fingerprint.
        fingerprint: String,
        /// Whether it is a first-use acceptance.
        new: bool,
    },
    /// The host has no entry and the policy did not accept it (yet).
    Unknown {
        /// The presented fingerprint.
        fingerprint: String,
    },
    /// The host is pinned to another certificate.
    Changed {
        /// The pinned entry.
        known: KnownHost,
        /// The presented fingerprint.
        presented: String,
    },
}

/// A [`ServerCertVerifier`] pinning one `host:port`.
#[derive(Debug)]
pub(crate) struct PinVerifier {
    /// The pinned entry, if any.
    pub(crate) known: Option<KnownHost>,
    /// Accept any certificate for an unpinned host (`AcceptNew`).
    pub(crate) accept_new: bool,
    /// Accept exactly this fingerprint for an unpinned host (the user just
    /// approved it at a prompt).
    pub(crate) approved: Option<String>,
    /// Signature algorithms of the crypto provider in use.
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
    /// Where the decision is recorded for `connect`.
    pub(crate) verdict: Arc<Mutex<Option<Verdict>>>,
}

impl PinVerifier {
    /// Decides about a certificate with fingerprint `fp`.
    pub(crate) fn decide(&self, fp: String) -> Verdict {
        match &self.known {
            Some(known) if known.fingerprint == fp => Verdict::Accepted {
                fingerprint: fp,
                new: false,
            },
            Some(known) => Verdict::Changed {
                known: known.clone(),
                presented: fp,
            },
            None if self.accept_new || self.approved.as_deref() == Some(fp.as_str()) => {
                Verdict::Accepted {
                    fingerprint: fp,
                    new: true,
                }
            }
            None => Verdict::Unknown { fingerprint: fp },
        }
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The pin replaces name and chain checks, as in SSH: what is trusted
        // is this exact certificate for this host:port.
        let verdict = self.decide(fingerprint(end_entity));
        let ok = matches!(verdict, Verdict::Accepted { .. });
        let message = match &verdict {
            Verdict::Accepted { .. } => String::new(),
            Verdict::Unknown { fingerprint } => format!("unknown server certificate {fingerprint}"),
            Verdict::Changed { presented, .. } => {
                format!("server certificate changed to {presented}")
            }
        };
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some(verdict);
        }
        if ok {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(message))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(known: Option<&str>, accept_new: bool, approved: Option<&str>) -> PinVerifier {
        PinVerifier {
            known: known.map(|fp| KnownHost {
                host: "h:1".into(),
                fingerprint: fp.into(),
                line: 7,
            }),
            accept_new,
            approved: approved.map(Into::into),
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
            verdict: Arc::default(),
        }
    }

    #[test]
    fn decisions() {
        let a = fingerprint(b"a");
        let b = fingerprint(b"b");
        assert!(matches!(
            verifier(Some(&a), false, None).decide(a.clone()),
            Verdict::Accepted { new: false, .. }
        ));
        assert!(matches!(
            verifier(Some(&a), true, None).decide(b.clone()),
            Verdict::Changed { .. }
        ));
        assert!(matches!(
            verifier(None, false, None).decide(a.clone()),
            Verdict::Unknown { .. }
        ));
        assert!(matches!(
            verifier(None, true, None).decide(a.clone()),
            Verdict::Accepted { new: true, .. }
        ));
        assert!(matches!(
            verifier(None, false, Some(&a)).decide(a.clone()),
            Verdict::Accepted { new: true, .. }
        ));
        assert!(matches!(
            verifier(None, false, Some(&a)).decide(b),
            Verdict::Unknown { .. }
        ));
    }

    #[test]
    fn refusal_is_recorded() {
        let v = verifier(Some(&fingerprint(b"a")), false, None);
        let cert = CertificateDer::from(b"b".to_vec());
        let name = ServerName::try_from("h").unwrap();
        assert!(
            v.verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
                .is_err()
        );
        let slot = v.verdict.lock().unwrap().clone();
        assert!(matches!(slot, Some(Verdict::Changed { known, .. }) if known.line == 7));
    }
}
