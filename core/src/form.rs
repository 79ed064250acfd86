//! A strict `application/x-www-form-urlencoded` codec.
//!
//! Decoding accepts only what SDKs actually send and rejects every shape on
//! which two parsers could disagree: empty pairs, pairs without `=`, a raw `=`
//! or `;` inside a value, percent-encoded or odd parameter names, bad escapes,
//! raw non-ASCII bytes, and decoded values that are not UTF-8 or hold control
//! characters. Encoding is canonical (RFC 3986 unreserved characters stay,
//! everything else is `%XX`), so what the proxy forwards has one reading.

use std::borrow::Cow;

use crate::encoding::{form_encode, hex_value};

/// Longest parameter name accepted; ElastiCache's longest are far shorter.
const MAX_NAME_LEN: usize = 255;

/// Why a form could not be read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FormError {
    /// It starts with `{` or `[`: a JSON document, not a form. Nothing of
    /// it is shown, since it may hold a secret.
    LooksLikeJson,
    /// One pair is not well-formed.
    Pair { at: PairAt, fault: PairFault },
}

/// Which pair of a form an error is about, and what of it may be shown.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PairAt {
    /// Its name is shaped like a Query parameter name, so it is shown.
    Named { position: usize, name: String },
    /// Shown by position only (counted from 1).
    Unnamed { position: usize },
    /// It follows the pair of a secret in the same form: an unencoded `&`
    /// in the secret's value may have made it, so nothing of it is shown.
    AfterSecret {
        position: usize,
        secret: &'static str,
    },
}

/// What is wrong with one pair.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PairFault {
    Empty,
    NoEquals,
    BadName,
    BadEscape,
    /// `None` when the value is a secret: even one of its bytes is not shown.
    RawByte(Option<u8>),
    NotUtf8,
    ControlCharacter,
}

/// One decoded pair: the name as sent (names are never encoded), and the
/// value, borrowed from the input unless it had escapes to decode.
pub type Pair<'a> = (&'a str, Cow<'a, str>);

/// Decodes a form body or query string into its pairs, in order. Only a
/// value with an escape or a `+` is copied: the rest borrow from `input`.
pub fn decode(input: &[u8]) -> Result<Vec<Pair<'_>>, FormError> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    // Checked as UTF-8 once, so that names and raw values are slices of it;
    // input that is not is rejected below, pair by pair, for what it holds.
    let text = std::str::from_utf8(input).ok();
    let failed = |start: usize, position: usize, fault: PairFault| {
        if matches!(input.first(), Some(b'{' | b'[')) {
            return FormError::LooksLikeJson;
        }
        FormError::Pair {
            at: pair_at(input, start, position),
            fault,
        }
    };
    let mut pairs = Vec::with_capacity(1 + memchr::memchr_iter(b'&', input).count());
    let mut start = 0;
    loop {
        let end = memchr::memchr(b'&', &input[start..]).map_or(input.len(), |at| start + at);
        let (pair, text) = (&input[start..end], text.and_then(|t| t.get(start..end)));
        let decoded = decode_pair(pair, text).map_err(|fault| failed(start, pairs.len(), fault))?;
        pairs.push(decoded);
        if end == input.len() {
            return Ok(pairs);
        }
        start = end + 1;
    }
}

/// What of the pair starting at `start`, the `position`th (from 0), an
/// error may show. Only read when the form is rejected.
fn pair_at(input: &[u8], start: usize, position: usize) -> PairAt {
    let position = position + 1;
    let name_of = |pair: &[u8]| {
        let end = memchr::memchr(b'=', pair).unwrap_or(pair.len());
        String::from_utf8_lossy(&pair[..end]).into_owned()
    };
    let before = input.get(..start.saturating_sub(1)).unwrap_or(&[]);
    let secret = before
        .split(|b| *b == b'&')
        .find_map(|pair| crate::service_model::secret_in_name(&name_of(pair)));
    if let Some(secret) = secret {
        return PairAt::AfterSecret { position, secret };
    }
    let end = memchr::memchr(b'&', &input[start..]).map_or(input.len(), |at| start + at);
    let name = name_of(&input[start..end]);
    if crate::error::is_parameter_name(&name) {
        PairAt::Named { position, name }
    } else {
        PairAt::Unnamed { position }
    }
}

/// Whether every byte is of `class`; read to the end, since a loop that
/// stops at the first other byte mispredicts where each name or value ends.
fn all_in(bytes: &[u8], class: u8) -> bool {
    bytes
        .iter()
        .fold(class, |found, &b| found & BYTES[usize::from(b)])
        != 0
}

