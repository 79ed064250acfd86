//! One request, read top to bottom as its phases run: read the body and
//! parse (stage 1), authenticate (2), decide (3), forward or reject (4),
//! and audit and count (5), which runs for every request, rejected or not.
//! Each phase fails with its own error; every one becomes a [`Rejection`],
//! whose one mapping (`Rejection::answer`) picks the code, status and
//! message, and [`error_response`] puts that on the wire.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST,
};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::{Connection, Proxy};
use crate::auth::{self, ClientCertificate};
use crate::decision::{Decision, DenialDetail, RequestFacts, Verdict};
use crate::error::{ApiError, AuthError, MessageError, Rejection, ServiceError};
use crate::facts::ResourceFacts;
use crate::model::Region;
use crate::proxy::audit::{self, RequestRecord};
use crate::proxy::config::Limits;
use crate::proxy::log;
use crate::proxy::metrics;
use crate::proxy::reload::Snapshot;
use crate::proxy::resource_tags;
use crate::proxy::upstream::{self, UpstreamResponse};
use crate::request::{self, ElastiCacheRequest, HttpParts, SingleHeader};
use crate::sigv4::ReceivedRequest;

/// Serves one request: its record, the phases, the answer, its audit line.
pub(super) async fn serve(
    proxy: &Proxy,
    request: Request<Incoming>,
    connection: &Connection,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let _in_flight = proxy.metrics.enter_request();
    let snapshot = proxy.live.current();
    let mut record = RequestRecord::new(
        SystemTime::now(),
        log::new_request_id(),
        connection.peer,
        proxy.config.mode,
        snapshot.revision.clone(),
    );
    let result = proxy
        .process(&snapshot, request, connection, &mut record)
        .await;
    let response = match result {
        Ok(answer) => {
            let mut response = Response::new(Full::new(answer.body));
            *response.status_mut() = answer.status;
            *response.headers_mut() = answer.headers;
            response
        }
        Err(rejection) => {
            let error = rejection.answer();
            record.error_code = Some(error.code);
            error_response(&error, &record.request_id)
        }
    };
    proxy.finish(record, response, started.elapsed()).await
}

impl Proxy {
    /// One request, from bytes to the upstream's answer or a rejection.
    async fn process(
        &self,
        snapshot: &Snapshot,
        request: Request<Incoming>,
        connection: &Connection,
        record: &mut RequestRecord,
    ) -> Result<UpstreamResponse, Rejection> {
        // 1. Read and parse.
        let (parts, body) = request.into_parts();
        request::check_message(&parts)?;
        let body = read_body(body, &parts.headers, &self.config.limits).await?;
        // A slot is taken only once the body is in, so that slow senders
        // (bounded by max_connections and body_read_timeout) cannot hold
        // the slots complete requests need.
        let _slot = self
            .request_slots
            .try_take()
            .ok_or(ServiceError::Throttled {
                limit: self.config.limits.max_concurrent_requests,
            })?;
        let (parsed, query_auth) = request::parse(&HttpParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            content_type: single_header(&parts.headers, CONTENT_TYPE.as_str()),
            body: &body,
        })?;
        record.action = Some(parsed.action);
        record.set_parameters(&parsed);

