//! ListTagsForResource's answer, read: the tags of a resource, or the
//! error AWS gave. Only the few elements needed are read, from a body the
//! proxy's own upstream sent and whose size the upstream bounds.

/// What a ListTagsForResource answer says.
#[derive(PartialEq, Eq, Debug)]
pub enum TagAnswer {
    /// The resource's tags (AWS's order).
    Tags(Vec<(String, String)>),
    /// The resource does not exist: it has no tags.
    NotFound,
    /// Any other error: its code and message.
    Error { code: String, message: String },
}

/// Most tags read from one answer: AWS allows 50 on a resource.
const MAX_TAGS: usize = 50;

/// Reads an answer of HTTP status `status`; `Err` when it is neither a
/// tag list nor an AWS error.
pub fn read(status: u16, body: &str) -> Result<TagAnswer, String> {
    if (200..300).contains(&status) {
        let Some(list) = inner(body, "TagList") else {
            return Err("the answer has no `TagList`".to_owned());
        };
        let mut tags = Vec::new();
        let mut rest = list;
        while let Some((tag, after)) = next_element(rest, "Tag") {
            if tags.len() == MAX_TAGS {
                return Err(format!("the answer has more than {MAX_TAGS} tags"));
            }
            let key = inner(tag, "Key").ok_or("a tag has no `Key`")?;
            // A tag may have an empty value, written `<Value/>` or left out.
            let value = inner(tag, "Value").unwrap_or("");
            tags.push((unescape(key)?, unescape(value)?));
            rest = after;
        }
        return Ok(TagAnswer::Tags(tags));
    }
    let code = inner(body, "Code")
        .map(unescape)
        .transpose()?
        .ok_or_else(|| format!("the answer has HTTP status {status} and no error code"))?;
    if code.contains("NotFound") {
        return Ok(TagAnswer::NotFound);
    }
    let message = inner(body, "Message")
        .map(unescape)
        .transpose()?
        .unwrap_or_default();
    Ok(TagAnswer::Error { code, message })
}

/// The text inside the first `<name>…</name>` (or `""` for `<name/>`).
fn inner<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    next_element(xml, name).map(|(inside, _)| inside)
}

/// The first `<name>` element: its content and the text after it.
fn next_element<'a>(xml: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let mut from = 0;
    loop {
        let at = from + xml[from..].find('<')?;
        let rest = &xml[at + 1..];
        let after_name = rest.strip_prefix(name);
        match after_name.and_then(|r| r.chars().next()) {
            Some('>') => {
                let start = at + 1 + name.len() + 1;
                let close = format!("</{name}>");
                let end = start + xml[start..].find(&close)?;
                return Some((&xml[start..end], &xml[end + close.len()..]));
            }
            Some('/') if after_name.is_some_and(|r| r.starts_with("/>")) => {
                let end = at + 1 + name.len() + 2;
                return Some(("", &xml[end..]));
            }
            // Another element whose name starts with `name`, or attributes
            // (AWS sends none inside these): look further.
            _ => from = at + 1,
        }
    }
}

/// XML's five entities and character references.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find(';').ok_or("an entity is not closed with `;`")?;
        let entity = &after[..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => entity.strip_prefix('#').and_then(|d| d.parse().ok()),
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("`&{entity};` is not an XML entity"))?
            }
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tags_errors_and_missing_resources() {
        let ok = r#"<ListTagsForResourceResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
  <ListTagsForResourceResult><TagList>
    <Tag><Key>team</Key><Value>payments</Value></Tag>
    <Tag><Key>a&amp;b</Key><Value/></Tag>
    <Tag><Key>note</Key><Value>&lt;x&gt; &#233;</Value></Tag>
  </TagList></ListTagsForResourceResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</ListTagsForResourceResponse>"#;
        assert_eq!(
            read(200, ok),
            Ok(TagAnswer::Tags(vec![
                ("team".into(), "payments".into()),
                ("a&b".into(), String::new()),
                ("note".into(), "<x> é".into()),
            ]))
        );
        assert_eq!(
            read(
                200,
                "<R><ListTagsForResourceResult><TagList/></ListTagsForResourceResult></R>"
            ),
            Ok(TagAnswer::Tags(Vec::new()))
        );
        let error = |code: &str| {
            format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m &amp; n</Message></Error></ErrorResponse>")
        };
        assert_eq!(
            read(404, &error("ReplicationGroupNotFoundFault")),
            Ok(TagAnswer::NotFound)
        );
        assert_eq!(
            read(400, &error("CacheClusterNotFound")),
            Ok(TagAnswer::NotFound)
        );
        assert_eq!(
            read(400, &error("Throttling")),
            Ok(TagAnswer::Error {
                code: "Throttling".into(),
                message: "m & n".into()
            })
        );
        assert!(read(500, "oops").is_err());
        assert!(read(200, "<x/>").is_err());
        assert!(read(200, "<TagList><Tag><Value>v</Value></Tag></TagList>").is_err());
        assert!(read(200, "<TagList><Tag><Key>&bogus;</Key></Tag></TagList>").is_err());
        let many: String = (0..51)
            .map(|i| format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>"))
            .collect();
        assert!(read(200, &format!("<TagList>{many}</TagList>")).is_err());
    }
}
