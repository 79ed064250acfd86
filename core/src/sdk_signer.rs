//! Requests signed by aws-sigv4, the signer inside aws-sdk-rust (an
//! implementation that is not ours), as the SDK sends them. Test code: the
//! core's authentication tests (`lib.rs` compiles it under `cfg(test)`) and
//! the request-path bench (`benches/request_path.rs` includes this file by
//! its path) verify these. So it names nothing of either crate.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;

/// A signed request as a client sends it.
pub struct Signed {
    pub method: &'static str,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Signed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The headers as the server's verifier takes them.
    pub fn header_pairs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}

/// `form` signed by `key` and `secret` for `region` at `time`. With the
/// signature in headers, a POST of the form to 127.0.0.1:8080 that signs
/// content-type, content-length and x-amz-user-agent, as aws-sdk-rust does;
/// in the query string, a GET with the form as its query, valid `expires`.
pub fn sign_form(
    key: &str,
    secret: &str,
    region: &str,
    time: SystemTime,
    form: &str,
    placement: SignatureLocation,
    expires: Option<Duration>,
) -> Signed {
    let (method, uri, body) = match placement {
        SignatureLocation::Headers => ("POST", "http://127.0.0.1:8080/".to_owned(), form),
        _ => ("GET", format!("http://127.0.0.1:8080/?{form}"), ""),
    };
    let mut headers = vec![("host".to_owned(), "127.0.0.1:8080".to_owned())];
    if method == "POST" {
        headers.push((
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ));
        headers.push(("content-length".to_owned(), body.len().to_string()));
        headers.push((
            "x-amz-user-agent".to_owned(),
            "aws-sdk-rust/1.3.9 api/elasticache/1.90.0".to_owned(),
        ));
    }
    let identity = Credentials::new(key, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = placement;
    settings.expires_in = expires;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("elasticache")
        .time(time)
        .settings(settings)
        .build()
        .expect("signing parameters")
        .into();
    let signable = SignableRequest::new(
        method,
        &uri,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("signature").into_parts();
    let mut request = http::Request::builder().method(method).uri(&uri);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let mut request = request.body(()).expect("request");
    instructions.apply_to_request_http1x(&mut request);
    Signed {
        method,
        query: request.uri().query().map(str::to_owned),
        headers: request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().expect("ascii").to_owned()))
            .collect(),
        body: body.to_owned(),
    }
}