/// `text` is `pair` as text, when the input was UTF-8.
fn decode_pair<'a>(pair: &'a [u8], text: Option<&'a str>) -> Result<Pair<'a>, PairFault> {
    if pair.is_empty() {
        return Err(PairFault::Empty);
    }
    let Some(eq) = memchr::memchr(b'=', pair) else {
        return Err(PairFault::NoEquals);
    };
    let (raw_name, raw_value) = (&pair[..eq], &pair[eq + 1..]);
    let name_ok = !raw_name.is_empty() && raw_name.len() <= MAX_NAME_LEN && all_in(raw_name, NAME);
    // `=` is ASCII, so the text splits where the bytes do.
    let (name_text, value_text) = match text {
        Some(text) => (text.get(..eq), text.get(eq + 1..)),
        None => (None, None),
    };
    // A plain name is ASCII, so it is its own text.
    let name = match name_text.or_else(|| std::str::from_utf8(raw_name).ok()) {
        Some(name) if name_ok => name,
        _ => return Err(PairFault::BadName),
    };
    let value = decode_value(raw_value, value_text, name)?;
    Ok((name, value))
}

/// What each byte may be: [`NAME`] in a parameter name, [`RAW`] unencoded
/// in a value (see [`is_raw_value_byte`]).
const BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            table[b] |= NAME;
        }
        if unreserved
            || matches!(
                byte,
                b':' | b'/' | b',' | b'*' | b'@' | b'!' | b'$' | b'\'' | b'(' | b')'
            )
        {
            table[b] |= RAW;
        }
        b += 1;
    }
    table
};
const NAME: u8 = 1;
const RAW: u8 = 2;

fn decode_value<'a>(
    raw: &'a [u8],
    text: Option<&'a str>,
    name: &str,
) -> Result<Cow<'a, str>, PairFault> {
    // Most values need no decoding: bytes that may stand raw are printable
    // ASCII, so they are the value itself, valid UTF-8 with no control
    // character.
    if all_in(raw, RAW) {
        if let Some(text) = text.or_else(|| std::str::from_utf8(raw).ok()) {
            return Ok(Cow::Borrowed(text));
        }
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        // Bytes that stand for themselves are copied a run at a time.
        let run = raw[i..]
            .iter()
            .position(|&b| !is_raw_value_byte(b))
            .unwrap_or(raw.len() - i);
        bytes.extend_from_slice(&raw[i..i + run]);
        i += run;
        let Some(&byte) = raw.get(i) else {
            break;
        };
        match byte {
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(PairFault::BadEscape)?;
                let (Some(hi), Some(lo)) = (hex_value(hex[0]), hex_value(hex[1])) else {
                    return Err(PairFault::BadEscape);
                };
                bytes.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            b'+' => bytes.push(b' '),
            byte => {
                // Not even one byte of a secret is shown.
                let secret = crate::service_model::secret_in_name(name).is_some();
                return Err(PairFault::RawByte((!secret).then_some(byte)));
            }
        }
        i += 1;
    }
    let value = String::from_utf8(bytes).map_err(|_| PairFault::NotUtf8)?;
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(PairFault::ControlCharacter);
    }
    Ok(Cow::Owned(value))
}

/// Bytes a value may hold unencoded: RFC 3986 unreserved characters and the
/// sub-delimiters that carry no meaning in a form. `=`, `&`, `;`, `#`, `?`,
/// quotes, brackets, spaces and anything outside printable ASCII must be
/// percent-encoded, as every SDK does.
fn is_raw_value_byte(b: u8) -> bool {
    BYTES[usize::from(b)] & RAW != 0
}

/// One name or value: percent-encoded, with a space as `+`, as botocore and
/// HTML forms write it (and as [`decode`] reads it). Some ElastiCache
/// stand-ins check a signature over the form re-encoded that way.
fn push_component(text: &str, out: &mut String) {
    form_encode(text.as_bytes(), out);
}

/// Canonical form encoding of `pairs`, in the order given.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::with_capacity(256);
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_pair(name, value, &mut out);
    }
    out
}

