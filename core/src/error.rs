//! Every rejection the proxy answers with, in the ElastiCache Query error format.
//! The one place that turns a failure into status, code and XML body.

use std::borrow::Cow;
use std::fmt;

/// Who is at fault, as the Query protocol's `<Type>` says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    Sender,
    Receiver,
}

/// An error as the caller sees it: HTTP status, Query error code and a message
/// that never holds a secret.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ApiError {
    pub status: u16,
    pub fault: Fault,
    pub code: &'static str,
    pub message: String,
    /// The message's framing is in doubt, so nothing after it on the same
    /// connection is read: the answer says `Connection: close`.
    pub close_connection: bool,
}

impl ApiError {
    fn sender(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            fault: Fault::Sender,
            code,
            message: message.into(),
            close_connection: false,
        }
    }

    /// The same error, answered with `Connection: close`.
    pub fn closing_connection(mut self) -> ApiError {
        self.close_connection = true;
        self
    }

    pub fn missing_action(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "MissingAction", message)
    }
    pub fn invalid_action(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "InvalidAction", message)
    }
    pub fn missing_parameter(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "MissingParameter", message)
    }
    pub fn invalid_parameter_value(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "InvalidParameterValue", message)
    }
    /// Duplicated, case-variant or misplaced parameters: parser-differential shapes.
    pub fn invalid_query_parameter(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "InvalidQueryParameter", message)
    }
    /// Bytes that are not a well-formed form or query string.
    pub fn malformed_query_string(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "MalformedQueryString", message)
    }
    /// A policy denial.
    pub fn invalid_parameter_combination(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "InvalidParameterCombination", message)
    }
    pub fn missing_authentication_token(message: impl Into<String>) -> ApiError {
        ApiError::sender(403, "MissingAuthenticationToken", message)
    }
    pub fn invalid_client_token_id(message: impl Into<String>) -> ApiError {
        ApiError::sender(403, "InvalidClientTokenId", message)
    }
    pub fn signature_does_not_match(message: impl Into<String>) -> ApiError {
        ApiError::sender(403, "SignatureDoesNotMatch", message)
    }
    pub fn request_expired(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "RequestExpired", message)
    }
    /// Authenticated, but the client certificate and the signature disagree
    /// about who is calling.
    pub fn access_denied(message: impl Into<String>) -> ApiError {
        ApiError::sender(403, "AccessDenied", message)
    }
    pub fn incomplete_signature(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "IncompleteSignature", message)
    }
    pub fn request_entity_too_large(message: impl Into<String>) -> ApiError {
        ApiError::sender(413, "RequestEntityTooLarge", message)
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::sender(415, "UnsupportedMediaType", message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::sender(405, "MethodNotAllowed", message)
    }
    /// What AWS answers when a client sends too much at once; SDKs retry it
    /// with backoff.
    pub fn throttling(message: impl Into<String>) -> ApiError {
        ApiError::sender(400, "Throttling", message)
    }
    pub fn request_timeout(message: impl Into<String>) -> ApiError {
        ApiError::sender(408, "RequestTimeout", message)
    }
    pub fn service_unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 503,
            fault: Fault::Receiver,
            code: "ServiceUnavailable",
            message: message.into(),
            close_connection: false,
        }
    }
    pub fn internal_failure(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 500,
            fault: Fault::Receiver,
            code: "InternalFailure",
            message: message.into(),
            close_connection: false,
        }
    }

    /// The `ErrorResponse` document that botocore and aws-sdk-rust parse into
    /// their modelled exceptions.
    pub fn to_xml(&self, request_id: &str) -> String {
        let fault = match self.fault {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        };
        format!(
            "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
             <Error><Type>{fault}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>{request_id}</RequestId></ErrorResponse>\n",
            code = xml_escape(self.code),
            message = xml_escape(&self.message),
            request_id = xml_escape(request_id),
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Escapes text for an XML element body. Characters XML 1.0 cannot hold at
/// all become U+FFFD so the document always parses.
pub fn xml_escape(text: &str) -> Cow<'_, str> {
    let needs_work = text
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '"' | '\'') || !is_xml_char(c));
    if !needs_work {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if !is_xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// User input quoted for a message: in backticks, cut short so that a huge
/// value cannot bloat an error or a log line.
pub fn quoted(value: &str) -> String {
    const MAX_CHARS: usize = 100;
    let mut shown: String = value.chars().take(MAX_CHARS).collect();
    if value.chars().count() > MAX_CHARS {
        shown.push('…');
    }
    format!("`{shown}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_query_error_shape() {
        let err = ApiError::invalid_parameter_combination("no rule allows it");
        assert_eq!(
            err.to_xml("req-1"),
            "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
             <Error><Type>Sender</Type><Code>InvalidParameterCombination</Code>\
             <Message>no rule allows it</Message></Error><RequestId>req-1</RequestId></ErrorResponse>\n"
        );
        assert_eq!(err.status, 400);
    }

    #[test]
    fn receiver_faults() {
        let err = ApiError::service_unavailable("upstream down");
        assert_eq!(err.status, 503);
        assert!(err
            .to_xml("x")
            .contains("<Type>Receiver</Type><Code>ServiceUnavailable</Code>"));
    }

    #[test]
    fn escapes_markup_and_drops_non_xml_characters() {
        assert_eq!(xml_escape("plain-name"), "plain-name");
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml_escape("x\u{1}y\u{FFFE}"), "x\u{FFFD}y\u{FFFD}");
        let xml = ApiError::invalid_parameter_value("group `</Message><Code>Ok`").to_xml("r");
        assert!(xml.contains("&lt;/Message&gt;&lt;Code&gt;Ok"));
        assert_eq!(xml.matches("<Code>").count(), 1);
    }

    #[test]
    fn quoting_cuts_long_values() {
        assert_eq!(quoted("abc"), "`abc`");
        let long = "x".repeat(500);
        assert_eq!(quoted(&long).chars().count(), 103);
    }
}
