//! A path to a member nested in a parameter: through structures (`.Name`)
//! and the items of lists (`[]`), as a policy writes it
//! (`LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroup`).
//! The path is resolved against the service model when the policy loads
//! (`conditions::path`); here it is walked over a request's typed values.

use std::sync::Arc;

use crate::params::{Params, Value, SECRET};

/// One step below the parameter.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Step {
    /// Into each item of a list (`[]`).
    Items,
    /// Into a member of a structure, by its query name.
    Member(&'static str),
}

/// A parameter and the steps below it; at least one step, or it would be
/// the parameter itself.
#[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct ParamPath {
    /// The parameter at the top, by its query name.
    top: &'static str,
    steps: Box<[Step]>,
    /// Whether a member on the path carries a secret: its values are then
    /// never shown.
    secret: bool,
    /// The path as written, with `[]` for each list: how it is named in
    /// denials, the audit line and `explain`.
    text: Box<str>,
}

/// What a condition looked at: a parameter, or a path below one.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum LookedAt {
    Param(&'static str),
    Path(Arc<ParamPath>),
}

/// Where a walk along a path met something other than a value: an empty
/// list, a member the request leaves out, or a value of another type than
/// the model's (which the parser does not build).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Gap {
    Empty,
    Absent,
    Mistyped,
}

/// What a walk finds at the end of a path, or the gap it stopped at and
/// how many steps it had taken (the steps before the empty list, or up to
/// and including the absent member).
pub type Reached<'v> = Result<&'v Value, (Gap, usize)>;

impl ParamPath {
    pub fn new(top: &'static str, steps: Vec<Step>, secret: bool) -> ParamPath {
        let text = Self::written(top, &steps, None);
        ParamPath {
            top,
            steps: steps.into_boxed_slice(),
            secret,
            text: text.into_boxed_str(),
        }
    }

    pub fn top(&self) -> &'static str {
        self.top
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_secret(&self) -> bool {
        self.secret
    }

    /// Whether the path goes through the items of a list.
    pub fn has_items(&self) -> bool {
        self.steps.contains(&Step::Items)
    }

    /// The path with each `[]` numbered (from 1, as the Query API numbers
    /// items) by `indexes`, in order; for naming one place in a request.
    pub fn at(&self, indexes: &[usize]) -> String {
        Self::written(self.top, &self.steps, Some(indexes))
    }

    /// Where a walk reached, as [`ParamPath::at`] names it: the end of the
    /// path, or the place of its gap.
    pub fn place(&self, indexes: &[usize], reached: &Reached<'_>) -> String {
        let depth = match reached {
            Ok(_) => self.steps.len(),
            Err((_, depth)) => (*depth).min(self.steps.len()),
        };
        Self::written(self.top, &self.steps[..depth], Some(indexes))
    }

    /// A path's text: `[]` for each list, or the item number from
    /// `indexes` where it has one.
    pub(crate) fn written(top: &str, steps: &[Step], indexes: Option<&[usize]>) -> String {
        let mut text = top.to_owned();
        let mut next = 0;
        for step in steps {
            match step {
                Step::Items => {
                    match indexes.and_then(|i| i.get(next)) {
                        Some(index) => {
                            text.push('[');
                            text.push_str(&(index + 1).to_string());
                            text.push(']');
                        }
                        None => text.push_str("[]"),
                    }
                    next += 1;
                }
                Step::Member(name) => {
                    text.push('.');
                    text.push_str(name);
                }
            }
        }
        text
    }

    /// Whether `holds` says yes at the end of the path below `value` (the
    /// parameter's): at each list, for every item (`every`) or for at least
    /// one; an empty list is `if_empty`'s answer, and `gap` answers for an
    /// absent member or a value of the wrong type.
    pub fn holds(
        &self,
        value: &Value,
        every: bool,
        if_empty: bool,
        gap: &impl Fn(Gap) -> bool,
        holds: &impl Fn(&Value) -> bool,
    ) -> bool {
        walk_holds(value, &self.steps, every, if_empty, gap, holds)
    }

    /// Every place the path reaches below `value`, with the indexes of the
    /// items it went through, in request order, at most `limit` of them
    /// (a list's items are bounded by the parser, but nested lists
    /// multiply).
    pub fn reach<'v>(&self, value: &'v Value, limit: usize) -> Vec<(Vec<usize>, Reached<'v>)> {
        let mut out = Vec::new();
        walk_reach(value, &self.steps, 0, &mut Vec::new(), limit, &mut out);
        out
    }

    /// The values at the end of the path in a request, as one line: the
    /// one value, or `[…]` of each item's (`(absent)` where an item lacks
    /// the member, `[]` for an empty list), with a secret shown only as
    /// [`SECRET`]. `None` when the request lacks the parameter.
    pub fn render(&self, params: &Params, limit: usize) -> Option<String> {
        let value = params.get(self.top)?;
        let shown = |reached: &Reached<'_>| match reached {
            Ok(_) if self.secret => SECRET.to_owned(),
            Ok(value) => value.render(),
            Err((Gap::Empty, _)) => "[]".to_owned(),
            Err((Gap::Absent, _)) => "(absent)".to_owned(),
            Err((Gap::Mistyped, _)) => "(not of the model's type)".to_owned(),
        };
        let reached = self.reach(value, limit);
        if !self.has_items() {
            return reached.first().map(|(_, r)| shown(r));
        }
        // The first list itself empty: nothing to list the places of.
        let first_list = self.steps.iter().position(|s| *s == Step::Items);
        if let [(_, Err((Gap::Empty, depth)))] = reached.as_slice() {
            if Some(*depth) == first_list {
                return Some("[]".to_owned());
            }
        }
        let items: Vec<String> = reached.iter().map(|(_, r)| shown(r)).collect();
        Some(format!("[{}]", items.join(", ")))
    }
}

