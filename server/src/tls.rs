//! TLS material for the QUIC endpoint: loads the configured certificate, or
//! generates a local CA and a server certificate signed by it, and builds
//! the quinn server configuration.
//!
//! # The certificate directory
//!
//! Without `--cert`/`--key`, chatd keeps its material in `cert_dir`:
//!
//! | file | what | mode |
//! |---|---|---|
//! | `ca.crt` | the local CA certificate; clients trust it with `--ca` | 0644 |
//! | `ca.key` | the CA's private key | 0600 |
//! | `server.crt` | server certificate, then the CA certificate (the chain) | 0644 |
//! | `server.key` | the server's private key | 0600 |
//!
//! A pair is used only when both its files exist; a half pair (left by a
//! crash or a careless delete) is removed and made again. Deleting
//! `server.crt` and `server.key` makes a new server certificate signed by
//! the existing CA, so clients that trust `ca.crt` keep working (use it to
//! add a `--hostname` or renew after the 1-year validity).
//!
//! Each file is written under a temporary name, synced, then renamed, and
//! key files are created with mode 0600 (never widened then narrowed).

use crate::config::{Config, LimitsConfig};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// File name of the generated CA certificate in `cert_dir`.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the generated CA private key in `cert_dir`.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the server certificate chain in `cert_dir`.
pub const SERVER_CERT_FILE: &str = "server.crt";
/// File name of the server private key in `cert_dir`.
pub const SERVER_KEY_FILE: &str = "server.key";

/// Validity of a generated CA certificate: 10 years.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Validity of a generated server certificate: 1 year.
const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Generated certificates start this long in the past, so a client whose
/// clock is a little behind still accepts them.
const BACKDATE: Duration = Duration::from_secs(3600);
/// Bidirectional streams a client may have open at once before login: the
/// control stream only, so a client that never logs in cannot pin more
/// receive windows. At login the session raises the credit by
/// `files::MAX_TRANSFERS_PER_CONNECTION` for transfer streams (all of them
/// share the connection's receive window).
pub const MAX_CLIENT_BIDI_STREAMS: u32 = 1;

/// Flow-control window of the control stream, in bytes: one largest frame
/// (1 MiB + its 4-byte prefix) plus room to pipeline small requests behind
/// it.
pub const STREAM_RECEIVE_WINDOW: u32 = (1 << 20) + (64 << 10);

/// Connection-level receive window once logged in, in bytes: what one
/// client can make the server buffer before reading (RFC 9000 §4.1).
pub const CONNECTION_RECEIVE_WINDOW: u32 = 2 << 20;

/// Connection-level receive window before login, in bytes: enough for
/// `Hello` and `Login` (a password is at most 1 KiB), so a client that never
/// logs in cannot make the server buffer more.
pub const PRE_AUTH_RECEIVE_WINDOW: u32 = 64 << 10;

/// Unacknowledged data the server buffers per connection for sending, in
/// bytes (quinn's default is 10 MB): what a client that stops reading
/// pins in server memory on top of its reply budget.
pub const SEND_WINDOW: u64 = 4 << 20;

/// The server's certificate chain and key, ready for rustls.
pub struct TlsMaterial {
    /// End-entity (server) certificate first, then its issuers.
    pub chain: Vec<CertificateDer<'static>>,
    /// The server certificate's private key.
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the server certificate (see [`fingerprint`]), for clients
    /// that pin it on first use.
    pub fingerprint: String,
    /// The CA certificate clients should trust, when chatd manages one in
    /// `cert_dir`; `None` for an explicit `--cert`.
    pub ca_path: Option<PathBuf>,
}

impl Clone for TlsMaterial {
    fn clone(&self) -> TlsMaterial {
        TlsMaterial {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            fingerprint: self.fingerprint.clone(),
            ca_path: self.ca_path.clone(),
        }
    }
}

