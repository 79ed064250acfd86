//! Typed values the proxy decides on: actions, regions and account ids.
//! Each is validated once, when it is parsed; after that it cannot be malformed.

use std::fmt;

use crate::service_model::{self, Operation, OPERATIONS, OPERATION_COUNT, OPERATION_NAMES};

/// The ElastiCache Query API version the proxy speaks: the service model's.
pub const API_VERSION: &str = service_model::API_VERSION;
/// The SigV4 signing name of ElastiCache.
pub const SERVICE: &str = "elasticache";

/// One ElastiCache action, held as its index in the service model's
/// operations, which are sorted by name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Action(u8);

// Every index fits the `u8`.
const _: () = assert!(OPERATION_COUNT <= u8::MAX as usize + 1);

/// A set of actions, one bit per action of the model. Its size follows the
/// model's action count, so no action's bit can wrap onto another's.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ActionSet([u64; ACTION_WORDS]);

const ACTION_WORDS: usize = OPERATION_COUNT.div_ceil(64);
// Every action has a bit in the set.
const _: () = assert!(ACTION_WORDS * 64 >= OPERATION_COUNT);

impl ActionSet {
    pub const EMPTY: ActionSet = ActionSet([0; ACTION_WORDS]);

    /// Every action of the model.
    pub fn all() -> ActionSet {
        Action::all().collect()
    }

    pub fn insert(&mut self, action: Action) {
        self.0[action.index() / 64] |= 1 << (action.index() % 64);
    }

    pub fn contains(self, action: Action) -> bool {
        self.0[action.index() / 64] & (1 << (action.index() % 64)) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::all().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Action> for ActionSet {
    fn from_iter<I: IntoIterator<Item = Action>>(actions: I) -> ActionSet {
        let mut set = ActionSet::EMPTY;
        for action in actions {
            set.insert(action);
        }
        set
    }
}

impl Action {
    pub const COUNT: usize = OPERATION_COUNT;

    /// Exact, case-sensitive lookup: the API's action names are case-sensitive.
    pub fn from_name(name: &str) -> Option<Action> {
        OPERATION_NAMES
            .binary_search(&name)
            .ok()
            .map(|index| Action(index as u8))
    }

    pub fn name(self) -> &'static str {
        OPERATION_NAMES[self.0 as usize]
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }

    pub fn all() -> impl Iterator<Item = Action> {
        (0..OPERATION_COUNT).map(|index| Action(index as u8))
    }

    pub fn all_names() -> &'static [&'static str] {
        &OPERATION_NAMES
    }

    /// The action's operation in the service model: its parameters.
    pub fn operation(self) -> &'static Operation {
        &OPERATIONS[self.0 as usize]
    }

    /// The two actions that change a cache security group's EC2 ingress: they
    /// carry exactly the three guarded parameters, all required.
    pub fn is_ingress_change(self) -> bool {
        matches!(
            self.name(),
            "AuthorizeCacheSecurityGroupIngress" | "RevokeCacheSecurityGroupIngress"
        )
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An AWS region name such as `us-east-1` or `us-gov-west-1`.
///
/// The region ends up in the upstream host name, so only the shape AWS uses
/// is accepted: lowercase words joined by dashes, ending in a number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Region(String);

impl Region {
    pub fn parse(text: &str) -> Option<Region> {
        let parts: Vec<&str> = text.split('-').collect();
        let (last, words) = parts.split_last()?;
        let words_ok = words.len() >= 2
            && words.iter().all(|w| {
                !w.is_empty() && w.len() <= 16 && w.bytes().all(|b| b.is_ascii_lowercase())
            });
        let number_ok = (1..=2).contains(&last.len()) && last.bytes().all(|b| b.is_ascii_digit());
        (text.len() <= 32 && words_ok && number_ok).then(|| Region(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 12-digit AWS account number. The dashed form `1234-5678-1234` that the
/// console and the ElastiCache docs show is the same account.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId([u8; 12]);

impl AccountId {
    pub fn parse(text: &str) -> Option<AccountId> {
        let bytes = text.as_bytes();
        let digits: Vec<u8> = match bytes.len() {
            12 => bytes.to_vec(),
            14 if bytes[4] == b'-' && bytes[9] == b'-' => bytes
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 4 && *i != 9)
                .map(|(_, b)| *b)
                .collect(),
            _ => return None,
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut id = [0u8; 12];
        id.copy_from_slice(&digits);
        Some(AccountId(id))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_has_a_bit_of_its_own() {
        for action in Action::all() {
            let one: ActionSet = std::iter::once(action).collect();
            assert_eq!(one.iter().collect::<Vec<_>>(), vec![action]);
            assert!(ActionSet::all().contains(action));
            assert!(!ActionSet::EMPTY.contains(action));
        }
        assert_eq!(ActionSet::all().iter().count(), Action::COUNT);
    }

    #[test]
    fn action_list_is_sorted_for_binary_search() {
        assert!(OPERATION_NAMES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Action::all().count(), Action::COUNT);
        for (index, action) in Action::all().enumerate() {
            assert_eq!(action.index(), index);
            assert_eq!(Action::from_name(action.name()), Some(action));
        }
        // Two actions the hand-kept list lacked, which the model has.
        assert!(Action::from_name("PrepareMigration").is_some());
        assert!(Action::from_name("StopMigration").is_some());
    }

    #[test]
    fn actions_are_case_sensitive() {
        assert!(Action::from_name("AuthorizeCacheSecurityGroupIngress").is_some());
        assert!(Action::from_name("authorizecachesecuritygroupingress").is_none());
        assert!(Action::from_name("").is_none());
        let a = Action::from_name("DescribeCacheClusters").unwrap();
        assert_eq!(a.name(), "DescribeCacheClusters");
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "cn-northwest-1",
            "eu-central-2",
            "us-isob-east-1",
        ] {
            assert!(Region::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-1a",
            "us_east_1",
            "east-1",
            "us--east-1",
            "us-east-100",
            "evil.com/x-y-1",
            "us-east-1.evil.com",
            "us-east-1 ",
        ] {
            assert!(Region::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn account_ids() {
        assert_eq!(
            AccountId::parse("123456781234").unwrap().as_str(),
            "123456781234"
        );
        assert_eq!(
            AccountId::parse("1234-5678-1234").unwrap().as_str(),
            "123456781234"
        );
        assert_eq!(
            AccountId::parse("1234-5678-1234"),
            AccountId::parse("123456781234")
        );
        for bad in [
            "",
            "12345678123",
            "1234567812345",
            "12345678123a",
            "1234-56781234",
            "12-345678-1234",
            "1234-5678-123x",
            "１２３４５６７８１２３４",
            " 123456781234",
            "+23456781234",
        ] {
            assert!(AccountId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