/// One canonically encoded `name=value`, appended to `out`.
pub fn push_pair(name: &str, value: &str, out: &mut String) {
    push_component(name, out);
    out.push('=');
    push_component(value, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::{is_unreserved, percent_encode};
    use proptest::prelude::*;

    fn owned(pairs: Vec<Pair<'_>>) -> Vec<(String, String)> {
        pairs
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.into_owned()))
            .collect()
    }

    fn pairs(input: &str) -> Vec<(String, String)> {
        owned(decode(input.as_bytes()).unwrap())
    }

    #[test]
    fn decodes_what_sdks_send() {
        assert_eq!(
            pairs("Action=DescribeCacheClusters&Version=2015-02-02&Name=a%20b+c%2Bd%3D"),
            vec![
                ("Action".into(), "DescribeCacheClusters".into()),
                ("Version".into(), "2015-02-02".into()),
                ("Name".into(), "a b c+d=".into()),
            ]
        );
        assert_eq!(pairs(""), vec![]);
        assert_eq!(pairs("Empty="), vec![("Empty".into(), String::new())]);
        assert_eq!(
            pairs("Tags.member.1.Key=k"),
            vec![("Tags.member.1.Key".into(), "k".into())]
        );
        assert_eq!(
            pairs("T=2015-02-02T12:00:00Z"),
            vec![("T".into(), "2015-02-02T12:00:00Z".into())]
        );
        assert_eq!(pairs("U=%E2%9C%93"), vec![("U".into(), "✓".into())]);
    }

    fn fault(input: &[u8]) -> PairFault {
        match decode(input) {
            Err(FormError::Pair { fault, .. }) => fault,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    #[test]
    fn rejects_ambiguous_shapes() {
        let cases: &[(PairFault, &[&[u8]])] = &[
            (PairFault::Empty, &[b"a=1&&b=2", b"a=1&", b"&a=1"]),
            (PairFault::NoEquals, &[b"Action"]),
            (PairFault::BadName, &[b"=x", b"%41ction=x", b"Act+ion=x"]),
            (PairFault::RawByte(Some(b'=')), &[b"a=b=c"]),
            (PairFault::RawByte(Some(b';')), &[b"a=b;c=d"]),
            (PairFault::RawByte(Some(b' ')), &[b"a=b c"]),
            (PairFault::RawByte(Some(0xc3)), &[b"a=\xc3\xa9"]),
            (PairFault::BadEscape, &[b"a=%4", b"a=%zz", b"a=%"]),
            (PairFault::NotUtf8, &[b"a=%ff"]),
            (PairFault::ControlCharacter, &[b"a=%00", b"a=%1b"]),
            // Not one byte of a secret is shown.
            (
                PairFault::RawByte(None),
                &[b"AuthToken=b=c", b"Passwords.member.1=b c"],
            ),
        ];
        for (expected, inputs) in cases {
            for input in *inputs {
                assert_eq!(
                    fault(input),
                    *expected,
                    "{}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn says_which_pair_and_shows_only_names() {
        let at = |input: &str| match decode(input.as_bytes()) {
            Err(FormError::Pair { at, .. }) => at,
            other => panic!("{input}: {other:?}"),
        };
        assert_eq!(
            at("Action=X&Version=1&CacheClusterId"),
            PairAt::Named {
                position: 3,
                name: "CacheClusterId".into()
            }
        );
        assert_eq!(
            at("Action=X&X-Amz-Date=%zz"),
            PairAt::Named {
                position: 2,
                name: "X-Amz-Date".into()
            }
        );
        // Not shaped like a Query name: by position only.
        for input in [
            "Action=X&abc",
            "Action=X&a b=1",
            "Action=X&&",
            "Action=X&9a=%",
        ] {
            assert_eq!(at(input), PairAt::Unnamed { position: 2 }, "{input}");
        }
        // Whatever follows a secret in its form may be a piece of it.
        for (input, secret) in [
            ("Action=X&AuthToken=abc&Def", "AuthToken"),
            ("AuthToken=abc&Def=1&Ghi", "AuthToken"),
            ("Passwords.member.1=abc&def", "Passwords"),
            (
                "AuthenticationMode.Passwords.member.1=a&Xyz=%zz",
                "Passwords",
            ),
            ("authtoken=abc&&", "AuthToken"),
        ] {
            assert!(
                matches!(at(input), PairAt::AfterSecret { secret: s, .. } if s == secret),
                "{input}: {:?}",
                at(input)
            );
        }
        // A pair before the secret's is not part of it.
        assert_eq!(
            at("Abc&AuthToken=x"),
            PairAt::Named {
                position: 1,
                name: "Abc".into()
            }
        );
        for json in ["{\"AuthToken\": \"a&b\"}", "[1]", "{}"] {
            assert_eq!(
                decode(json.as_bytes()),
                Err(FormError::LooksLikeJson),
                "{json}"
            );
        }
    }

    #[test]
    fn byte_classes_are_the_documented_ones() {
        for b in 0..=255u8 {
            let name = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
            let raw = is_unreserved(b)
                || matches!(
                    b,
                    b':' | b'/' | b',' | b'*' | b'@' | b'!' | b'$' | b'\'' | b'(' | b')'
                );
            assert_eq!(BYTES[usize::from(b)] & NAME != 0, name, "{b:#04x}");
            assert_eq!(is_raw_value_byte(b), raw, "{b:#04x}");
        }
    }

    #[test]
    fn encodes_canonically() {
        assert_eq!(
            encode([("Action", "X"), ("Name", "a b+c/é~")]),
            "Action=X&Name=a+b%2Bc%2F%C3%A9~"
        );
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._-]{1,40}"
    }

    /// Forms that are mostly what SDKs send, with now and then a byte, an
    /// `=` or a pair that is not.
    fn form_like() -> impl Strategy<Value = Vec<u8>> {
        use proptest::collection::vec;
        use proptest::sample::select;
        let name_byte = prop_oneof![
            12 => select(&b"aZ9._-"[..]),
            1 => select(&b"%+~= \xc3"[..]),
        ];
        let value_byte = prop_oneof![
            8 => select(&b"aZ9._-~:,"[..]),
            3 => select(&b"%2Fc3e0A+"[..]),
            1 => select(&b"=;& \x00\x1b\xc3\xa9\xff"[..]),
        ];
        let equals = prop_oneof![10 => Just(&b"="[..]), 1 => Just(&b""[..])];
        vec((vec(name_byte, 0..6), equals, vec(value_byte, 0..10)), 0..6).prop_map(|pairs| {
            let mut out = Vec::new();
            for (i, (name, equals, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b'&');
                }
                out.extend_from_slice(name);
                out.extend_from_slice(equals);
                out.extend_from_slice(value);
            }
            out
        })
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(
            list in proptest::collection::vec((name_strategy(), "[^\\p{Cc}]{0,40}"), 0..8)
        ) {
            let encoded = encode(list.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let decoded = owned(decode(encoded.as_bytes()).unwrap());
            prop_assert_eq!(decoded, list);
        }

        #[test]
        fn encoding_escapes_exactly_the_reserved_bytes(text in any::<String>()) {
            // Byte by byte, as RFC 3986 says: the run-copying encoder must agree.
            let mut expected = String::new();
            for b in text.bytes() {
                if is_unreserved(b) {
                    expected.push(char::from(b));
                } else {
                    expected.push_str(&format!("%{b:02X}"));
                }
            }
            let mut got = String::new();
            percent_encode(text.as_bytes(), &mut got);
            prop_assert_eq!(&got, &expected);
            // A form component is the same with `+` for a space.
            let mut component = String::new();
            push_component(&text, &mut component);
            prop_assert_eq!(component, expected.replace("%20", "+"));
        }

        #[test]
        fn the_input_decodes_as_its_pairs_do_alone(input in form_like()) {
            // The reference: split at every `&`, each pair decoded alone,
            // from its own text rather than a slice of the whole input.
            let reference: Result<Vec<(String, String)>, PairFault> = if input.is_empty() {
                Ok(Vec::new())
            } else {
                input
                    .split(|b| *b == b'&')
                    .map(|pair| {
                        decode_pair(pair, std::str::from_utf8(pair).ok())
                            .map(|(n, v)| (n.to_owned(), v.into_owned()))
                    })
                    .collect()
            };
            let decoded = decode(&input).map(owned).map_err(|e| match e {
                FormError::Pair { fault, .. } => Some(fault),
                FormError::LooksLikeJson => None,
            });
            prop_assert_eq!(decoded, reference.map_err(Some));
        }

        #[test]
        fn decoding_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&input);
        }

        #[test]
        fn decoded_pairs_re_encode_to_a_form_that_decodes_the_same(input in "[A-Za-z0-9=&%+._~-]{0,80}") {
            if let Ok(decoded) = decode(input.as_bytes()) {
                let again = encode(decoded.iter().map(|(n, v)| (*n, v.as_ref())));
                prop_assert_eq!(decode(again.as_bytes()).unwrap(), decoded);
            }
        }
    }
}