impl fmt::Debug for TlsMaterial {
    // Leaves the private key out so it never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("chain_len", &self.chain.len())
            .field("fingerprint", &self.fingerprint)
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

/// Why TLS material could not be loaded, generated or used. Each message
/// names the file or setting and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Only one of `cert` and `key` is configured.
    #[error("set both --cert and --key (or neither, to use a generated certificate)")]
    HalfPair,
    /// A certificate file is missing or not PEM.
    #[error(
        "cannot read certificate file {}: {cause}; fix the file or its path \
         (in the cert directory, delete server.crt and server.key to generate new ones)",
        path.display()
    )]
    ReadCert {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        cause: rustls::pki_types::pem::Error,
    },
    /// A certificate file holds no certificate.
    #[error("{} contains no PEM certificate; give a file with a CERTIFICATE block", path.display())]
    NoCertificates {
        /// The file.
        path: PathBuf,
    },
    /// A private key file is missing or not a PEM private key.
    #[error(
        "cannot read private key {}: {cause}; give a PEM key (PKCS#8, PKCS#1 or SEC1)",
        path.display()
    )]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        cause: rustls::pki_types::pem::Error,
    },
    /// The key does not belong to the certificate, or is of an unsupported kind.
    #[error(
        "private key {} does not fit certificate {}: {reason}; use the matching pair \
         (in the cert directory, delete both files to generate new ones)",
        key.display(), cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        reason: rustls::Error,
    },
    /// The CA key in `cert_dir` cannot be used to sign.
    #[error(
        "cannot use CA key {}: {reason}; delete ca.crt and ca.key to generate a new CA \
         (clients must then trust the new ca.crt)",
        path.display()
    )]
    CaKey {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A certificate signed with `ca.key` does not verify against `ca.crt`:
    /// the CA files were not made by chatd or do not belong together.
    #[error(
        "the CA in {} is unusable: a certificate signed with ca.key does not verify against \
         ca.crt ({reason}); delete ca.crt and ca.key to generate a new CA, or pass --cert and --key",
        dir.display()
    )]
    ForeignCa {
        /// The certificate directory.
        dir: PathBuf,
        /// The verifier's reason.
        reason: String,
    },
    /// The certificate directory could not be created.
    #[error("cannot create certificate directory {}: {cause}; check --cert-dir and its permissions", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A generated file could not be written.
    #[error("cannot write {}: {cause}; check the certificate directory's permissions and free space", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A configured hostname is neither an IP address nor a DNS name.
    #[error(
        "hostname {name:?} is neither an IP address nor a valid DNS name; \
         fix --hostname / CHATD_HOSTNAME / hostnames"
    )]
    InvalidHostname {
        /// The name as configured.
        name: String,
    },
    /// rcgen failed to build a certificate.
    #[error("cannot generate a certificate: {0}")]
    Generate(rcgen::Error),
    /// rustls refused the configuration (for example an unsupported key type).
    #[error("TLS setup failed: {0}; check the certificate and key")]
    Rustls(rustls::Error),
    /// The TLS configuration offers no cipher suite QUIC can use.
    #[error("the TLS configuration offers no cipher suite usable by QUIC")]
    NoQuicCipherSuite,
    /// The idle timeout is out of QUIC's range.
    #[error("limits.idle_timeout_ms = {ms} is too large for QUIC; lower it")]
    IdleTimeout {
        /// The configured value, in ms.
        ms: u64,
    },
}

// The causes are part of each message, so these variants expose no
// `source()`: a report printing the chain would show them twice.
impl From<rcgen::Error> for TlsError {
    fn from(e: rcgen::Error) -> TlsError {
        TlsError::Generate(e)
    }
}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> TlsError {
        TlsError::Rustls(e)
    }
}

/// Loads the configured certificate, or the pair in `cfg.cert_dir`, or
/// generates a CA and server certificate there (see the module docs).
///
/// Blocking (file I/O and key generation): call it before the runtime's
/// workers are busy, or from `spawn_blocking`.
///
/// # Errors
/// [`TlsError`] naming the file that could not be read, written or used.
pub fn load_or_generate(cfg: &Config) -> Result<TlsMaterial, TlsError> {
    match (&cfg.cert, &cfg.key) {
        (Some(cert), Some(key)) => return load_pair(cert, key, None),
        (None, None) => {}
        _ => return Err(TlsError::HalfPair),
    }
    let paths = Paths::new(&cfg.cert_dir);
    if paths.server_cert.exists() && paths.server_key.exists() {
        let ca = paths.ca_cert.exists().then(|| paths.ca_cert.clone());
        return load_pair(&paths.server_cert, &paths.server_key, ca);
    }
    generate(&paths, &cfg.hostnames)
}

