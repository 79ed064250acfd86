//! TLS for the data listener: the server certificate, optional client
//! certificate verification (mTLS), and the identities a verified client
//! certificate carries (SAN URIs and DNS names).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, every client must present a certificate issued by this CA.
    pub client_ca: Option<PathBuf>,
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the {what} `{}`: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "the {what} `{}` holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// Builds the listener's TLS configuration from PEM files.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = read_certs(&settings.cert, "tls certificate")?;
    // The key's own parse error could quote key material: name only the file.
    let key = PrivateKeyDer::from_pem_file(&settings.key).map_err(|_| {
        format!(
            "cannot read a PEM private key from `{}`",
            settings.key.display()
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up tls: {e}"))?;
    let builder = match &settings.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca_path, "tls client ca")? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "the tls client ca `{}` is not usable: {e}",
                        ca_path.display()
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("cannot set up client certificate checks: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("the tls certificate and key do not form a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The SAN URIs and DNS names of a client certificate, in order.
pub fn certificate_identities(cert_der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(cert_der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some((*uri).to_owned()),
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, SanType};

    #[test]
    fn reads_san_uris_and_dns_names() {
        let mut params = CertificateParams::new(vec!["app.internal.example".to_owned()]).unwrap();
        params.subject_alt_names.push(SanType::URI(
            "spiffe://example.org/app-payments".try_into().unwrap(),
        ));
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            certificate_identities(cert.der()),
            ["app.internal.example", "spiffe://example.org/app-payments"]
        );
        assert!(certificate_identities(b"not a certificate").is_empty());
    }

    #[test]
    fn loads_a_server_config_and_reports_bad_files() {
        let dir = std::env::temp_dir().join(format!("eap-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(dir.join("empty.pem"), "").unwrap();
        let settings = TlsSettings {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client_ca: Some(dir.join("cert.pem")),
        };
        assert!(server_config(&settings).is_ok());
        let bad_key = TlsSettings {
            key: dir.join("empty.pem"),
            ..settings.clone()
        };
        let err = server_config(&bad_key).unwrap_err();
        assert!(err.contains("cannot read a PEM private key"), "{err}");
        let bad_cert = TlsSettings {
            cert: dir.join("missing.pem"),
            ..settings
        };
        assert!(server_config(&bad_cert)
            .unwrap_err()
            .contains("tls certificate"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
