//! Graph payloads parsed at the edge into typed changes (GRAPH.md 1.4-1.7, 4).

use serde_json::{Map, Value};

use super::GraphError;

/// The properties requested on `/users/delta`: every attribute we map.
pub const USER_SELECT: &str = "id,userPrincipalName,displayName,givenName,surname,mail,mobilePhone,jobTitle,department,accountEnabled";
/// On `/groups/delta`; `members` makes membership changes visible.
pub const GROUP_SELECT: &str = "id,displayName,description,members";

/// A user as the import maps it. `None` = no value (Graph's `null` or absent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntraUser {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub mobile_phone: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub account_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraGroup {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    User,
    Group,
    /// Devices, service principals, contacts: not part of the AM directory.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChange {
    pub member_id: String,
    pub kind: MemberKind,
    pub removed: bool,
}

/// One item of a delta page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaItem<T> {
    Upsert(T),
    /// `@removed`; `permanent` when the reason is `deleted`.
    Removed {
        id: String,
        permanent: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDelta {
    pub id: String,
    /// `None` when the item carried only its id and membership changes.
    pub group: Option<EntraGroup>,
    pub members: Vec<MemberChange>,
}

/// Where a round goes after this page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuation {
    Next(String),
    Done { delta_link: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPage<T> {
    pub items: Vec<DeltaItem<T>>,
    pub continuation: Continuation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainInfo {
    pub name: String,
    pub federated: bool,
    pub verified: bool,
}

fn malformed(what: impl Into<String>) -> GraphError {
    GraphError::Malformed(what.into())
}

fn string(item: &Map<String, Value>, key: &str) -> Result<Option<String>, GraphError> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(format!("`{key}` is not a string"))),
    }
}

fn id_of(item: &Map<String, Value>) -> Result<String, GraphError> {
    string(item, "id")?.ok_or_else(|| malformed("an item has no `id`"))
}

fn removed(item: &Map<String, Value>) -> Result<Option<bool>, GraphError> {
    match item.get("@removed") {
        None => Ok(None),
        Some(r) => match r.get("reason").and_then(Value::as_str) {
            Some("deleted") => Ok(Some(true)),
            Some("changed") => Ok(Some(false)),
            other => Err(malformed(format!("unknown @removed reason {other:?}"))),
        },
    }
}

fn page_parts(page: &Value) -> Result<(&Vec<Value>, Continuation), GraphError> {
    let value = page
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("the page has no `value` array"))?;
    let next = page.get("@odata.nextLink").and_then(Value::as_str);
    let delta = page.get("@odata.deltaLink").and_then(Value::as_str);
    let continuation = match (next, delta) {
        (Some(next), None) => Continuation::Next(next.to_owned()),
        (None, Some(delta)) => Continuation::Done {
            delta_link: delta.to_owned(),
        },
        (Some(_), Some(_)) => {
            return Err(malformed("the page has both a nextLink and a deltaLink"));
        }
        (None, None) => return Err(malformed("the page has neither a nextLink nor a deltaLink")),
    };
    Ok((value, continuation))
}

fn objects(value: &[Value]) -> impl Iterator<Item = Result<&Map<String, Value>, GraphError>> {
    value.iter().map(|v| {
        v.as_object()
            .ok_or_else(|| malformed("an item is not an object"))
    })
}

impl EntraUser {
    /// A user object (a delta item in default mode, or a plain GET): it
    /// carries the whole selected set; an absent property has no value.
    pub fn parse(item: &Map<String, Value>) -> Result<Self, GraphError> {
        let id = id_of(item)?;
        let user_principal_name = string(item, "userPrincipalName")?
            .ok_or_else(|| malformed(format!("user {id} has no userPrincipalName")))?;
        let account_enabled = match item.get("accountEnabled") {
            Some(Value::Bool(b)) => *b,
            None | Some(Value::Null) => true,
            Some(_) => {
                return Err(malformed(format!(
                    "user {id}: accountEnabled is not a boolean"
                )));
            }
        };
        Ok(Self {
            user_principal_name,
            display_name: string(item, "displayName")?,
            given_name: string(item, "givenName")?,
            surname: string(item, "surname")?,
            mail: string(item, "mail")?,
            mobile_phone: string(item, "mobilePhone")?,
            job_title: string(item, "jobTitle")?,
            department: string(item, "department")?,
            account_enabled,
            id,
        })
    }

    /// The user's UPN domain, lowercase.
    pub fn domain(&self) -> Option<String> {
        self.user_principal_name
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
    }
}

pub fn parse_user_page(page: &Value) -> Result<DeltaPage<EntraUser>, GraphError> {
    let (value, continuation) = page_parts(page)?;
    let items = objects(value)
        .map(|item| {
            let item = item?;
            Ok(match removed(item)? {
                Some(permanent) => DeltaItem::Removed {
                    id: id_of(item)?,
                    permanent,
                },
                None => DeltaItem::Upsert(EntraUser::parse(item)?),
            })
        })
        .collect::<Result<_, GraphError>>()?;
    Ok(DeltaPage {
        items,
        continuation,
    })
}

fn member_kind(odata_type: Option<&str>) -> MemberKind {
    match odata_type {
        Some("#microsoft.graph.user") => MemberKind::User,
        Some("#microsoft.graph.group") => MemberKind::Group,
        _ => MemberKind::Other,
    }
}

impl EntraGroup {
    /// A group's attributes; `None` for a delta item that carries only its
    /// id and membership changes.
    pub fn parse(item: &Map<String, Value>) -> Result<Option<Self>, GraphError> {
        let id = id_of(item)?;
        Ok(match string(item, "displayName")? {
            Some(display_name) => Some(Self {
                id,
                display_name,
                description: string(item, "description")?,
            }),
            None => None,
        })
    }
}

