//! Which existing ElastiCache resources a request names, for decisions on
//! who owns them (a rule's `resource_tags`). Every member of every action,
//! at every depth, is classified here by what it says about resources: an
//! existing one it acts on or reads, a new one it makes, an ARN, or none.
//! The table is complete (a test walks the service model); a member it
//! lacks makes [`existing_resources`] fail, so nothing is judged on a
//! partial list. Pure: the tags themselves are looked up by the proxy.

use std::collections::HashSet;
use std::fmt;

use crate::model::{AccountId, Action, Region};
use crate::params::{Params, Value};
use crate::text::{alternatives, quoted};
use table::action_table;

/// A kind of ElastiCache resource.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum ResourceKind {
    Cluster,
    ReplicationGroup,
    GlobalReplicationGroup,
    Snapshot,
    User,
    UserGroup,
    ParameterGroup,
    SubnetGroup,
    SecurityGroup,
    ReservedCacheNode,
    ServerlessCache,
    ServerlessCacheSnapshot,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 12] = [
        ResourceKind::Cluster,
        ResourceKind::ReplicationGroup,
        ResourceKind::GlobalReplicationGroup,
        ResourceKind::Snapshot,
        ResourceKind::User,
        ResourceKind::UserGroup,
        ResourceKind::ParameterGroup,
        ResourceKind::SubnetGroup,
        ResourceKind::SecurityGroup,
        ResourceKind::ReservedCacheNode,
        ResourceKind::ServerlessCache,
        ResourceKind::ServerlessCacheSnapshot,
    ];

    /// The resource type in its ARN, or `None` for a kind AWS cannot tag
    /// (global replication groups: "with the exception of global
    /// replication group", says ListTagsForResource).
    pub fn arn_type(self) -> Option<&'static str> {
        match self {
            ResourceKind::Cluster => Some("cluster"),
            ResourceKind::ReplicationGroup => Some("replicationgroup"),
            ResourceKind::GlobalReplicationGroup => None,
            ResourceKind::Snapshot => Some("snapshot"),
            ResourceKind::User => Some("user"),
            ResourceKind::UserGroup => Some("usergroup"),
            ResourceKind::ParameterGroup => Some("parametergroup"),
            ResourceKind::SubnetGroup => Some("subnetgroup"),
            ResourceKind::SecurityGroup => Some("securitygroup"),
            ResourceKind::ReservedCacheNode => Some("reserved-instance"),
            ResourceKind::ServerlessCache => Some("serverlesscache"),
            ResourceKind::ServerlessCacheSnapshot => Some("serverlesscachesnapshot"),
        }
    }

    /// The kind whose ARN has that resource type.
    pub fn of_arn_type(arn_type: &str) -> Option<ResourceKind> {
        ResourceKind::ALL
            .into_iter()
            .find(|kind| kind.arn_type() == Some(arn_type))
    }

    /// Its name in records (the audit line): the ARN's resource type, or
    /// `globalreplicationgroup` for the kind that has none.
    pub fn record_name(self) -> &'static str {
        self.arn_type().unwrap_or("globalreplicationgroup")
    }

    /// The kind of that [`ResourceKind::record_name`].
    pub fn of_record_name(name: &str) -> Option<ResourceKind> {
        ResourceKind::ALL
            .into_iter()
            .find(|kind| kind.record_name() == name)
    }

    /// Words for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ResourceKind::Cluster => "cache cluster",
            ResourceKind::ReplicationGroup => "replication group",
            ResourceKind::GlobalReplicationGroup => "global replication group",
            ResourceKind::Snapshot => "snapshot",
            ResourceKind::User => "user",
            ResourceKind::UserGroup => "user group",
            ResourceKind::ParameterGroup => "cache parameter group",
            ResourceKind::SubnetGroup => "cache subnet group",
            ResourceKind::SecurityGroup => "cache security group",
            ResourceKind::ReservedCacheNode => "reserved cache node",
            ResourceKind::ServerlessCache => "serverless cache",
            ResourceKind::ServerlessCacheSnapshot => "serverless cache snapshot",
        }
    }

    /// The kind of event source DescribeEvents' `SourceType` names.
    fn of_source_type(source_type: &str) -> Option<ResourceKind> {
        Some(match source_type {
            "cache-cluster" => ResourceKind::Cluster,
            "cache-parameter-group" => ResourceKind::ParameterGroup,
            "cache-security-group" => ResourceKind::SecurityGroup,
            "cache-subnet-group" => ResourceKind::SubnetGroup,
            "replication-group" => ResourceKind::ReplicationGroup,
            "serverless-cache" => ResourceKind::ServerlessCache,
            "serverless-cache-snapshot" => ResourceKind::ServerlessCacheSnapshot,
            "user" => ResourceKind::User,
            "user-group" => ResourceKind::UserGroup,
            _ => return None,
        })
    }
}

/// What a request member says about resources. A list of names has the
/// role of each of its items; a structure, or a list of them, names
/// nothing itself (its members have roles of their own).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// The id of an existing resource the action acts on or reads.
    Existing(ResourceKind),
    /// The id of an existing resource in the region that the sibling
    /// member `region_member` names (a global datastore's members live in
    /// other regions than the request's).
    ExistingIn {
        kind: ResourceKind,
        region_member: &'static str,
    },
    /// The id of a resource the action makes.
    New(ResourceKind),
    /// The ARN of an existing ElastiCache resource.
    Arn,
    /// The ARN of a backup to restore: an ElastiCache snapshot's (an
    /// existing resource) or an RDB file's in S3 (no ElastiCache resource).
    BackupArn,
    /// DescribeEvents' `SourceIdentifier`: an existing resource of the kind
    /// the sibling `SourceType` names.
    EventSource,
    /// Names no ElastiCache resource.
    NoResource,
}

impl Role {
    /// Whether the member can name an existing resource.
    pub fn names_existing(self) -> bool {
        match self {
            Role::Existing(_)
            | Role::ExistingIn { .. }
            | Role::Arn
            | Role::BackupArn
            | Role::EventSource => true,
            Role::New(_) | Role::NoResource => false,
        }
    }
}

/// The role of the member at `path` (query names; a nested member as
/// `List[].Member` or `Struct.Member`, as `ParamPath::as_str` writes it) in
/// `action`; `None` for a member the table does not classify.
pub fn role(action: Action, path: &str) -> Option<Role> {
    let table = action_table(action)?;
    if let Some((_, role)) = table.named.iter().find(|(name, _)| *name == path) {
        return Some(*role);
    }
    table
        .none
        .iter()
        .any(|group| group.contains(&path))
        .then_some(Role::NoResource)
}

/// Whether any member of the action can name an existing resource.
pub fn can_name_existing(action: Action) -> bool {
    action_table(action).is_some_and(|table| table.named.iter().any(|(_, r)| r.names_existing()))
}

/// An existing resource a request names.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct NamedResource {
    pub kind: ResourceKind,
    pub id: String,
    /// The member that named it, as a path (`RegionalConfigurations[].ReplicationGroupId`).
    pub member: String,
    /// The region it is in: where to ask for its tags.
    pub region: Region,
    /// The ARN ListTagsForResource takes; `None` when the kind cannot be tagged.
    pub arn: Option<String>,
}

/// Why the resources a request names cannot be told.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ResourceError {
    /// A member that holds an ARN holds something else.
    NotAnArn { member: String, value: String },
    /// An ARN of another service than ElastiCache.
    NotElastiCache {
        member: String,
        value: String,
        service: String,
    },
    /// An ElastiCache ARN of a resource type that has no tags, or none
    /// the proxy knows.
    UnknownType {
        member: String,
        value: String,
        arn_type: String,
    },
    /// A member the request carries that the table does not classify.
    Unclassified { action: Action, member: String },
    /// DescribeEvents names a source without a `SourceType` that says its
    /// kind (`found` is the type it has, if any).
    NoSourceKind {
        member: String,
        found: Option<String>,
    },
    /// The member that says which region a resource is in does not hold a
    /// region name (`None`: the request leaves it out).
    NotARegion {
        member: String,
        value: Option<String>,
    },
}