/// The SHA-256 of a DER certificate as 32 lowercase hex pairs joined by `:`
/// (`ab:01:…`), the format chat-client pins and chatd logs.
pub fn fingerprint(cert_der: &[u8]) -> String {
    let digest = Sha256::digest(cert_der);
    let pairs: Vec<String> = digest.iter().map(|b| format!("{b:02x}")).collect();
    pairs.join(":")
}

/// The quinn server configuration: TLS 1.3 only (QUIC requires it, RFC 9001
/// §4.2), ring crypto, no client certificates, ALPN [`chat_protocol::ALPN`],
/// and transport limits from `limits`.
///
/// Clients may open [`MAX_CLIENT_BIDI_STREAMS`] bidirectional streams and
/// no unidirectional ones. How many uni streams the *server* may open (one
/// per followed room plus the user stream, capped by
/// `limits.max_streams_per_connection` in the session logic) is set by the
/// client's transport parameters, not here: clients must allow at least
/// `max_streams_per_connection` incoming uni streams.
///
/// # Errors
/// [`TlsError::Rustls`] if rustls refuses the chain or key;
/// [`TlsError::IdleTimeout`] if the idle timeout is out of QUIC's range.
pub fn quinn_server_config(
    tls: &TlsMaterial,
    limits: &LimitsConfig,
) -> Result<quinn::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut crypto = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(tls.chain.clone(), tls.key.clone_key())?;
    crypto.alpn_protocols = vec![chat_protocol::ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(crypto)
        .map_err(|_| TlsError::NoQuicCipherSuite)?;

    let idle = quinn::IdleTimeout::try_from(Duration::from_millis(limits.idle_timeout_ms))
        .map_err(|_| TlsError::IdleTimeout {
            ms: limits.idle_timeout_ms,
        })?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(Duration::from_millis(limits.keep_alive_ms)))
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_CLIENT_BIDI_STREAMS))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
        .stream_receive_window(quinn::VarInt::from_u32(STREAM_RECEIVE_WINDOW))
        .receive_window(quinn::VarInt::from_u32(PRE_AUTH_RECEIVE_WINDOW))
        .send_window(SEND_WINDOW);

    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// The four file paths in a certificate directory.
struct Paths {
    dir: PathBuf,
    ca_cert: PathBuf,
    ca_key: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

impl Paths {
    fn new(dir: &Path) -> Paths {
        Paths {
            dir: dir.to_path_buf(),
            ca_cert: dir.join(CA_CERT_FILE),
            ca_key: dir.join(CA_KEY_FILE),
            server_cert: dir.join(SERVER_CERT_FILE),
            server_key: dir.join(SERVER_KEY_FILE),
        }
    }
}

/// Reads a PEM chain and key and checks that they belong together.
fn load_pair(
    cert_path: &Path,
    key_path: &Path,
    ca_path: Option<PathBuf>,
) -> Result<TlsMaterial, TlsError> {
    let read_cert = |cause| TlsError::ReadCert {
        path: cert_path.to_path_buf(),
        cause,
    };
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(read_cert)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_cert)?;
    let Some(end_entity) = chain.first() else {
        return Err(TlsError::NoCertificates {
            path: cert_path.to_path_buf(),
        });
    };
    let fingerprint = fingerprint(end_entity);
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|cause| TlsError::ReadKey {
        path: key_path.to_path_buf(),
        cause,
    })?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider).map_err(
        |reason| TlsError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
            reason,
        },
    )?;
    Ok(TlsMaterial {
        chain,
        key,
        fingerprint,
        ca_path,
    })
}