impl std::fmt::Display for ParamPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn walk_holds(
    value: &Value,
    steps: &[Step],
    every: bool,
    if_empty: bool,
    gap: &impl Fn(Gap) -> bool,
    holds: &impl Fn(&Value) -> bool,
) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return holds(value);
    };
    match (step, value) {
        (Step::Items, Value::List(items)) if items.is_empty() => if_empty,
        (Step::Items, Value::List(items)) => {
            let item = |item: &Value| walk_holds(item, rest, every, if_empty, gap, holds);
            if every {
                items.iter().all(item)
            } else {
                items.iter().any(item)
            }
        }
        (Step::Member(name), Value::Structure(fields)) => match fields.get(name) {
            Some(member) => walk_holds(member, rest, every, if_empty, gap, holds),
            None => gap(Gap::Absent),
        },
        (Step::Items | Step::Member(_), _) => gap(Gap::Mistyped),
    }
}

fn walk_reach<'v>(
    value: &'v Value,
    steps: &[Step],
    depth: usize,
    indexes: &mut Vec<usize>,
    limit: usize,
    out: &mut Vec<(Vec<usize>, Reached<'v>)>,
) {
    if out.len() >= limit {
        return;
    }
    let Some((step, rest)) = steps.split_first() else {
        out.push((indexes.clone(), Ok(value)));
        return;
    };
    match (step, value) {
        (Step::Items, Value::List(items)) if items.is_empty() => {
            out.push((indexes.clone(), Err((Gap::Empty, depth))));
        }
        (Step::Items, Value::List(items)) => {
            for (index, item) in items.iter().enumerate() {
                indexes.push(index);
                walk_reach(item, rest, depth + 1, indexes, limit, out);
                indexes.pop();
            }
        }
        (Step::Member(name), Value::Structure(fields)) => match fields.get(name) {
            Some(member) => walk_reach(member, rest, depth + 1, indexes, limit, out),
            None => out.push((indexes.clone(), Err((Gap::Absent, depth + 1)))),
        },
        (Step::Items | Step::Member(_), _) => {
            out.push((indexes.clone(), Err((Gap::Mistyped, depth))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request;

    fn params(query: &str) -> Params {
        let (request, _) = request::parse_query(query).unwrap();
        request.params
    }

    #[test]
    fn renders_each_place_it_reaches_and_what_is_missing() {
        let item = "LogDeliveryConfigurations.LogDeliveryConfigurationRequest";
        let query = format!(
            "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=a\
             &{item}.1.DestinationDetails.CloudWatchLogsDetails.LogGroup=/a\
             &{item}.2.DestinationDetails.KinesisFirehoseDetails.DeliveryStream=s\
             &{item}.3.DestinationDetails.CloudWatchLogsDetails.LogGroup=/c"
        );
        let path = ParamPath::new(
            "LogDeliveryConfigurations",
            vec![
                Step::Items,
                Step::Member("DestinationDetails"),
                Step::Member("CloudWatchLogsDetails"),
                Step::Member("LogGroup"),
            ],
            false,
        );
        let params = params(&query);
        assert_eq!(
            path.as_str(),
            "LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroup"
        );
        assert_eq!(
            path.render(&params, 10).as_deref(),
            Some("[/a, (absent), /c]")
        );
        assert_eq!(path.render(&params, 1).as_deref(), Some("[/a]"));
        let reached = path.reach(params.get("LogDeliveryConfigurations").unwrap(), 10);
        assert_eq!(
            path.place(&reached[1].0, &reached[1].1),
            "LogDeliveryConfigurations[2].DestinationDetails.CloudWatchLogsDetails"
        );
        assert_eq!(
            path.place(&reached[2].0, &reached[2].1),
            "LogDeliveryConfigurations[3].DestinationDetails.CloudWatchLogsDetails.LogGroup"
        );
        assert_eq!(path.render(&Params::default(), 10), None);
        let empty = super::tests::params(
            "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=a&LogDeliveryConfigurations=",
        );
        assert_eq!(path.render(&empty, 10).as_deref(), Some("[]"));
    }

    #[test]
    fn a_secret_path_shows_only_that_a_value_is_there() {
        let query = "Action=CreateUser&Version=2015-02-02&UserId=u&UserName=u&Engine=redis\
                     &AccessString=on&AuthenticationMode.Type=password\
                     &AuthenticationMode.Passwords.member.1=hunter2hunter2hunter2";
        let path = ParamPath::new(
            "AuthenticationMode",
            vec![Step::Member("Passwords"), Step::Items],
            true,
        );
        assert_eq!(
            path.render(&params(query), 10).as_deref(),
            Some("[(secret)]")
        );
    }
}