const ARN_FORM: &str = "`arn:PARTITION:elasticache:REGION:ACCOUNT:TYPE:NAME`";

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceError::NotAnArn { member, value } => write!(
                f,
                "`{member}` is {}, which is not an ElastiCache resource's ARN: expected {ARN_FORM}, its partition that of its region",
                quoted(value)
            ),
            ResourceError::NotElastiCache {
                member,
                value,
                service,
            } => write!(
                f,
                "`{member}` is {}, an ARN of service {}: expected an ElastiCache resource's ARN, {ARN_FORM}",
                quoted(value),
                quoted(service)
            ),
            ResourceError::UnknownType {
                member,
                value,
                arn_type,
            } => {
                let types: Vec<&str> = ResourceKind::ALL
                    .into_iter()
                    .filter_map(ResourceKind::arn_type)
                    .collect();
                write!(
                    f,
                    "`{member}` is {}, of resource type {}: expected a resource that has tags, of type {}",
                    quoted(value),
                    quoted(arn_type),
                    alternatives(&types)
                )
            }
            ResourceError::Unclassified { action, member } => write!(
                f,
                "the proxy does not know which resources `{action}` parameter `{member}` names, so it cannot tell the request's resources"
            ),
            ResourceError::NoSourceKind { member, found } => {
                let found = match found {
                    Some(found) => format!("`SourceType` is {}", quoted(found)),
                    None => "the request has no `SourceType`".to_owned(),
                };
                write!(
                    f,
                    "`{member}` names an event source, but {found}: expected `SourceType` to say its kind"
                )
            }
            ResourceError::NotARegion { member, value } => match value {
                Some(value) => write!(
                    f,
                    "`{member}` is {}, which is not an AWS region name: expected one such as `us-east-1`",
                    quoted(value)
                ),
                None => write!(
                    f,
                    "the request has no `{member}`: expected the region the resource is in"
                ),
            },
        }
    }
}

impl std::error::Error for ResourceError {}

/// The partition of a region's ARNs.
fn partition(region: &Region) -> &'static str {
    let mut words = region.as_str().split('-');
    match (words.next(), words.next()) {
        (Some("cn"), _) => "aws-cn",
        (Some("us"), Some("gov")) => "aws-us-gov",
        (Some("us"), Some("iso")) => "aws-iso",
        (Some("us"), Some("isob")) => "aws-iso-b",
        (Some("us"), Some("isof")) => "aws-iso-f",
        (Some("eu"), Some("isoe")) => "aws-iso-e",
        _ => "aws",
    }
}

/// The ARN of a resource of a kind that has tags.
fn arn(kind: ResourceKind, id: &str, region: &Region, account: &AccountId) -> Option<String> {
    let arn_type = kind.arn_type()?;
    Some(format!(
        "arn:{}:elasticache:{region}:{account}:{arn_type}:{id}",
        partition(region)
    ))
}

/// What a request is walked with.
struct Walk<'a> {
    action: Action,
    region: &'a Region,
    account: &'a AccountId,
    seen: HashSet<NamedResource>,
    found: Vec<NamedResource>,
}

/// Every existing resource the request names, once each, in the order of
/// the parsed request (members by query name, items in order). ARNs are
/// built for the request's region and account, or taken from a member
/// that holds one.
pub fn existing_resources(
    action: Action,
    params: &Params,
    region: &Region,
    account: &AccountId,
) -> Result<Vec<NamedResource>, ResourceError> {
    let mut walk = Walk {
        action,
        region,
        account,
        seen: HashSet::new(),
        found: Vec::new(),
    };
    walk.structure("", params)?;
    Ok(walk.found)
}

impl Walk<'_> {
    fn role(&self, path: &str) -> Result<Role, ResourceError> {
        role(self.action, path).ok_or_else(|| ResourceError::Unclassified {
            action: self.action,
            member: path.to_owned(),
        })
    }

    fn structure(&mut self, prefix: &str, fields: &Params) -> Result<(), ResourceError> {
        for (member, value) in fields.iter() {
            let path = if prefix.is_empty() {
                member.query_name().to_owned()
            } else {
                format!("{prefix}.{}", member.query_name())
            };
            let role = self.role(&path)?;
            self.value(&path, role, value, fields)?;
        }
        Ok(())
    }

    fn value(
        &mut self,
        path: &str,
        role: Role,
        value: &Value,
        siblings: &Params,
    ) -> Result<(), ResourceError> {
        match value {
            Value::String(id) => self.name(path, role, id, siblings),
            Value::List(items) => {
                let items_path = format!("{path}[]");
                for item in items {
                    match item {
                        Value::Structure(fields) => self.structure(&items_path, fields)?,
                        Value::List(_) => {
                            let role = self.role(&items_path)?;
                            self.value(&items_path, role, item, siblings)?;
                        }
                        // A list of names has the role of each item.
                        _ => self.value(path, role, item, siblings)?,
                    }
                }
                Ok(())
            }
            Value::Structure(fields) => self.structure(path, fields),
            // Ids are strings: the table's test holds every role that names
            // a resource to string members (no input has a map).
            Value::Boolean(_) | Value::Integer(_) | Value::Timestamp(_) | Value::Map(_) => Ok(()),
        }
    }

    fn name(
        &mut self,
        path: &str,
        role: Role,
        id: &str,
        siblings: &Params,
    ) -> Result<(), ResourceError> {
        let region = self.region;
        match role {
            Role::Existing(kind) => self.push(kind, id, path, region.clone(), None),
            Role::ExistingIn {
                kind,
                region_member,
            } => {
                let region = region_of(siblings, region_member)?;
                self.push(kind, id, path, region, None);
            }
            Role::EventSource => {
                let found = siblings.get("SourceType").and_then(Value::as_str);
                let kind = found
                    .and_then(ResourceKind::of_source_type)
                    .ok_or_else(|| ResourceError::NoSourceKind {
                        member: path.to_owned(),
                        found: found.map(str::to_owned),
                    })?;
                self.push(kind, id, path, region.clone(), None);
            }
            // An RDB file in S3 is no ElastiCache resource.
            Role::BackupArn if is_s3_object(id) => {}
            Role::Arn | Role::BackupArn => {
                let (kind, name, region) = parse_arn(path, id)?;
                self.push(kind, name, path, region, Some(id));
            }
            Role::New(_) | Role::NoResource => {}
        }
        Ok(())
    }

    fn push(
        &mut self,
        kind: ResourceKind,
        id: &str,
        path: &str,
        region: Region,
        arn: Option<&str>,
    ) {
        let arn = match arn {
            Some(given) => Some(given.to_owned()),
            None => self::arn(kind, id, &region, self.account),
        };
        let resource = NamedResource {
            kind,
            id: id.to_owned(),
            member: path.to_owned(),
            region,
            arn,
        };
        // Once each, whichever member named it first.
        let key = NamedResource {
            member: String::new(),
            ..resource.clone()
        };
        if self.seen.insert(key) {
            self.found.push(resource);
        }
    }
}

/// The region a sibling member names.
fn region_of(siblings: &Params, member: &str) -> Result<Region, ResourceError> {
    let value = siblings.get(member).and_then(Value::as_str);
    // Region names are lower case; AWS documents no case rule for these
    // members, so a capitalized name is taken for the region it spells.
    value
        .and_then(|v| Region::parse(&v.to_ascii_lowercase()))
        .ok_or_else(|| ResourceError::NotARegion {
            member: member.to_owned(),
            value: value.map(str::to_owned),
        })
}

/// An ElastiCache ARN's kind, name and region.
fn parse_arn<'v>(
    member: &str,
    value: &'v str,
) -> Result<(ResourceKind, &'v str, Region), ResourceError> {
    let not_an_arn = || ResourceError::NotAnArn {
        member: member.to_owned(),
        value: value.to_owned(),
    };
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let ["arn", partition_name, service, region, account, resource] = parts[..] else {
        return Err(not_an_arn());
    };
    if partition_name.is_empty() {
        return Err(not_an_arn());
    }
    if service != "elasticache" {
        return Err(ResourceError::NotElastiCache {
            member: member.to_owned(),
            value: value.to_owned(),
            service: service.to_owned(),
        });
    }
    let (arn_type, name) = resource.split_once(':').ok_or_else(not_an_arn)?;
    let Some(kind) = ResourceKind::of_arn_type(arn_type) else {
        return Err(ResourceError::UnknownType {
            member: member.to_owned(),
            value: value.to_owned(),
            arn_type: arn_type.to_owned(),
        });
    };
    let region = Region::parse(region).ok_or_else(not_an_arn)?;
    if partition(&region) != partition_name
        || AccountId::parse(account).is_none()
        || name.is_empty()
    {
        return Err(not_an_arn());
    }
    Ok((kind, name, region))
}

/// `arn:PARTITION:s3:::BUCKET/KEY`: an object in S3 (bucket names hold no
/// colon).
fn is_s3_object(value: &str) -> bool {
    match value.splitn(6, ':').collect::<Vec<_>>()[..] {
        ["arn", partition, "s3", "", "", object] => {
            !partition.is_empty()
                && object
                    .split_once('/')
                    .is_some_and(|(b, k)| !b.is_empty() && !k.is_empty())
        }
        _ => false,
    }
}

/// The table: which role each member of each action has.
mod table {
    use super::{ResourceKind, Role};
    use crate::model::Action;
    use ResourceKind::{
        Cluster, GlobalReplicationGroup, ParameterGroup, ReplicationGroup, ReservedCacheNode,
        SecurityGroup, ServerlessCache, ServerlessCacheSnapshot, Snapshot, SubnetGroup, User,
        UserGroup,
    };
    use Role::{Arn, BackupArn, EventSource, Existing, ExistingIn, New};