/// Makes the missing parts of the material in `paths.dir`: the CA if its
/// pair is incomplete, then the server pair.
fn generate(paths: &Paths, hostnames: &[String]) -> Result<TlsMaterial, TlsError> {
    std::fs::create_dir_all(&paths.dir).map_err(|cause| TlsError::CreateDir {
        path: paths.dir.clone(),
        cause,
    })?;
    let now = SystemTime::now();
    let backdated = now.checked_sub(BACKDATE).unwrap_or(now);

    let (ca_der, ca_pem, ca_key) = if paths.ca_cert.exists() && paths.ca_key.exists() {
        load_ca(paths)?
    } else {
        if paths.ca_cert.exists() || paths.ca_key.exists() {
            tracing::warn!(dir = %paths.dir.display(), "replacing an incomplete CA pair; clients must trust the new ca.crt");
        }
        remove_if_present(&paths.ca_cert)?;
        remove_if_present(&paths.ca_key)?;
        let key = KeyPair::generate()?;
        let mut params = ca_params();
        params.not_before = backdated.into();
        params.not_after = (now + CA_VALIDITY).into();
        let cert = params.self_signed(&key)?;
        write_file(&paths.ca_key, key.serialize_pem().as_bytes(), true)?;
        write_file(&paths.ca_cert, cert.pem().as_bytes(), false)?;
        tracing::info!(path = %paths.ca_cert.display(), "generated a local CA; clients trust it with --ca");
        (cert.der().clone(), cert.pem(), key)
    };

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.subject_alt_names = subject_alt_names(hostnames)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "chatd server");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = backdated.into();
    params.not_after = (now + SERVER_VALIDITY).into();
    let issuer = Issuer::new(ca_params(), &ca_key);
    let cert = params.signed_by(&key, &issuer)?;
    let chain = vec![cert.der().clone(), ca_der.clone()];

    // Prove the chain before writing it, so a CA not made by chatd (whose
    // subject differs from `ca_params`) is reported instead of served.
    verify_server_chain(&chain, ca_der, "localhost").map_err(|e| TlsError::ForeignCa {
        dir: paths.dir.clone(),
        reason: e.to_string(),
    })?;

    remove_if_present(&paths.server_cert)?;
    remove_if_present(&paths.server_key)?;
    write_file(&paths.server_key, key.serialize_pem().as_bytes(), true)?;
    let chain_pem = format!("{}{}", cert.pem(), ca_pem);
    write_file(&paths.server_cert, chain_pem.as_bytes(), false)?;
    sync_dir(&paths.dir)?;
    tracing::info!(path = %paths.server_cert.display(), "generated a server certificate");

    Ok(TlsMaterial {
        fingerprint: fingerprint(&chain[0]),
        chain,
        key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        ca_path: Some(paths.ca_cert.clone()),
    })
}

/// The parameters of chatd's CA. A reused CA is rebuilt from these, so they
/// must keep producing the same subject name.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "chatd local CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Reads an existing CA pair: its DER, its PEM text and its key.
fn load_ca(paths: &Paths) -> Result<(CertificateDer<'static>, String, KeyPair), TlsError> {
    let ca_key_err = |reason: String| TlsError::CaKey {
        path: paths.ca_key.clone(),
        reason,
    };
    let key_pem = std::fs::read_to_string(&paths.ca_key).map_err(|e| ca_key_err(e.to_string()))?;
    let key = KeyPair::from_pem(&key_pem).map_err(|e| ca_key_err(e.to_string()))?;
    let read_cert = |cause| TlsError::ReadCert {
        path: paths.ca_cert.clone(),
        cause,
    };
    let der = CertificateDer::from_pem_file(&paths.ca_cert).map_err(read_cert)?;
    let pem = std::fs::read_to_string(&paths.ca_cert)
        .map_err(|e| read_cert(rustls::pki_types::pem::Error::Io(e)))?;
    Ok((der, pem, key))
}

/// `localhost`, `127.0.0.1`, `::1`, then `extra` without duplicates; names
/// that parse as IP addresses become IP SANs.
fn subject_alt_names(extra: &[String]) -> Result<Vec<SanType>, TlsError> {
    let mut names: Vec<&str> = vec!["localhost", "127.0.0.1", "::1"];
    for name in extra {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| match name.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => valid_dns_name(name)
                .then(|| name.to_owned().try_into().ok())
                .flatten()
                .map(SanType::DnsName)
                .ok_or_else(|| TlsError::InvalidHostname {
                    name: name.to_owned(),
                }),
        })
        .collect()
}

/// Whether a client could ever match `name`: rustls's own DNS-name rules
/// (RFC 1035 labels, optionally a leading `*.` wildcard).
fn valid_dns_name(name: &str) -> bool {
    let plain = name.strip_prefix("*.").unwrap_or(name);
    ServerName::try_from(plain).is_ok_and(|n| matches!(n, ServerName::DnsName(_)))
}