pub fn parse_group_page(page: &Value) -> Result<DeltaPage<GroupDelta>, GraphError> {
    let (value, continuation) = page_parts(page)?;
    let items = objects(value)
        .map(|item| {
            let item = item?;
            let id = id_of(item)?;
            if let Some(permanent) = removed(item)? {
                return Ok(DeltaItem::Removed { id, permanent });
            }
            let members = match item.get("members@delta") {
                None => Vec::new(),
                Some(Value::Array(entries)) => entries
                    .iter()
                    .map(|m| {
                        let m = m.as_object().ok_or_else(|| {
                            malformed(format!("group {id}: a member is not an object"))
                        })?;
                        Ok(MemberChange {
                            member_id: id_of(m)?,
                            kind: member_kind(m.get("@odata.type").and_then(Value::as_str)),
                            removed: m.contains_key("@removed"),
                        })
                    })
                    .collect::<Result<_, GraphError>>()?,
                Some(_) => {
                    return Err(malformed(format!(
                        "group {id}: members@delta is not a list"
                    )));
                }
            };
            let group = EntraGroup::parse(item)?;
            Ok(DeltaItem::Upsert(GroupDelta { id, group, members }))
        })
        .collect::<Result<_, GraphError>>()?;
    Ok(DeltaPage {
        items,
        continuation,
    })
}

pub fn parse_domains(body: &Value) -> Result<Vec<DomainInfo>, GraphError> {
    let value = body
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("/domains has no `value` array"))?;
    objects(value)
        .map(|d| {
            let d = d?;
            Ok(DomainInfo {
                name: id_of(d)?.to_ascii_lowercase(),
                federated: d.get("authenticationType").and_then(Value::as_str) == Some("Federated"),
                verified: d
                    .get("isVerified")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect()
}

/// A page of `transitiveMembers`: (id, kind) per member, and the next link.
pub struct MembersPage {
    pub members: Vec<(String, MemberKind)>,
    pub next_link: Option<String>,
}

pub fn parse_members_page(body: &Value) -> Result<MembersPage, GraphError> {
    let value = body
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("the members page has no `value` array"))?;
    let members = objects(value)
        .map(|m| {
            let m = m?;
            Ok((
                id_of(m)?,
                member_kind(m.get("@odata.type").and_then(Value::as_str)),
            ))
        })
        .collect::<Result<_, GraphError>>()?;
    let next_link = body
        .get("@odata.nextLink")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(MembersPage { members, next_link })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_user_page_with_updates_and_removals_parses() {
        let page = parse_user_page(&json!({
            "@odata.deltaLink": "https://graph/users/delta?$deltatoken=x",
            "value": [
                {"id": "u1", "userPrincipalName": "Ann@Contoso.com", "displayName": "Ann", "mail": null, "accountEnabled": false},
                {"id": "u2", "@removed": {"reason": "changed"}},
                {"id": "u3", "@removed": {"reason": "deleted"}}
            ]
        }))
        .unwrap();
        assert_eq!(
            page.continuation,
            Continuation::Done {
                delta_link: "https://graph/users/delta?$deltatoken=x".into()
            }
        );
        let DeltaItem::Upsert(user) = &page.items[0] else {
            panic!()
        };
        assert_eq!(user.domain().as_deref(), Some("contoso.com"));
        assert!(!user.account_enabled && user.mail.is_none());
        assert_eq!(
            page.items[1],
            DeltaItem::Removed {
                id: "u2".into(),
                permanent: false
            }
        );
        assert_eq!(
            page.items[2],
            DeltaItem::Removed {
                id: "u3".into(),
                permanent: true
            }
        );
    }

    #[test]
    fn group_items_carry_member_changes_and_may_lack_attributes() {
        let page = parse_group_page(&json!({
            "@odata.nextLink": "https://graph/groups/delta?$skiptoken=y",
            "value": [{"id": "g1", "members@delta": [
                {"@odata.type": "#microsoft.graph.user", "id": "u1"},
                {"@odata.type": "#microsoft.graph.group", "id": "g2", "@removed": {"reason": "deleted"}},
                {"@odata.type": "#microsoft.graph.device", "id": "d1"}
            ]}]
        }))
        .unwrap();
        let DeltaItem::Upsert(group) = &page.items[0] else {
            panic!()
        };
        assert!(group.group.is_none());
        assert_eq!(
            group.members[1],
            MemberChange {
                member_id: "g2".into(),
                kind: MemberKind::Group,
                removed: true
            }
        );
        assert_eq!(group.members[2].kind, MemberKind::Other);
    }

    #[test]
    fn malformed_pages_name_what_is_wrong() {
        let cases = [
            (json!({"value": []}), "neither"),
            (json!({"@odata.deltaLink": "d"}), "no `value`"),
            (
                json!({"@odata.deltaLink": "d", "@odata.nextLink": "n", "value": []}),
                "both",
            ),
            (
                json!({"@odata.deltaLink": "d", "value": [{"displayName": "x"}]}),
                "no `id`",
            ),
            (
                json!({"@odata.deltaLink": "d", "value": [{"id": "u1"}]}),
                "userPrincipalName",
            ),
            (
                json!({"@odata.deltaLink": "d", "value": [{"id": "u1", "@removed": {"reason": "moved"}}]}),
                "reason",
            ),
        ];
        for (page, expected) in cases {
            let err = parse_user_page(&page).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} for {page}");
        }
    }
}