        // 2. Authenticate.
        let signature = auth::caller_signature(
            single_header(&parts.headers, AUTHORIZATION.as_str()),
            &query_auth,
        )
        .inspect_err(|failure| self.metrics.count_signature_failure(failure.reason()))?;
        let headers: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let received = ReceivedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &headers,
            body: &body,
        };
        let now = log::unix_now();
        let caller = auth::authenticate(
            &snapshot.callers,
            signature.as_ref(),
            &received,
            ClientCertificate {
                required: self.mtls,
                identities: &connection.certificate_identities,
            },
            now,
        )
        .inspect_err(|failure: &AuthError| {
            self.metrics.count_signature_failure(failure.reason())
        })?;
        record.caller = Some(caller.caller.clone());
        record.auth_method = Some(caller.method);
        let host = match single_header(&parts.headers, HOST.as_str()) {
            SingleHeader::One(host) => Some(host),
            SingleHeader::Absent | SingleHeader::Unreadable => None,
        };
        let region = auth::request_region(signature, host, self.config.region.as_ref())?;
        record.region = Some(region.clone());
        record.set_request(&parsed, &caller.tags);

        // 3. Decide, with the tags of the resources the request names when
        // a rule for its action needs them.
        let facts = RequestFacts::of(&parsed, &region, Some(&caller.caller))
            .with_caller_tags(&caller.tags)
            .at(now);
        let resources = match snapshot.policy.needs_resource_tags(&facts) {
            // Boxed: its lookups are a large future few requests need.
            true => Some(Box::pin(self.resource_facts(&parsed, &region, &caller.caller)).await?),
            false => None,
        };
        if let Some(resources) = &resources {
            record.set_resource_tags(resources);
        }
        let facts = match &resources {
            Some(resources) => facts.with_resources(resources),
            None => facts,
        };
        let response = snapshot.policy.is_authorized(&facts);
        let (verdict, rules) = response.verdict(self.config.mode);
        record.verdict = Some(verdict);
        record.rules = rules.to_vec();
        record.set_looked_at(&parsed, &response.looked_at);
        record.exceptions.clone_from(&response.exceptions);
        if response.decision == Decision::Deny {
            // The audit log explains in full; the caller hears what concerns it.
            record.explanation = Some(response.denial_message(&facts, DenialDetail::Full));
        }
        if verdict == Verdict::Deny {
            return Err(Rejection::Denied(
                response.denial_message(&facts, self.config.denial_detail),
            ));
        }
        if self.config.audit.reject_on_failure && !self.audit.is_healthy() {
            return Err(ServiceError::AuditUnhealthy.into());
        }

        // 4. Forward, signed as the proxy (or as the caller's role session).
        let credentials = self.identity.for_caller(&caller.caller).await?;
        let started = Instant::now();
        let forwarded = self
            .upstream
            .forward(&parsed, &region, &parts.headers, &credentials)
            .await;
        // Whether or not AWS took it, a retag or delete may have happened.
        self.tag_lookups.forget(parsed.action, &parsed, &region);
        match forwarded {
            Ok(answer) => {
                let status = answer.status.as_u16();
                self.metrics
                    .observe_upstream(metrics::status_class(status), started.elapsed());
                record.upstream_status = Some(status);
                record.upstream_request_id = audit::upstream_request_id(&answer.headers);
                Ok(answer)
            }
            Err(failure) => {
                self.metrics
                    .observe_upstream(upstream::failure_class(&failure), started.elapsed());
                Err(failure.into())
            }
        }
    }

    /// The tags of every existing resource `request` names, from the cache
    /// or looked up as the proxy (in `caller`'s role session, if roles are
    /// assumed); any failure rejects the request.
    async fn resource_facts(
        &self,
        request: &ElastiCacheRequest,
        region: &Region,
        caller: &str,
    ) -> Result<ResourceFacts, Rejection> {
        let account = self.learn_account().await?;
        let credentials = self.identity.for_caller(caller).await?;
        let facts =
            self.tag_lookups
                .facts(
                    request.action,
                    request,
                    region,
                    &account,
                    |resource| {
                        let credentials = &credentials;
                        async move {
                            resource_tags::list_tags(&self.upstream, credentials, &resource).await
                        }
                    },
                    |outcome, took| self.metrics.observe_tag_lookup(outcome, took),
                )
                .await?;
        Ok(facts)
    }

    /// Stage 5: audit and count. The audit line is written before the
    /// answer is sent; when it cannot be, the answer is withheld, unless the
    /// config says to continue.
    async fn finish(
        &self,
        mut record: RequestRecord,
        mut response: Response<Full<Bytes>>,
        took: Duration,
    ) -> Response<Full<Bytes>> {
        let was_healthy = self.audit.is_healthy();
        let line = record.line(took);
        let written = self.audit.append(&line).await;
        let shortened = line.shortened();
        if let Err(e) = written {
            self.metrics.count_audit_write_failure();
            if was_healthy {
                log::error(
                    "cannot write the audit log",
                    serde_json::json!({ "error": e.to_string() }),
                );
            }
            if self.config.audit.reject_on_failure {
                let error = Rejection::Service(ServiceError::AuditWriteFailed).answer();
                response = error_response(&error, &record.request_id);
                record.error_code = Some(error.code);
            }
        }
        self.metrics.record_request(&record, shortened, took);
        response
    }
}

/// The one place an answered rejection becomes an HTTP response: status, `text/xml`,
/// and the request id in both the header (aws-sdk-rust) and the body (botocore).
pub fn error_response(error: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(error.to_xml(request_id))));
    *response.status_mut() =
        http::StatusCode::from_u16(error.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    if error.close_connection {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads the whole body within the size and time limits, chunked or not.
async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<Bytes, Rejection> {
    let too_large = || {
        Rejection::Service(ServiceError::BodyTooLarge {
            limit: limits.max_body_bytes,
        })
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(
        limits.body_read_timeout,
        Limited::new(body, limits.max_body_bytes).collect(),
    )
    .await
    .map_err(|_| ServiceError::BodyTimeout)?;
    match collected {
        // Trailer fields could only add headers after the decision was made.
        Ok(body) if body.trailers().is_some() => Err(MessageError::Trailers.into()),
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(MessageError::BodyUnreadable(e.to_string()).into()),
    }
}

/// A header that must appear at most once, as visible ASCII.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> SingleHeader<'a> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => SingleHeader::Absent,
        (Some(value), None) => value
            .to_str()
            .map_or(SingleHeader::Unreadable, SingleHeader::One),
        (Some(_), Some(_)) => SingleHeader::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_carry_the_request_id_twice() {
        let denied = Rejection::Denied("no".to_owned()).answer();
        let response = error_response(&denied, "id-123");
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["content-type"], "text/xml");
        assert_eq!(response.headers()["x-amzn-requestid"], "id-123");
        assert!(response.headers().get("connection").is_none());
        let closing = Rejection::Message(MessageError::Trailers).answer();
        assert_eq!(
            error_response(&closing, "id").headers()["connection"],
            "close"
        );
    }
}