/// Checks `chain` as a client trusting only `ca` would, for `name`.
fn verify_server_chain(
    chain: &[CertificateDer<'static>],
    ca: CertificateDer<'static>,
    name: &str,
) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    let server_name =
        ServerName::try_from(name.to_owned()).map_err(|e| rustls::Error::General(e.to_string()))?;
    let (end_entity, intermediates) = chain
        .split_first()
        .ok_or_else(|| rustls::Error::General("empty certificate chain".into()))?;
    verifier.verify_server_cert(
        end_entity,
        intermediates,
        &server_name,
        &[],
        UnixTime::now(),
    )?;
    Ok(())
}

/// Writes `contents` to `path` via a synced temporary file and a rename;
/// `secret` files are created with mode 0600.
fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), TlsError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let write_err = |cause| TlsError::Write {
        path: path.to_path_buf(),
        cause,
    };
    // A temporary file left by a crash is stale; `create_new` below refuses
    // to reuse (or follow a link at) an existing name.
    remove_if_present(&tmp)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(write_err)?;
    file.write_all(contents).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)
}

fn remove_if_present(path: &Path) -> Result<(), TlsError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TlsError::Write {
            path: path.to_path_buf(),
            cause: e,
        }),
        _ => Ok(()),
    }
}

/// Makes the renames in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), TlsError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|cause| TlsError::Write {
            path: dir.to_path_buf(),
            cause,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn config(dir: &Path) -> Config {
        Config::for_tests(dir)
    }

    fn ca_of(cfg: &Config) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(cfg.cert_dir.join(CA_CERT_FILE)).unwrap()
    }

    fn chain_on_disk(cfg: &Config) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(cfg.cert_dir.join(SERVER_CERT_FILE))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn fingerprint_is_colon_separated_sha256() {
        let fp = fingerprint(b"");
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.starts_with("e3:b0:c4:42:98:fc:1c:14:"), "{fp}");
        assert!(fp.ends_with(":78:52:b8:55"), "{fp}");
    }

    #[test]
    fn generates_once_then_loads() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let first = load_or_generate(&cfg).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&cfg.cert_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["ca.crt", "ca.key", "server.crt", "server.key"]);
        for (file, mode) in [("ca.key", 0o600), ("server.key", 0o600), ("ca.crt", 0o644)] {
            let meta = std::fs::metadata(cfg.cert_dir.join(file)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o077, mode & 0o077, "{file}");
        }
        assert_eq!(first.chain.len(), 2);
        assert_eq!(first.fingerprint, fingerprint(&first.chain[0]));
        assert_eq!(first.ca_path, Some(cfg.cert_dir.join(CA_CERT_FILE)));

        let second = load_or_generate(&cfg).unwrap();
        assert_eq!(second.fingerprint, first.fingerprint);
        assert_eq!(second.chain, first.chain);
        assert_eq!(second.chain, chain_on_disk(&cfg));
    }

    #[test]
    fn server_chain_verifies_against_ca_for_every_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.hostnames = vec![
            "chat.example.org".into(),
            "10.0.0.5".into(),
            "*.lan.example".into(),
        ];
        load_or_generate(&cfg).unwrap();
        let chain = chain_on_disk(&cfg);
        for name in [
            "localhost",
            "127.0.0.1",
            "::1",
            "chat.example.org",
            "10.0.0.5",
            "a.lan.example",
        ] {
            verify_server_chain(&chain, ca_of(&cfg), name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for name in ["other.example", "10.0.0.6"] {
            assert!(
                verify_server_chain(&chain, ca_of(&cfg), name).is_err(),
                "{name}"
            );
        }
        // A different CA must not validate it.
        let other = tempfile::tempdir().unwrap();
        let other_cfg = config(other.path());
        load_or_generate(&other_cfg).unwrap();
        assert!(verify_server_chain(&chain, ca_of(&other_cfg), "localhost").is_err());
    }

    #[test]
    fn deleted_server_pair_is_reissued_by_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let first = load_or_generate(&cfg).unwrap();
        let ca_before = std::fs::read(cfg.cert_dir.join(CA_CERT_FILE)).unwrap();
        // A half pair, as a crash between the two renames would leave.
        std::fs::remove_file(cfg.cert_dir.join(SERVER_CERT_FILE)).unwrap();
        let second = load_or_generate(&cfg).unwrap();
        assert_ne!(second.fingerprint, first.fingerprint);
        assert_eq!(
            std::fs::read(cfg.cert_dir.join(CA_CERT_FILE)).unwrap(),
            ca_before
        );
        verify_server_chain(&chain_on_disk(&cfg), ca_of(&cfg), "localhost").unwrap();
        assert_eq!(
            load_or_generate(&cfg).unwrap().fingerprint,
            second.fingerprint
        );
    }

    #[test]
    fn explicit_pair_is_loaded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let generated = config(dir.path());
        load_or_generate(&generated).unwrap();
        let mut cfg = config(&dir.path().join("elsewhere"));
        cfg.cert = Some(generated.cert_dir.join(SERVER_CERT_FILE));
        cfg.key = Some(generated.cert_dir.join(SERVER_KEY_FILE));
        let tls = load_or_generate(&cfg).unwrap();
        assert_eq!(tls.ca_path, None);
        assert!(
            !cfg.cert_dir.exists(),
            "nothing generated for an explicit pair"
        );

        cfg.key = Some(generated.cert_dir.join(CA_KEY_FILE));
        let err = load_or_generate(&cfg).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");

        cfg.cert = Some(dir.path().join("missing.crt"));
        let err = load_or_generate(&cfg).unwrap_err();
        assert!(matches!(err, TlsError::ReadCert { .. }), "{err}");
        assert!(err.to_string().contains("missing.crt"), "{err}");

        cfg.cert = Some(generated.cert_dir.join(SERVER_KEY_FILE));
        let err = load_or_generate(&cfg).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificates { .. }), "{err}");

        cfg.key = None;
        assert!(matches!(load_or_generate(&cfg), Err(TlsError::HalfPair)));
    }

    #[test]
    fn mismatched_ca_files_are_reported_not_served() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (cfg_a, cfg_b) = (config(a.path()), config(b.path()));
        load_or_generate(&cfg_a).unwrap();
        load_or_generate(&cfg_b).unwrap();
        std::fs::copy(
            cfg_b.cert_dir.join(CA_CERT_FILE),
            cfg_a.cert_dir.join(CA_CERT_FILE),
        )
        .unwrap();
        std::fs::remove_file(cfg_a.cert_dir.join(SERVER_CERT_FILE)).unwrap();
        std::fs::remove_file(cfg_a.cert_dir.join(SERVER_KEY_FILE)).unwrap();
        let err = load_or_generate(&cfg_a).unwrap_err();
        assert!(matches!(err, TlsError::ForeignCa { .. }), "{err}");
        assert!(!cfg_a.cert_dir.join(SERVER_CERT_FILE).exists());
    }

    #[test]
    fn bad_hostname_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.hostnames = vec!["bad name!".into()];
        let err = load_or_generate(&cfg).unwrap_err();
        assert!(err.to_string().contains("bad name!"), "{err}");
    }

    #[tokio::test]
    async fn quic_handshake_negotiates_alpn() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let tls = load_or_generate(&cfg).unwrap();
        let server_config = quinn_server_config(&tls, &cfg.limits).unwrap();
        let server = quinn::Endpoint::server(server_config, cfg.listen).unwrap();
        let addr = server.local_addr().unwrap();

        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_of(&cfg)).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut client_tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client_tls.alpn_protocols = vec![chat_protocol::ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).unwrap();
        let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        client.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));

        let accept = tokio::spawn(async move {
            let conn = server.accept().await.unwrap().await.unwrap();
            let data = conn.handshake_data().unwrap();
            let data = data
                .downcast::<quinn::crypto::rustls::HandshakeData>()
                .unwrap();
            (data.protocol, server)
        });
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            client.connect(addr, "localhost").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        let (alpn, _server) = tokio::time::timeout(Duration::from_secs(10), accept)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(alpn.as_deref(), Some(chat_protocol::ALPN));
        conn.close(0u32.into(), b"done");
    }

    #[test]
    fn oversized_idle_timeout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let tls = load_or_generate(&cfg).unwrap();
        let limits = LimitsConfig {
            idle_timeout_ms: u64::MAX,
            ..LimitsConfig::default()
        };
        assert!(matches!(
            quinn_server_config(&tls, &limits),
            Err(TlsError::IdleTimeout { .. })
        ));
    }
}