    /// The members of one action, each classified once.
    pub(super) struct ActionTable {
        pub(super) action: &'static str,
        /// Members that can name a resource, with their role.
        pub(super) named: &'static [(&'static str, Role)],
        /// Members (and groups of members shared by several actions) that
        /// name no ElastiCache resource.
        pub(super) none: &'static [&'static [&'static str]],
    }

    pub(super) fn action_table(action: Action) -> Option<&'static ActionTable> {
        TABLE
            .binary_search_by(|table| table.action.cmp(action.name()))
            .ok()
            .map(|index| &TABLE[index])
    }

    const TAGS: &[&str] = &["Tags", "Tags[].Key", "Tags[].Value"];
    const PAGES: &[&str] = &["Marker", "MaxRecords"];
    const PAGE_TOKENS: &[&str] = &["MaxResults", "NextToken"];
    /// Where logs go: CloudWatch log groups and Firehose streams.
    const LOG_DELIVERY: &[&str] = &[
        "LogDeliveryConfigurations",
        "LogDeliveryConfigurations[].DestinationDetails",
        "LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails",
        "LogDeliveryConfigurations[].DestinationDetails.CloudWatchLogsDetails.LogGroup",
        "LogDeliveryConfigurations[].DestinationDetails.KinesisFirehoseDetails",
        "LogDeliveryConfigurations[].DestinationDetails.KinesisFirehoseDetails.DeliveryStream",
        "LogDeliveryConfigurations[].DestinationType",
        "LogDeliveryConfigurations[].Enabled",
        "LogDeliveryConfigurations[].LogFormat",
        "LogDeliveryConfigurations[].LogType",
    ];
    const CACHE_USAGE_LIMITS: &[&str] = &[
        "CacheUsageLimits",
        "CacheUsageLimits.DataStorage",
        "CacheUsageLimits.DataStorage.Maximum",
        "CacheUsageLimits.DataStorage.Minimum",
        "CacheUsageLimits.DataStorage.Unit",
        "CacheUsageLimits.ECPUPerSecond",
        "CacheUsageLimits.ECPUPerSecond.Maximum",
        "CacheUsageLimits.ECPUPerSecond.Minimum",
    ];
    /// A self-managed Redis OSS being migrated from: addresses, not resources.
    const CUSTOMER_ENDPOINTS: &[&str] = &[
        "CustomerNodeEndpointList",
        "CustomerNodeEndpointList[].Address",
        "CustomerNodeEndpointList[].Port",
    ];
    const PARAMETER_VALUES: &[&str] = &[
        "ParameterNameValues",
        "ParameterNameValues[].ParameterName",
        "ParameterNameValues[].ParameterValue",
    ];
    /// Shards are parts of their replication group, with no ARN of their own.
    const REPLICA_CONFIGURATION: &[&str] = &[
        "ApplyImmediately",
        "NewReplicaCount",
        "ReplicaConfiguration",
        "ReplicaConfiguration[].NewReplicaCount",
        "ReplicaConfiguration[].NodeGroupId",
        "ReplicaConfiguration[].PreferredAvailabilityZones",
        "ReplicaConfiguration[].PreferredOutpostArns",
    ];
    /// A user's settings; the passwords are secrets, and no resources.
    const USER_SETTINGS: &[&str] = &[
        "AccessString",
        "AuthenticationMode",
        "AuthenticationMode.Passwords",
        "AuthenticationMode.Type",
        "Engine",
        "NoPasswordRequired",
        "Passwords",
    ];
    /// Filters on AWS's catalogue of reservations for sale.
    const OFFERING_FILTERS: &[&str] = &[
        "CacheNodeType",
        "Duration",
        "OfferingType",
        "ProductDescription",
        // An offering is AWS's, not the caller's resource.
        "ReservedCacheNodesOfferingId",
    ];
    /// What CreateCacheCluster and CreateReplicationGroup share that names
    /// no ElastiCache resource.
    const CREATE_SETTINGS: &[&str] = &[
        // A secret, never a name.
        "AuthToken",
        "AutoMinorVersionUpgrade",
        "CacheNodeType",
        "Engine",
        "EngineVersion",
        "IpDiscovery",
        "NetworkType",
        // An SNS topic.
        "NotificationTopicArn",
        "Port",
        "PreferredMaintenanceWindow",
        // EC2's security groups, not ElastiCache's cache security groups.
        "SecurityGroupIds",
        // RDB files in S3 ("arn:aws:s3:::my_bucket/snapshot1.rdb").
        "SnapshotArns",
        "SnapshotRetentionLimit",
        "SnapshotWindow",
        "TransitEncryptionEnabled",
    ];
    const MODIFY_SETTINGS: &[&str] = &[
        "ApplyImmediately",
        "AuthToken",
        "AuthTokenUpdateStrategy",
        "AutoMinorVersionUpgrade",
        "CacheNodeType",
        "Engine",
        "EngineVersion",
        "IpDiscovery",
        "NotificationTopicArn",
        "NotificationTopicStatus",
        "PreferredMaintenanceWindow",
        "SecurityGroupIds",
        "SnapshotRetentionLimit",
        "SnapshotWindow",
    ];
    /// The three members of an ingress change.
    const INGRESS: ActionTableMembers = ActionTableMembers {
        named: &[("CacheSecurityGroupName", Existing(SecurityGroup))],
        // EC2's security group and its owner's account.
        none: &[&["EC2SecurityGroupName", "EC2SecurityGroupOwnerId"]],
    };
    /// BatchApplyUpdateAction and BatchStopUpdateAction.
    const BATCH_UPDATE: ActionTableMembers = ActionTableMembers {
        named: &[
            ("CacheClusterIds", Existing(Cluster)),
            ("ReplicationGroupIds", Existing(ReplicationGroup)),
        ],
        // A service update is published by AWS, not the caller's resource.
        none: &[&["ServiceUpdateName"]],
    };

    /// The members of an action's table, for actions that share them.
    struct ActionTableMembers {
        named: &'static [(&'static str, Role)],
        none: &'static [&'static [&'static str]],
    }

    const fn shared(action: &'static str, members: ActionTableMembers) -> ActionTable {
        ActionTable {
            action,
            named: members.named,
            none: members.none,
        }
    }

    /// Every action, sorted by name.
    pub(super) static TABLE: &[ActionTable] = &[
        ActionTable {
            action: "AddTagsToResource",
            named: &[("ResourceName", Arn)],
            none: &[TAGS],
        },
        shared("AuthorizeCacheSecurityGroupIngress", INGRESS),
        shared("BatchApplyUpdateAction", BATCH_UPDATE),
        shared("BatchStopUpdateAction", BATCH_UPDATE),
        ActionTable {
            action: "CompleteMigration",
            named: &[
                ("ReplicationGroupId", Existing(ReplicationGroup)),
                ("ServerlessCacheName", Existing(ServerlessCache)),
            ],
            none: &[&["Force"]],
        },
        ActionTable {
            action: "CopyServerlessCacheSnapshot",
            named: &[
                (
                    "SourceServerlessCacheSnapshotName",
                    Existing(ServerlessCacheSnapshot),
                ),
                (
                    "TargetServerlessCacheSnapshotName",
                    New(ServerlessCacheSnapshot),
                ),
            ],
            none: &[&["KmsKeyId"], TAGS],
        },
        ActionTable {
            action: "CopySnapshot",
            named: &[
                ("SourceSnapshotName", Existing(Snapshot)),
                ("TargetSnapshotName", New(Snapshot)),
            ],
            // An S3 bucket to export to, and a KMS key.
            none: &[&["KmsKeyId", "TargetBucket"], TAGS],
        },
        ActionTable {
            action: "CreateCacheCluster",
            named: &[
                ("CacheClusterId", New(Cluster)),
                ("CacheParameterGroupName", Existing(ParameterGroup)),
                ("CacheSecurityGroupNames", Existing(SecurityGroup)),
                ("CacheSubnetGroupName", Existing(SubnetGroup)),
                // The cluster joins this group as a replica.
                ("ReplicationGroupId", Existing(ReplicationGroup)),
                // The snapshot it is restored from.
                ("SnapshotName", Existing(Snapshot)),
            ],
            none: &[
                CREATE_SETTINGS,
                LOG_DELIVERY,
                TAGS,
                &[
                    "AZMode",
                    "NumCacheNodes",
                    "OutpostMode",
                    "PreferredAvailabilityZone",
                    "PreferredAvailabilityZones",
                    // AWS Outposts, not ElastiCache resources.
                    "PreferredOutpostArn",
                    "PreferredOutpostArns",
                ],
            ],
        },
        ActionTable {
            action: "CreateCacheParameterGroup",
            named: &[("CacheParameterGroupName", New(ParameterGroup))],
            // A family (`redis7`) is AWS's, not a parameter group.
            none: &[&["CacheParameterGroupFamily", "Description"], TAGS],
        },
        ActionTable {
            action: "CreateCacheSecurityGroup",
            named: &[("CacheSecurityGroupName", New(SecurityGroup))],
            none: &[&["Description"], TAGS],
        },
        ActionTable {
            action: "CreateCacheSubnetGroup",
            named: &[("CacheSubnetGroupName", New(SubnetGroup))],
            // EC2 subnets.
            none: &[&["CacheSubnetGroupDescription", "SubnetIds"], TAGS],
        },
        ActionTable {
            action: "CreateGlobalReplicationGroup",
            named: &[
                // AWS puts a prefix before the suffix to make the new id.
                (
                    "GlobalReplicationGroupIdSuffix",
                    New(GlobalReplicationGroup),
                ),
                // The group that becomes the datastore's primary.
                ("PrimaryReplicationGroupId", Existing(ReplicationGroup)),
            ],
            none: &[&["GlobalReplicationGroupDescription"], TAGS],
        },
        ActionTable {
            action: "CreateReplicationGroup",
            named: &[
                ("CacheParameterGroupName", Existing(ParameterGroup)),
                ("CacheSecurityGroupNames", Existing(SecurityGroup)),
                ("CacheSubnetGroupName", Existing(SubnetGroup)),
                // The group joins this datastore as a secondary.
                ("GlobalReplicationGroupId", Existing(GlobalReplicationGroup)),
                // An existing cluster that becomes the group's primary.
                ("PrimaryClusterId", Existing(Cluster)),
                ("ReplicationGroupId", New(ReplicationGroup)),
                // A serverless cache's snapshot to restore from.
                (
                    "ServerlessCacheSnapshotName",
                    Existing(ServerlessCacheSnapshot),
                ),
                ("SnapshotName", Existing(Snapshot)),
                ("UserGroupIds", Existing(UserGroup)),
            ],
            none: &[
                CREATE_SETTINGS,
                LOG_DELIVERY,
                TAGS,
                &[
                    "AtRestEncryptionEnabled",
                    "AutomaticFailoverEnabled",
                    "ClusterMode",
                    "DataTieringEnabled",
                    "Durability",
                    // A KMS key.
                    "KmsKeyId",
                    "MultiAZEnabled",
                    "NodeGroupConfiguration",
                    // A shard of the new group: no ARN of its own.
                    "NodeGroupConfiguration[].NodeGroupId",
                    "NodeGroupConfiguration[].PrimaryAvailabilityZone",
                    "NodeGroupConfiguration[].PrimaryOutpostArn",
                    "NodeGroupConfiguration[].ReplicaAvailabilityZones",
                    "NodeGroupConfiguration[].ReplicaCount",
                    "NodeGroupConfiguration[].ReplicaOutpostArns",
                    "NodeGroupConfiguration[].Slots",
                    "NumCacheClusters",
                    "NumNodeGroups",
                    "PreferredCacheClusterAZs",
                    "ReplicasPerNodeGroup",
                    "ReplicationGroupDescription",
                    "TransitEncryptionMode",
                ],
            ],
        },
        ActionTable {
            action: "CreateServerlessCache",
            named: &[
                ("ServerlessCacheName", New(ServerlessCache)),
                // Snapshots to restore, by ARN; an RDB file in S3 may be one.
                ("SnapshotArnsToRestore", BackupArn),
                ("UserGroupId", Existing(UserGroup)),
            ],
            none: &[
                CACHE_USAGE_LIMITS,
                TAGS,
                &[
                    "ConnectionType",
                    "DailySnapshotTime",
                    "Description",
                    "Engine",
                    "Integrations",
                    "Integrations[].IntegrationType",
                    "KmsKeyId",
                    "MajorEngineVersion",
                    "NetworkType",
                    // EC2's security groups and subnets.
                    "SecurityGroupIds",
                    "SnapshotRetentionLimit",
                    "SubnetIds",
                ],
            ],
        },
        ActionTable {
            action: "CreateServerlessCacheSnapshot",
            named: &[
                ("ServerlessCacheName", Existing(ServerlessCache)),
                ("ServerlessCacheSnapshotName", New(ServerlessCacheSnapshot)),
            ],
            none: &[&["KmsKeyId"], TAGS],
        },
        ActionTable {
            action: "CreateSnapshot",
            named: &[
                ("CacheClusterId", Existing(Cluster)),
                ("ReplicationGroupId", Existing(ReplicationGroup)),
                ("SnapshotName", New(Snapshot)),
            ],
            none: &[&["KmsKeyId"], TAGS],
        },
        ActionTable {
            action: "CreateUser",
            named: &[("UserId", New(User))],
            // The name a user logs in with; its ARN is by id.
            none: &[USER_SETTINGS, TAGS, &["UserName"]],
        },
        ActionTable {
            action: "CreateUserGroup",
            named: &[("UserGroupId", New(UserGroup)), ("UserIds", Existing(User))],
            none: &[&["Engine"], TAGS],
        },
        ActionTable {
            action: "DecreaseNodeGroupsInGlobalReplicationGroup",
            named: &[("GlobalReplicationGroupId", Existing(GlobalReplicationGroup))],
            // A datastore's node groups are parts of it, with no ARN.
            none: &[&[
                "ApplyImmediately",
                "GlobalNodeGroupsToRemove",
                "GlobalNodeGroupsToRetain",
                "NodeGroupCount",
            ]],
        },
        ActionTable {
            action: "DecreaseReplicaCount",
            named: &[
                // The replicas' ids are their cache clusters' ("node ids").
                ("ReplicasToRemove", Existing(Cluster)),
                ("ReplicationGroupId", Existing(ReplicationGroup)),
            ],
            none: &[REPLICA_CONFIGURATION],
        },
        ActionTable {
            action: "DeleteCacheCluster",
            named: &[
                ("CacheClusterId", Existing(Cluster)),
                ("FinalSnapshotIdentifier", New(Snapshot)),
            ],
            none: &[],
        },
        ActionTable {
            action: "DeleteCacheParameterGroup",
            named: &[("CacheParameterGroupName", Existing(ParameterGroup))],
            none: &[],
        },
        ActionTable {
            action: "DeleteCacheSecurityGroup",
            named: &[("CacheSecurityGroupName", Existing(SecurityGroup))],
            none: &[],
        },
        ActionTable {
            action: "DeleteCacheSubnetGroup",
            named: &[("CacheSubnetGroupName", Existing(SubnetGroup))],
            none: &[],
        },
        ActionTable {
            action: "DeleteGlobalReplicationGroup",
            named: &[("GlobalReplicationGroupId", Existing(GlobalReplicationGroup))],
            // Whether to keep the primary: the group is not named here.
            none: &[&["RetainPrimaryReplicationGroup"]],
        },
        ActionTable {
            action: "DeleteReplicationGroup",
            named: &[
                ("FinalSnapshotIdentifier", New(Snapshot)),
                ("ReplicationGroupId", Existing(ReplicationGroup)),
            ],
            none: &[&["RetainPrimaryCluster"]],
        },
        ActionTable {
            action: "DeleteServerlessCache",
            named: &[
                ("FinalSnapshotName", New(ServerlessCacheSnapshot)),
                ("ServerlessCacheName", Existing(ServerlessCache)),
            ],
            none: &[],
        },
        ActionTable {
            action: "DeleteServerlessCacheSnapshot",
            named: &[(
                "ServerlessCacheSnapshotName",
                Existing(ServerlessCacheSnapshot),
            )],
            none: &[],
        },
        ActionTable {
            action: "DeleteSnapshot",
            named: &[("SnapshotName", Existing(Snapshot))],
            none: &[],
        },
        ActionTable {
            action: "DeleteUser",
            named: &[("UserId", Existing(User))],
            none: &[],
        },
        ActionTable {
            action: "DeleteUserGroup",
            named: &[("UserGroupId", Existing(UserGroup))],
            none: &[],
        },
        ActionTable {
            action: "DescribeCacheClusters",
            named: &[("CacheClusterId", Existing(Cluster))],
            none: &[
                PAGES,
                &[
                    "ShowCacheClustersNotInReplicationGroups",
                    "ShowCacheNodeInfo",
                ],
            ],
        },
        ActionTable {
            action: "DescribeCacheEngineVersions",
            named: &[],
            // AWS's engines and families, no resources.
            none: &[
                PAGES,
                &[
                    "CacheParameterGroupFamily",
                    "DefaultOnly",
                    "Engine",
                    "EngineVersion",
                ],
            ],
        },
        ActionTable {
            action: "DescribeCacheParameterGroups",
            named: &[("CacheParameterGroupName", Existing(ParameterGroup))],
            none: &[PAGES],
        },
        ActionTable {
            action: "DescribeCacheParameters",
            named: &[("CacheParameterGroupName", Existing(ParameterGroup))],
            // `user`, `system` or `engine-default`: where a value comes from.
            none: &[PAGES, &["Source"]],
        },
        ActionTable {
            action: "DescribeCacheSecurityGroups",
            named: &[("CacheSecurityGroupName", Existing(SecurityGroup))],
            none: &[PAGES],
        },
        ActionTable {
            action: "DescribeCacheSubnetGroups",
            named: &[("CacheSubnetGroupName", Existing(SubnetGroup))],
            none: &[PAGES],
        },
        ActionTable {
            action: "DescribeEngineDefaultParameters",
            named: &[],
            none: &[PAGES, &["CacheParameterGroupFamily"]],
        },
        ActionTable {
            action: "DescribeEvents",
            // Its kind is the one `SourceType` names.
            named: &[("SourceIdentifier", EventSource)],
            none: &[PAGES, &["Duration", "EndTime", "SourceType", "StartTime"]],
        },
        ActionTable {
            action: "DescribeGlobalReplicationGroups",
            named: &[("GlobalReplicationGroupId", Existing(GlobalReplicationGroup))],
            none: &[PAGES, &["ShowMemberInfo"]],
        },
        ActionTable {
            action: "DescribeReplicationGroups",
            named: &[("ReplicationGroupId", Existing(ReplicationGroup))],
            none: &[PAGES],
        },
        ActionTable {
            action: "DescribeReservedCacheNodes",
            named: &[("ReservedCacheNodeId", Existing(ReservedCacheNode))],
            none: &[PAGES, OFFERING_FILTERS],
        },
        ActionTable {
            action: "DescribeReservedCacheNodesOfferings",
            named: &[],
            none: &[PAGES, OFFERING_FILTERS],
        },
        ActionTable {
            action: "DescribeServerlessCacheSnapshots",
            named: &[
                ("ServerlessCacheName", Existing(ServerlessCache)),
                (
                    "ServerlessCacheSnapshotName",
                    Existing(ServerlessCacheSnapshot),
                ),
            ],
            // `automated` or `manual`.
            none: &[PAGE_TOKENS, &["SnapshotType"]],
        },
        ActionTable {
            action: "DescribeServerlessCaches",
            named: &[("ServerlessCacheName", Existing(ServerlessCache))],
            none: &[PAGE_TOKENS],
        },
        ActionTable {
            action: "DescribeServiceUpdates",
            named: &[],
            // Service updates are AWS's.
            none: &[PAGES, &["ServiceUpdateName", "ServiceUpdateStatus"]],
        },
        ActionTable {
            action: "DescribeSnapshots",
            named: &[
                // The snapshots of this cluster or group: the source is read
                // as it is now (a deleted source has no tags to read).
                ("CacheClusterId", Existing(Cluster)),
                ("ReplicationGroupId", Existing(ReplicationGroup)),
                ("SnapshotName", Existing(Snapshot)),
            ],
            // `system` or `user`.
            none: &[PAGES, &["ShowNodeGroupConfig", "SnapshotSource"]],
        },
        ActionTable {
            action: "DescribeUpdateActions",
            named: &[
                ("CacheClusterIds", Existing(Cluster)),
                ("ReplicationGroupIds", Existing(ReplicationGroup)),
            ],
            none: &[
                PAGES,
                &[
                    "Engine",
                    // AWS's service updates.
                    "ServiceUpdateName",
                    "ServiceUpdateStatus",
                    "ServiceUpdateTimeRange",
                    "ServiceUpdateTimeRange.EndTime",
                    "ServiceUpdateTimeRange.StartTime",
                    "ShowNodeLevelUpdateStatus",
                    "UpdateActionStatus",
                ],
            ],
        },
        ActionTable {
            action: "DescribeUserGroups",
            named: &[("UserGroupId", Existing(UserGroup))],
            none: &[PAGES],
        },
        ActionTable {
            action: "DescribeUsers",
            named: &[("UserId", Existing(User))],
            // A filter narrows the listing of all users, as a request without
            // `UserId` does, which names none.
            none: &[
                PAGES,
                &["Engine", "Filters", "Filters[].Name", "Filters[].Values"],
            ],
        },
        ActionTable {
            action: "DisassociateGlobalReplicationGroup",
            named: &[
                ("GlobalReplicationGroupId", Existing(GlobalReplicationGroup)),
                // The member group, in the region the request names.
                (
                    "ReplicationGroupId",
                    ExistingIn {
                        kind: ReplicationGroup,
                        region_member: "ReplicationGroupRegion",
                    },
                ),
            ],
            none: &[&["ReplicationGroupRegion"]],
        },
        ActionTable {
            action: "ExportServerlessCacheSnapshot",
            named: &[(
                "ServerlessCacheSnapshotName",
                Existing(ServerlessCacheSnapshot),
            )],
            none: &[&["S3BucketName"]],
        },
        ActionTable {
            action: "FailoverGlobalReplicationGroup",
            named: &[
                ("GlobalReplicationGroupId", Existing(GlobalReplicationGroup)),
                // The secondary to promote, in the region the request names.
                (
                    "PrimaryReplicationGroupId",
                    ExistingIn {
                        kind: ReplicationGroup,
                        region_member: "PrimaryRegion",
                    },
                ),
            ],
            none: &[&["PrimaryRegion"]],
        },
        ActionTable {
            action: "IncreaseNodeGroupsInGlobalReplicationGroup",
            named: &[
                ("GlobalReplicationGroupId", Existing(GlobalReplicationGroup)),
                // Each member group, in the region its item names.
                (
                    "RegionalConfigurations[].ReplicationGroupId",
                    ExistingIn {
                        kind: ReplicationGroup,
                        region_member: "ReplicationGroupRegion",
                    },
                ),
            ],
            none: &[&[
                "ApplyImmediately",
                "NodeGroupCount",
                "RegionalConfigurations",
                "RegionalConfigurations[].ReplicationGroupRegion",
                "RegionalConfigurations[].ReshardingConfiguration",
                "RegionalConfigurations[].ReshardingConfiguration[].NodeGroupId",
                "RegionalConfigurations[].ReshardingConfiguration[].PreferredAvailabilityZones",
            ]],
        },
        ActionTable {
            action: "IncreaseReplicaCount",
            named: &[("ReplicationGroupId", Existing(ReplicationGroup))],
            none: &[REPLICA_CONFIGURATION],
        },
        ActionTable {
            action: "ListAllowedNodeTypeModifications",
            named: &[
                ("CacheClusterId", Existing(Cluster)),
                ("ReplicationGroupId", Existing(ReplicationGroup)),
            ],
            none: &[],
        },
        ActionTable {
            action: "ListTagsForResource",
            named: &[("ResourceName", Arn)],
            none: &[],
        },
        ActionTable {
            action: "ModifyCacheCluster",
            named: &[
                ("CacheClusterId", Existing(Cluster)),
                ("CacheParameterGroupName", Existing(ParameterGroup)),
                ("CacheSecurityGroupNames", Existing(SecurityGroup)),
            ],
            none: &[
                MODIFY_SETTINGS,
                LOG_DELIVERY,
                &[
                    "AZMode",
                    // Node ids within the cluster (`0001`): no ARN of their own.
                    "CacheNodeIdsToRemove",
                    "NewAvailabilityZones",
                    "NumCacheNodes",
                    "ScaleConfig",
                    "ScaleConfig.ScaleIntervalMinutes",
                    "ScaleConfig.ScalePercentage",
                ],
            ],
        },
        ActionTable {
            action: "ModifyCacheParameterGroup",
            named: &[("CacheParameterGroupName", Existing(ParameterGroup))],
            none: &[PARAMETER_VALUES],
        },
        ActionTable {
            action: "ModifyCacheSubnetGroup",
            named: &[("CacheSubnetGroupName", Existing(SubnetGroup))],
            none: &[&["CacheSubnetGroupDescription", "SubnetIds"]],
        },
        ActionTable {
            action: "ModifyGlobalReplicationGroup",
            named: &[
                ("CacheParameterGroupName", Existing(ParameterGroup)),
                ("GlobalReplicationGroupId", Existing(GlobalReplicationGroup)),
            ],
            none: &[&[
                "ApplyImmediately",
                "AutomaticFailoverEnabled",
                "CacheNodeType",
                "Engine",
                "EngineVersion",
                "GlobalReplicationGroupDescription",
            ]],
        },
        ActionTable {
            action: "ModifyReplicationGroup",
            named: &[
                ("CacheParameterGroupName", Existing(ParameterGroup)),
                ("CacheSecurityGroupNames", Existing(SecurityGroup)),
                // A member cluster that becomes the primary.
                ("PrimaryClusterId", Existing(Cluster)),
                ("ReplicationGroupId", Existing(ReplicationGroup)),
                // The member cluster snapshots are taken from.
                ("SnapshottingClusterId", Existing(Cluster)),
                ("UserGroupIdsToAdd", Existing(UserGroup)),
                ("UserGroupIdsToRemove", Existing(UserGroup)),
            ],
            none: &[
                MODIFY_SETTINGS,
                LOG_DELIVERY,
                &[
                    "AutomaticFailoverEnabled",
                    "ClusterMode",
                    "Durability",
                    "MultiAZEnabled",
                    // Deprecated; a shard of the group, with no ARN.
                    "NodeGroupId",
                    "RemoveUserGroups",
                    "ReplicationGroupDescription",
                    "TransitEncryptionEnabled",
                    "TransitEncryptionMode",
                ],
            ],
        },
        ActionTable {
            action: "ModifyReplicationGroupShardConfiguration",
            named: &[("ReplicationGroupId", Existing(ReplicationGroup))],
            // Shards of the group, with no ARN of their own.
            none: &[&[
                "ApplyImmediately",
                "NodeGroupCount",
                "NodeGroupsToRemove",
                "NodeGroupsToRetain",
                "ReshardingConfiguration",
                "ReshardingConfiguration[].NodeGroupId",
                "ReshardingConfiguration[].PreferredAvailabilityZones",
            ]],
        },
        ActionTable {
            action: "ModifyServerlessCache",
            named: &[
                ("ServerlessCacheName", Existing(ServerlessCache)),
                ("UserGroupId", Existing(UserGroup)),
            ],
            none: &[
                CACHE_USAGE_LIMITS,
                &[
                    "DailySnapshotTime",
                    "Description",
                    "Engine",
                    "MajorEngineVersion",
                    "RemoveUserGroup",
                    "SecurityGroupIds",
                    "SnapshotRetentionLimit",
                ],
            ],
        },
        ActionTable {
            action: "ModifyUser",
            named: &[("UserId", Existing(User))],
            none: &[USER_SETTINGS, &["AppendAccessString"]],
        },
        ActionTable {
            action: "ModifyUserGroup",
            named: &[
                ("UserGroupId", Existing(UserGroup)),
                ("UserIdsToAdd", Existing(User)),
                ("UserIdsToRemove", Existing(User)),
            ],
            none: &[&["Engine"]],
        },
        ActionTable {
            action: "PrepareMigration",
            named: &[("ServerlessCacheName", Existing(ServerlessCache))],
            none: &[
                CUSTOMER_ENDPOINTS,
                &[
                    "SourceAuthenticationConfiguration",
                    "SourceAuthenticationConfiguration.SecretManagerConfig",
                    // A Secrets Manager secret.
                    "SourceAuthenticationConfiguration.SecretManagerConfig.SecretArn",
                    "SourceTlsConfiguration",
                    "SourceTlsConfiguration.SourceTlsCertificate",
                    "SourceTlsConfiguration.SourceTlsMode",
                ],
            ],
        },
        ActionTable {
            action: "PurchaseReservedCacheNodesOffering",
            // The id the caller gives the new reservation.
            named: &[("ReservedCacheNodeId", New(ReservedCacheNode))],
            // The offering is AWS's catalogue entry.
            none: &[&["CacheNodeCount", "ReservedCacheNodesOfferingId"], TAGS],
        },
        ActionTable {
            action: "RebalanceSlotsInGlobalReplicationGroup",
            named: &[("GlobalReplicationGroupId", Existing(GlobalReplicationGroup))],
            none: &[&["ApplyImmediately"]],
        },
        ActionTable {
            action: "RebootCacheCluster",
            named: &[("CacheClusterId", Existing(Cluster))],
            // Node ids within the cluster (`0001`).
            none: &[&["CacheNodeIdsToReboot"]],
        },
        ActionTable {
            action: "RemoveTagsFromResource",
            named: &[("ResourceName", Arn)],
            none: &[&["TagKeys"]],
        },
        ActionTable {
            action: "ResetCacheParameterGroup",
            named: &[("CacheParameterGroupName", Existing(ParameterGroup))],
            none: &[PARAMETER_VALUES, &["ResetAllParameters"]],
        },
        shared("RevokeCacheSecurityGroupIngress", INGRESS),
        ActionTable {
            action: "StartMigration",
            named: &[
                ("ReplicationGroupId", Existing(ReplicationGroup)),
                ("ServerlessCacheName", Existing(ServerlessCache)),
            ],
            none: &[CUSTOMER_ENDPOINTS, &["AutoCutover", "ClearTargetCacheData"]],
        },
        ActionTable {
            action: "StopMigration",
            named: &[("ServerlessCacheName", Existing(ServerlessCache))],
            none: &[],
        },
        ActionTable {
            action: "TestFailover",
            named: &[("ReplicationGroupId", Existing(ReplicationGroup))],
            // A shard of the group, with no ARN.
            none: &[&["NodeGroupId"]],
        },
        ActionTable {
            action: "TestMigration",
            named: &[("ReplicationGroupId", Existing(ReplicationGroup))],
            none: &[CUSTOMER_ENDPOINTS],
        },
    ];
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::table::{action_table, TABLE};
    use super::*;
    use crate::request;
    use crate::service_model::{Kind, Member, Structure};

    /// Every member of a structure at every depth, as a path, with the
    /// structure it is a member of.
    fn model_members(
        prefix: &str,
        structure: &'static Structure,
        out: &mut Vec<(String, &'static Member, &'static Structure)>,
    ) {
        for member in structure.members() {
            let path = if prefix.is_empty() {
                member.query_name().to_owned()
            } else {
                format!("{prefix}.{}", member.query_name())
            };
            out.push((path.clone(), member, structure));
            below(&path, member.shape().kind(), out);
        }
    }

    fn below(
        path: &str,
        kind: &Kind,
        out: &mut Vec<(String, &'static Member, &'static Structure)>,
    ) {
        match kind {
            Kind::Structure(inner) => model_members(path, inner, out),
            Kind::List(list) => match list.member().shape().kind() {
                Kind::Structure(inner) => model_members(&format!("{path}[]"), inner, out),
                Kind::List(_) | Kind::Map(_) => {
                    panic!("{path}: nested lists and maps are not walked by `existing_resources`")
                }
                _ => {}
            },
            Kind::Map(_) => panic!("{path}: maps are not walked by `existing_resources`"),
            Kind::String(_)
            | Kind::Boolean
            | Kind::Integer(_)
            | Kind::Long(_)
            | Kind::Timestamp => {}
        }
    }

    fn names_strings(member: &Member) -> bool {
        match member.shape().kind() {
            Kind::String(_) => true,
            Kind::List(list) => matches!(list.member().shape().kind(), Kind::String(_)),
            _ => false,
        }
    }

    #[test]
    fn the_table_classifies_every_member_of_every_action_and_nothing_else() {
        let names: Vec<&str> = TABLE.iter().map(|table| table.action).collect();
        assert_eq!(
            names,
            Action::all_names(),
            "one entry per action, sorted by name"
        );
        let mut problems = Vec::new();
        for action in Action::all() {
            let mut members = Vec::new();
            model_members("", action.operation().input(), &mut members);
            let table = action_table(action).unwrap();
            let mut listed: Vec<&str> = table.named.iter().map(|(path, _)| *path).collect();
            listed.extend(table.none.iter().flat_map(|group| group.iter().copied()));
            let mut once = BTreeSet::new();
            for path in &listed {
                if !once.insert(*path) {
                    problems.push(format!("{action}: {path} is listed twice"));
                }
                if !members.iter().any(|(member, _, _)| member == path) {
                    problems.push(format!("{action}: {path} is no member of the action"));
                }
            }
            for (path, member, parent) in &members {
                let Some(role) = role(action, path) else {
                    problems.push(format!("{action}: {path} is not classified"));
                    continue;
                };
                let names = role.names_existing() || matches!(role, Role::New(_));
                if names && !names_strings(member) {
                    problems.push(format!(
                        "{action}: {path} names resources but holds no strings"
                    ));
                }
                match role {
                    Role::ExistingIn { region_member, .. } => {
                        if !parent.member(region_member).is_some_and(names_strings) {
                            problems
                                .push(format!("{action}: {path} has no sibling {region_member}"));
                        }
                    }
                    Role::EventSource => {
                        let source_type = parent.member("SourceType").map(|m| m.shape().kind());
                        let Some(Kind::String(source_type)) = source_type else {
                            problems.push(format!("{action}: {path} has no sibling SourceType"));
                            continue;
                        };
                        for value in source_type.enum_values() {
                            if ResourceKind::of_source_type(value).is_none() {
                                problems.push(format!("{action}: SourceType {value} has no kind"));
                            }
                        }
                    }
                    Role::Existing(_)
                    | Role::New(_)
                    | Role::Arn
                    | Role::BackupArn
                    | Role::NoResource => {}
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        let modify = Action::from_name("ModifyReplicationGroup").unwrap();
        assert_eq!(role(modify, "NoSuchMember"), None);
        assert_eq!(
            role(modify, "LogDeliveryConfigurations[].LogType"),
            Some(Role::NoResource)
        );
        assert_eq!(role(modify, "LogDeliveryConfigurations.LogType"), None);
    }

    #[test]
    fn roles_as_aws_acts() {
        let role =
            |action: &str, path: &str| role(Action::from_name(action).unwrap(), path).unwrap();
        use ResourceKind::*;
        for (action, path, expected) in [
            (
                "CreateReplicationGroup",
                "ReplicationGroupId",
                Role::New(ReplicationGroup),
            ),
            (
                "CreateReplicationGroup",
                "PrimaryClusterId",
                Role::Existing(Cluster),
            ),
            (
                "CreateReplicationGroup",
                "GlobalReplicationGroupId",
                Role::Existing(GlobalReplicationGroup),
            ),
            (
                "CreateReplicationGroup",
                "SnapshotName",
                Role::Existing(Snapshot),
            ),
            ("CreateReplicationGroup", "SnapshotArns", Role::NoResource),
            (
                "CreateReplicationGroup",
                "UserGroupIds",
                Role::Existing(UserGroup),
            ),
            (
                "CreateReplicationGroup",
                "CacheSubnetGroupName",
                Role::Existing(SubnetGroup),
            ),
            (
                "CreateReplicationGroup",
                "CacheSecurityGroupNames",
                Role::Existing(SecurityGroup),
            ),
            (
                "CreateReplicationGroup",
                "SecurityGroupIds",
                Role::NoResource,
            ),
            ("CreateReplicationGroup", "KmsKeyId", Role::NoResource),
            (
                "CreateReplicationGroup",
                "NotificationTopicArn",
                Role::NoResource,
            ),
            ("CreateCacheCluster", "CacheClusterId", Role::New(Cluster)),
            (
                "CreateCacheCluster",
                "ReplicationGroupId",
                Role::Existing(ReplicationGroup),
            ),
            ("CreateSnapshot", "SnapshotName", Role::New(Snapshot)),
            ("CopySnapshot", "TargetBucket", Role::NoResource),
            ("AddTagsToResource", "ResourceName", Role::Arn),
            ("ModifyUserGroup", "UserIdsToRemove", Role::Existing(User)),
            (
                "CreateCacheParameterGroup",
                "CacheParameterGroupName",
                Role::New(ParameterGroup),
            ),
            (
                "DescribeReservedCacheNodes",
                "ReservedCacheNodeId",
                Role::Existing(ReservedCacheNode),
            ),
            (
                "PurchaseReservedCacheNodesOffering",
                "ReservedCacheNodeId",
                Role::New(ReservedCacheNode),
            ),
            (
                "DeleteServerlessCache",
                "FinalSnapshotName",
                Role::New(ServerlessCacheSnapshot),
            ),
        ] {
            assert_eq!(role(action, path), expected, "{action} {path}");
        }
    }

    fn params(query: &str) -> (Action, Params) {
        let (request, _) = request::parse_query(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        (request.action, request.params)
    }

    fn resources_in(region: &str, query: &str) -> Result<Vec<NamedResource>, ResourceError> {
        let (action, params) = params(&format!("Version=2015-02-02&{query}"));
        let region = Region::parse(region).unwrap();
        let account = AccountId::parse("123456789012").unwrap();
        existing_resources(action, &params, &region, &account)
    }

    fn resources(query: &str) -> Vec<NamedResource> {
        resources_in("eu-west-1", query).unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// (kind, id, member, ARN) of each resource.
    fn summary(found: &[NamedResource]) -> Vec<(ResourceKind, &str, &str, Option<&str>)> {
        found
            .iter()
            .map(|r| (r.kind, r.id.as_str(), r.member.as_str(), r.arn.as_deref()))
            .collect()
    }

    const ARN: &str = "arn:aws:elasticache:eu-west-1:123456789012";

    #[test]
    fn modify_replication_group_names_the_group_and_what_it_is_given() {
        let found = resources(
            "Action=ModifyReplicationGroup&ReplicationGroupId=Payments-Orders\
             &CacheParameterGroupName=Orders-Params&SecurityGroupIds.SecurityGroupId.1=sg-0aa\
             &UserGroupIdsToAdd.member.1=ops&UserGroupIdsToRemove.member.1=old\
             &PrimaryClusterId=payments-orders-002&ApplyImmediately=true",
        );
        let group = format!("{ARN}:replicationgroup:payments-orders");
        let params = format!("{ARN}:parametergroup:orders-params");
        let cluster = format!("{ARN}:cluster:payments-orders-002");
        let ops = format!("{ARN}:usergroup:ops");
        let old = format!("{ARN}:usergroup:old");
        // Ids stored in lower case come out as ElastiCache stores them.
        assert_eq!(
            summary(&found),
            [
                (
                    ResourceKind::ParameterGroup,
                    "orders-params",
                    "CacheParameterGroupName",
                    Some(params.as_str())
                ),
                (
                    ResourceKind::Cluster,
                    "payments-orders-002",
                    "PrimaryClusterId",
                    Some(cluster.as_str())
                ),
                (
                    ResourceKind::ReplicationGroup,
                    "payments-orders",
                    "ReplicationGroupId",
                    Some(group.as_str())
                ),
                (
                    ResourceKind::UserGroup,
                    "ops",
                    "UserGroupIdsToAdd",
                    Some(ops.as_str())
                ),
                (
                    ResourceKind::UserGroup,
                    "old",
                    "UserGroupIdsToRemove",
                    Some(old.as_str())
                ),
            ]
        );
        assert!(found.iter().all(|r| r.region.as_str() == "eu-west-1"));
    }

    #[test]
    fn a_new_resource_is_not_named_but_what_it_is_made_from_is() {
        let found = resources(
            "Action=CreateReplicationGroup&ReplicationGroupId=new-group\
             &ReplicationGroupDescription=d&PrimaryClusterId=Old-Cluster\
             &SnapshotArns.SnapshotArn.1=arn:aws:s3:::bucket/dump.rdb\
             &GlobalReplicationGroupId=ldgnf-global&KmsKeyId=alias/cache",
        );
        let cluster = format!("{ARN}:cluster:old-cluster");
        assert_eq!(
            summary(&found),
            [
                // A global datastore has no tags, so no ARN to ask.
                (
                    ResourceKind::GlobalReplicationGroup,
                    "ldgnf-global",
                    "GlobalReplicationGroupId",
                    None
                ),
                (
                    ResourceKind::Cluster,
                    "old-cluster",
                    "PrimaryClusterId",
                    Some(cluster.as_str())
                ),
            ]
        );
    }

    #[test]
    fn each_item_of_a_list_once() {
        let found = resources(
            "Action=CreateUserGroup&UserGroupId=ops&Engine=redis\
             &UserIds.member.1=default&UserIds.member.2=Alice&UserIds.member.3=alice",
        );
        let default = format!("{ARN}:user:default");
        let alice = format!("{ARN}:user:alice");
        assert_eq!(
            summary(&found),
            [
                (
                    ResourceKind::User,
                    "default",
                    "UserIds",
                    Some(default.as_str())
                ),
                (ResourceKind::User, "alice", "UserIds", Some(alice.as_str())),
            ]
        );
    }

    #[test]
    fn copy_snapshot_names_its_source_only() {
        let found = resources(
            "Action=CopySnapshot&SourceSnapshotName=Nightly&TargetSnapshotName=copy\
             &TargetBucket=my-bucket",
        );
        let nightly = format!("{ARN}:snapshot:nightly");
        assert_eq!(
            summary(&found),
            [(
                ResourceKind::Snapshot,
                "nightly",
                "SourceSnapshotName",
                Some(nightly.as_str())
            )]
        );
    }

    #[test]
    fn a_nested_member_in_the_region_its_item_names() {
        let item = "RegionalConfigurations.RegionalConfiguration";
        let found = resources(&format!(
            "Action=IncreaseNodeGroupsInGlobalReplicationGroup&GlobalReplicationGroupId=ldgnf-g\
             &NodeGroupCount=3&ApplyImmediately=true\
             &{item}.1.ReplicationGroupId=primary&{item}.1.ReplicationGroupRegion=eu-west-1\
             &{item}.1.ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId=0001\
             &{item}.2.ReplicationGroupId=secondary&{item}.2.ReplicationGroupRegion=US-EAST-2\
             &{item}.2.ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId=0001"
        ));
        let member = "RegionalConfigurations[].ReplicationGroupId";
        let primary = format!("{ARN}:replicationgroup:primary");
        let secondary = "arn:aws:elasticache:us-east-2:123456789012:replicationgroup:secondary";
        assert_eq!(
            summary(&found),
            [
                (
                    ResourceKind::GlobalReplicationGroup,
                    "ldgnf-g",
                    "GlobalReplicationGroupId",
                    None
                ),
                (
                    ResourceKind::ReplicationGroup,
                    "primary",
                    member,
                    Some(primary.as_str())
                ),
                (
                    ResourceKind::ReplicationGroup,
                    "secondary",
                    member,
                    Some(secondary)
                ),
            ]
        );
        assert_eq!(found[2].region.as_str(), "us-east-2");
    }

    #[test]
    fn an_arn_says_its_kind_region_and_name() {
        let arn = "arn:aws:elasticache:us-west-2:210987654321:replicationgroup:Orders";
        let found = resources(&format!(
            "Action=AddTagsToResource&ResourceName={arn}&Tags.Tag.1.Key=team&Tags.Tag.1.Value=x"
        ));
        assert_eq!(
            summary(&found),
            [(
                ResourceKind::ReplicationGroup,
                "Orders",
                "ResourceName",
                Some(arn)
            )]
        );
        assert_eq!(found[0].region.as_str(), "us-west-2");
        let arn = "arn:aws-us-gov:elasticache:us-gov-west-1:123456789012:reserved-instance:ri-1";
        let found = resources(&format!("Action=ListTagsForResource&ResourceName={arn}"));
        assert_eq!(
            summary(&found),
            [(
                ResourceKind::ReservedCacheNode,
                "ri-1",
                "ResourceName",
                Some(arn)
            )]
        );
    }

    #[test]
    fn an_arn_that_names_no_elasticache_resource_is_an_error() {
        let error = |arn: &str| {
            resources_in(
                "eu-west-1",
                &format!("Action=RemoveTagsFromResource&ResourceName={arn}&TagKeys.member.1=team"),
            )
            .unwrap_err()
        };
        let member = || "ResourceName".to_owned();
        let kms = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd";
        assert_eq!(
            error(kms),
            ResourceError::NotElastiCache {
                member: member(),
                value: kms.into(),
                service: "kms".into()
            }
        );
        assert_eq!(
            error(kms).to_string(),
            format!("`ResourceName` is `{kms}`, an ARN of service `kms`: expected an ElastiCache resource's ARN, `arn:PARTITION:elasticache:REGION:ACCOUNT:TYPE:NAME`")
        );
        let s3 = "arn:aws:s3:::bucket/dump.rdb";
        assert_eq!(
            error(s3),
            ResourceError::NotElastiCache {
                member: member(),
                value: s3.into(),
                service: "s3".into()
            }
        );
        let global = "arn:aws:elasticache::123456789012:globalreplicationgroup:ldgnf-g";
        assert_eq!(
            error(global),
            ResourceError::UnknownType {
                member: member(),
                value: global.into(),
                arn_type: "globalreplicationgroup".into()
            }
        );
        assert!(error(global).to_string().contains(
            "of resource type `globalreplicationgroup`: expected a resource that has tags, of type `cluster`, `replicationgroup`"
        ));
        for bad in [
            "my-cluster",
            "arn:aws:elasticache:eu-west-1:123456789012:cluster:",
            "arn:aws:elasticache:eu-west-1:123456789012:cluster",
            "arn:aws:elasticache:eu-west-1:12345:cluster:c",
            "arn:aws:elasticache:Eu-West-1:123456789012:cluster:c",
            // The partition is the region's.
            "arn:aws:elasticache:cn-north-1:123456789012:cluster:c",
            "arn::elasticache:eu-west-1:123456789012:cluster:c",
            "urn:aws:elasticache:eu-west-1:123456789012:cluster:c",
        ] {
            assert_eq!(
                error(bad),
                ResourceError::NotAnArn {
                    member: member(),
                    value: bad.into()
                },
                "{bad}"
            );
        }
        assert!(error("my-cluster").to_string().starts_with(
            "`ResourceName` is `my-cluster`, which is not an ElastiCache resource's ARN: expected `arn:PARTITION:elasticache:"
        ));
    }

    #[test]
    fn arns_are_built_in_the_region_partition() {
        for (region, partition) in [
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("us-east-1", "aws"),
        ] {
            let found =
                resources_in(region, "Action=DeleteCacheCluster&CacheClusterId=Orders").unwrap();
            let expected =
                format!("arn:{partition}:elasticache:{region}:123456789012:cluster:orders");
            assert_eq!(found[0].arn.as_deref(), Some(expected.as_str()), "{region}");
            // An ARN the request gives must be of its region's partition.
            let arn = format!("arn:{partition}:elasticache:{region}:123456789012:cluster:orders");
            let query = format!("Action=ListTagsForResource&ResourceName={arn}");
            assert_eq!(
                resources_in("eu-west-1", &query).unwrap()[0].arn.as_deref(),
                Some(arn.as_str())
            );
        }
    }

    #[test]
    fn a_backup_to_restore_is_a_snapshot_or_a_file_in_s3() {
        let snapshot = format!("{ARN}:serverlesscachesnapshot:nightly");
        let found = resources(&format!(
            "Action=CreateServerlessCache&ServerlessCacheName=new&Engine=valkey\
             &SnapshotArnsToRestore.SnapshotArn.1=arn:aws:s3:::bucket/dump.rdb\
             &SnapshotArnsToRestore.SnapshotArn.2={snapshot}&UserGroupId=ops"
        ));
        let ops = format!("{ARN}:usergroup:ops");
        assert_eq!(
            summary(&found),
            [
                (
                    ResourceKind::ServerlessCacheSnapshot,
                    "nightly",
                    "SnapshotArnsToRestore",
                    Some(snapshot.as_str())
                ),
                (
                    ResourceKind::UserGroup,
                    "ops",
                    "UserGroupId",
                    Some(ops.as_str())
                ),
            ]
        );
        let error = resources_in(
            "eu-west-1",
            "Action=CreateServerlessCache&ServerlessCacheName=new&Engine=valkey\
             &SnapshotArnsToRestore.SnapshotArn.1=arn:aws:s3:::bucket",
        )
        .unwrap_err();
        assert!(
            matches!(error, ResourceError::NotElastiCache { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn an_event_source_is_of_the_kind_its_type_says() {
        let found = resources(
            "Action=DescribeEvents&SourceType=serverless-cache-snapshot&SourceIdentifier=Nightly",
        );
        let nightly = format!("{ARN}:serverlesscachesnapshot:nightly");
        assert_eq!(
            summary(&found),
            [(
                ResourceKind::ServerlessCacheSnapshot,
                "nightly",
                "SourceIdentifier",
                Some(nightly.as_str())
            )]
        );
        let error =
            resources_in("eu-west-1", "Action=DescribeEvents&SourceIdentifier=orders").unwrap_err();
        assert_eq!(
            error,
            ResourceError::NoSourceKind {
                member: "SourceIdentifier".into(),
                found: None
            }
        );
        assert_eq!(
            error.to_string(),
            "`SourceIdentifier` names an event source, but the request has no `SourceType`: expected `SourceType` to say its kind"
        );
        assert!(resources("Action=DescribeEvents&SourceType=cache-cluster").is_empty());
    }

    #[test]
    fn a_region_member_that_is_no_region_is_an_error() {
        let error = resources_in(
            "eu-west-1",
            "Action=FailoverGlobalReplicationGroup&GlobalReplicationGroupId=ldgnf-g\
             &PrimaryRegion=mars&PrimaryReplicationGroupId=orders",
        )
        .unwrap_err();
        assert_eq!(
            error,
            ResourceError::NotARegion {
                member: "PrimaryRegion".into(),
                value: Some("mars".into())
            }
        );
        assert_eq!(
            error.to_string(),
            "`PrimaryRegion` is `mars`, which is not an AWS region name: expected one such as `us-east-1`"
        );
    }

    #[test]
    fn an_unclassified_member_is_named() {
        let error = ResourceError::Unclassified {
            action: Action::from_name("ModifyReplicationGroup").unwrap(),
            member: "NewMember".into(),
        };
        assert_eq!(
            error.to_string(),
            "the proxy does not know which resources `ModifyReplicationGroup` parameter `NewMember` names, so it cannot tell the request's resources"
        );
    }

    #[test]
    fn which_actions_can_name_an_existing_resource() {
        for name in [
            "ModifyReplicationGroup",
            "AddTagsToResource",
            "DescribeEvents",
            "CreateUserGroup",
            "CreateServerlessCache",
            "DescribeCacheClusters",
            "BatchApplyUpdateAction",
        ] {
            assert!(
                can_name_existing(Action::from_name(name).unwrap()),
                "{name}"
            );
        }
        for name in [
            "DescribeCacheEngineVersions",
            "DescribeEngineDefaultParameters",
            "DescribeReservedCacheNodesOfferings",
            "DescribeServiceUpdates",
            // Makes a security group, and names nothing else.
            "CreateCacheSecurityGroup",
        ] {
            assert!(
                !can_name_existing(Action::from_name(name).unwrap()),
                "{name}"
            );
        }
    }

    #[test]
    fn kinds_and_their_arn_types() {
        for kind in ResourceKind::ALL {
            if let Some(arn_type) = kind.arn_type() {
                assert_eq!(ResourceKind::of_arn_type(arn_type), Some(kind));
            }
            assert!(!kind.describe().is_empty());
        }
        assert_eq!(ResourceKind::GlobalReplicationGroup.arn_type(), None);
        assert_eq!(ResourceKind::of_arn_type("globalreplicationgroup"), None);
        assert_eq!(
            ResourceKind::ReplicationGroup.describe(),
            "replication group"
        );
    }
}
