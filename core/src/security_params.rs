//! The parameters that change who can reach a cache, what protects its
//! data, who it lets in, where its data or logs go, and what it inherits
//! from a resource that exists already. An allow rule for a mutating
//! action that leaves one of them open (no condition on it, and not
//! closed with `other_params: deny`) is what `check` warns about
//! (`lint::open_parameters`).

/// A security-relevant parameter, in the actions it matters in.
pub(crate) struct SecurityParam {
    /// The parameter's query name.
    pub name: &'static str,
    /// The actions it matters in; empty for every action that has it.
    pub only_in: &'static [&'static str],
}

const fn any(name: &'static str) -> SecurityParam {
    SecurityParam { name, only_in: &[] }
}

/// Grouped by why each matters; `tests` checks every name against the
/// service model.
pub(crate) const SECURITY_PARAMS: &[SecurityParam] = &[
    // Network: which security groups, subnets and zones the nodes sit in,
    // and whether they are reached over IPv4 or IPv6.
    any("SecurityGroupIds"),
    any("CacheSecurityGroupNames"),
    any("CacheSubnetGroupName"),
    any("SubnetIds"),
    any("PreferredAvailabilityZone"),
    any("PreferredAvailabilityZones"),
    any("NetworkType"),
    any("IpDiscovery"),
    // Encryption: in transit (`preferred` lets plaintext clients in again)
    // and at rest, and with which key.
    any("TransitEncryptionEnabled"),
    any("TransitEncryptionMode"),
    any("AtRestEncryptionEnabled"),
    any("KmsKeyId"),
    // Authentication: the AUTH token and RBAC user groups, which decide
    // who may connect; users' passwords and access strings.
    any("AuthToken"),
    any("AuthTokenUpdateStrategy"),
    any("UserGroupIds"),
    any("UserGroupIdsToAdd"),
    any("UserGroupIdsToRemove"),
    any("RemoveUserGroups"),
    any("UserIds"),
    any("UserIdsToAdd"),
    any("UserIdsToRemove"),
    any("AccessString"),
    any("AppendAccessString"),
    any("AuthenticationMode"),
    any("NoPasswordRequired"),
    any("Passwords"),
    // Snapshots and their targets: a create seeded with another's data, a
    // copy or export out of the team's reach, how long backups are kept.
    any("SnapshotArns"),
    any("SnapshotArnsToRestore"),
    any("SnapshotName"),
    any("ServerlessCacheSnapshotName"),
    any("TargetSnapshotName"),
    any("TargetBucket"),
    any("SnapshotRetentionLimit"),
    any("FinalSnapshotIdentifier"),
    any("FinalSnapshotName"),
    // Log destinations: slow and engine logs shipped to any Firehose
    // stream or log group.
    any("LogDeliveryConfigurations"),
    // Inheritance: the request acts on an existing resource's data,
    // engine and groups, which its own parameters then do not describe.
    any("PrimaryClusterId"),
    SecurityParam {
        name: "GlobalReplicationGroupId",
        only_in: &["CreateReplicationGroup"],
    },
    SecurityParam {
        name: "ReplicationGroupId",
        only_in: &["CreateCacheCluster"],
    },
    // Engine: a version can downgrade or cross engines (Redis OSS to
    // Valkey), which the platform usually plans.
    any("EngineVersion"),
];

/// Parameters that make a create take its settings from a resource that
/// exists already: a cluster, a group, a global datastore, a snapshot.
/// The request's own network, engine and encryption parameters then
/// describe nothing real, or only part of it.
pub(crate) const INHERITING: &[(&str, &[&str])] = &[
    // An existing cluster becomes the primary, with its data, engine,
    // node type and groups.
    ("PrimaryClusterId", &["CreateReplicationGroup"]),
    // A secondary of a global datastore takes the primary's engine, node
    // type and encryption.
    ("GlobalReplicationGroupId", &["CreateReplicationGroup"]),
    // A node that joins an existing group, with the group's settings (in
    // CreateReplicationGroup the same name is the new group's own id).
    ("ReplicationGroupId", &["CreateCacheCluster"]),
    // Data seeded from a snapshot, and settings with it.
    (
        "SnapshotArns",
        &["CreateReplicationGroup", "CreateCacheCluster"],
    ),
    (
        "SnapshotName",
        &["CreateReplicationGroup", "CreateCacheCluster"],
    ),
    ("SnapshotArnsToRestore", &["CreateServerlessCache"]),
];

/// The settings a create can inherit: a rule that constrains one of them
/// speaks of the new resource's own, which an inheriting request does not
/// have.
pub(crate) const INHERITED_SETTINGS: &[&str] = &[
    "SecurityGroupIds",
    "CacheSecurityGroupNames",
    "CacheSubnetGroupName",
    "CacheNodeType",
    "Engine",
    "EngineVersion",
    "CacheParameterGroupName",
    "TransitEncryptionEnabled",
    "TransitEncryptionMode",
    "AtRestEncryptionEnabled",
    "KmsKeyId",
    "AuthToken",
    "UserGroupIds",
    "Port",
    "NetworkType",
    "IpDiscovery",
];

/// Actions that only read: no parameter of theirs is left open.
pub(crate) fn is_read_only(action: &str) -> bool {
    action.starts_with("Describe") || action.starts_with("List")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;

    /// Every inheriting parameter is one of each action it is listed for,
    /// and every inherited setting a parameter of some create.
    #[test]
    fn every_inheriting_parameter_and_setting_is_real() {
        for (name, actions) in INHERITING {
            assert!(!actions.is_empty(), "{name}");
            for action in *actions {
                let action = Action::from_name(action).unwrap();
                assert!(
                    action.operation().member(name).is_some(),
                    "{name} in {action}"
                );
            }
        }
        for name in INHERITED_SETTINGS {
            assert!(
                [
                    "CreateReplicationGroup",
                    "CreateCacheCluster",
                    "CreateServerlessCache"
                ]
                .iter()
                .any(|a| Action::from_name(a)
                    .unwrap()
                    .operation()
                    .member(name)
                    .is_some()),
                "{name}"
            );
        }
    }

    /// Every entry names a parameter of some action, and of each action it
    /// is limited to; none is listed twice.
    #[test]
    fn every_entry_names_a_real_parameter() {
        for (i, param) in SECURITY_PARAMS.iter().enumerate() {
            assert!(
                Action::all().any(|a| a.operation().member(param.name).is_some()),
                "{}",
                param.name
            );
            for action in param.only_in {
                let action = Action::from_name(action).unwrap();
                assert!(
                    action.operation().member(param.name).is_some(),
                    "{} in {action}",
                    param.name
                );
            }
            assert!(
                SECURITY_PARAMS[..i].iter().all(|p| p.name != param.name),
                "{} twice",
                param.name
            );
        }
    }

    #[test]
    fn read_only_actions() {
        assert!(is_read_only("DescribeCacheClusters"));
        assert!(is_read_only("ListTagsForResource"));
        assert!(!is_read_only("ModifyReplicationGroup"));
    }
}
