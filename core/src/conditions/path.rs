//! What a `params:` key names: a parameter (`SecurityGroupIds`), or a path
//! to a member nested in one (`NodeGroupConfiguration[].ReplicaCount`),
//! resolved against the service model with a did-you-mean on each segment.

use std::sync::Arc;

use super::compile::member_of;
use crate::diagnostics::{Diagnostics, ErrorKind, Place};
use crate::model::Action;
use crate::names::NameCase;
use crate::param_path::{ParamPath, Step};
use crate::service_model::{Kind, Member, Shape};
use crate::text::did_you_mean;

/// Most steps below a parameter: deeper than any request shape goes (the
/// deepest, a log group, is four), and bounds the walk a condition makes.
const MAX_STEPS: usize = 8;

/// What a condition tests: the parameter at the top, and where below it.
pub(super) struct Target {
    pub top: &'static Member,
    /// `None` for the parameter itself.
    pub path: Option<Arc<ParamPath>>,
    /// The shape at the end of the path.
    pub shape: &'static Shape,
    /// How the names found there compare.
    pub case: Option<NameCase>,
    /// Whether a member on the way carries a secret.
    pub secret: bool,
}

impl Target {
    fn parameter(member: &'static Member) -> Target {
        Target {
            top: member,
            path: None,
            shape: member.shape(),
            case: member.case(),
            secret: member.is_secret(),
        }
    }

    /// How messages name it: the parameter, or the path as written.
    pub fn label(&self) -> &str {
        match &self.path {
            Some(path) => path.as_str(),
            None => self.top.query_name(),
        }
    }
}

/// The parameter or path a `params:` key names, the same in each of the
/// rule's actions; every problem is reported at `place`.
pub(super) fn target_of(
    key: &str,
    actions: &[Action],
    place: &Place,
    out: &mut Diagnostics,
) -> Option<Target> {
    if !key.contains(['.', '[']) {
        return member_of(key, actions, place, out).map(Target::parameter);
    }
    let Some(segments) = segments(key) else {
        out.report(
            place
                .error(
                    ErrorKind::InvalidValue,
                    format!("`{key}` is not a parameter or a path to a member of one"),
                )
                .hint("write `Name`, `Name.Member`, or `List[].Member` with `[]` for each list's items"),
        );
        return None;
    };
    let (top_name, _) = segments[0];
    let top = member_of(top_name, actions, place, out)?;
    // A path is resolved in one shape: each action must have it.
    if let Some(action) = actions.iter().find(|action| {
        action
            .operation()
            .member(top_name)
            .is_some_and(|m| !std::ptr::eq(m.shape(), top.shape()))
    }) {
        out.report(
            place
                .error(
                    ErrorKind::UnknownName,
                    format!("`{top_name}` has a different shape in {action} than in the rule's other actions"),
                )
                .hint("split the rule by action"),
        );
        return None;
    }
    let mut steps = Vec::new();
    let mut shape = top.shape();
    let mut case = top.case();
    let mut secret = top.is_secret();
    let mut walked = top_name.to_owned();
    for (index, &(name, lists)) in segments.iter().enumerate() {
        if index > 0 {
            let member = match shape.kind() {
                Kind::Structure(structure) => match structure.member(name) {
                    Some(member) => member,
                    None => {
                        let hint =
                            did_you_mean(name, structure.members().iter().map(Member::query_name))
                                .map_or_else(
                                    || {
                                        let names: Vec<String> = structure
                                            .members()
                                            .iter()
                                            .map(|m| format!("`{}`", m.query_name()))
                                            .collect();
                                        format!("its members are {}", names.join(", "))
                                    },
                                    |close| format!("did you mean `{walked}.{close}`?"),
                                );
                        out.report(
                            place
                                .error(
                                    ErrorKind::UnknownName,
                                    format!("`{name}` is not a member of `{walked}`"),
                                )
                                .hint(hint),
                        );
                        return None;
                    }
                },
                Kind::List(_) => {
                    out.report(
                        place
                            .error(
                                ErrorKind::InvalidValue,
                                format!(
                                    "`{walked}` is a list: a path steps into its items with `[]`"
                                ),
                            )
                            .hint(format!("write `{walked}[].{name}`")),
                    );
                    return None;
                }
                other => {
                    out.report(not_a_structure(&walked, other, place));
                    return None;
                }
            };
            steps.push(Step::Member(member.query_name()));
            shape = member.shape();
            case = member.case();
            secret |= member.is_secret();
            walked.push('.');
            walked.push_str(name);
        }
        for _ in 0..lists {
            let Kind::List(list) = shape.kind() else {
                out.report(
                    place
                        .error(
                            ErrorKind::InvalidValue,
                            format!("`{walked}` is not a list, so `[]` does not apply to it"),
                        )
                        .hint(format!("leave `[]` out after `{walked}`")),
                );
                return None;
            };
            steps.push(Step::Items);
            shape = list.member().shape();
            walked.push_str("[]");
        }
    }
    if steps.len() > MAX_STEPS {
        out.report(place.error(
            ErrorKind::InvalidValue,
            format!(
                "`{key}` goes {} steps deep, more than the {MAX_STEPS} a path may",
                steps.len()
            ),
        ));
        return None;
    }
    if steps.is_empty() {
        return Some(Target::parameter(top));
    }
    Some(Target {
        top,
        path: Some(Arc::new(ParamPath::new(top.query_name(), steps, secret))),
        shape,
        case,
        secret,
    })
}

fn not_a_structure(walked: &str, kind: &Kind, place: &Place) -> crate::diagnostics::Diagnostic {
    let what = match kind {
        Kind::Map(_) => {
            return place.error(
                ErrorKind::InvalidValue,
                format!("`{walked}` is a map, which a path cannot step into"),
            )
        }
        Kind::String(_) => "a string",
        Kind::Boolean => "a boolean",
        Kind::Integer(_) | Kind::Long(_) => "an integer",
        Kind::Timestamp => "a timestamp",
        Kind::List(_) => "a list",
        Kind::Structure(_) => "a structure",
    };
    place
        .error(
            ErrorKind::InvalidValue,
            format!("`{walked}` is {what}, which has no members"),
        )
        .hint(format!("end the path at `{walked}`"))
}

/// `A[].B.C` as `[(A, 1), (B, 0), (C, 0)]`: each name and how many `[]`
/// follow it; `None` if it is not of that form.
fn segments(key: &str) -> Option<Vec<(&str, usize)>> {
    key.split('.')
        .map(|segment| {
            let name = segment.trim_end_matches("[]");
            let lists = (segment.len() - name.len()) / 2;
            let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric());
            valid.then_some((name, lists))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_names_with_their_lists() {
        assert_eq!(
            segments("A[].B.C"),
            Some(vec![("A", 1), ("B", 0), ("C", 0)])
        );
        assert_eq!(segments("A[][]"), Some(vec![("A", 2)]));
        for bad in ["A..B", "A.", ".A", "A[0].B", "A[", "A[].B-c", "A[]x"] {
            assert_eq!(segments(bad), None, "{bad}");
        }
    }
}
