//! Graph payloads parsed at the edge into typed changes (GRAPH.md 1.4-1.7, 4).

use serde_json::{Map, Value};

use super::GraphError;
use crate::model::EntraObjectId;
use crate::model::directory::{
    Field, FieldKind, FieldValue, GROUP_FIELDS, GroupAttributes, USER_FIELDS, UserAttributes,
};

/// The properties requested of users: every property the field table maps.
pub fn user_select() -> String {
    select(USER_FIELDS, &[])
}

/// On `/groups/delta`; `members` makes membership changes visible.
pub fn group_select() -> String {
    select(GROUP_FIELDS, &["members"])
}

/// The properties of a group alone.
pub fn group_attributes_select() -> String {
    select(GROUP_FIELDS, &[])
}

fn select<A>(fields: &[Field<A>], extra: &[&str]) -> String {
    std::iter::once("id")
        .chain(fields.iter().map(|f| f.graph))
        .chain(extra.iter().copied())
        .collect::<Vec<_>>()
        .join(",")
}

/// A user as Graph has it, in the AM directory's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraUser {
    pub id: EntraObjectId,
    pub attributes: UserAttributes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraGroup {
    pub id: EntraObjectId,
    pub attributes: GroupAttributes,
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
    pub member_id: EntraObjectId,
    pub kind: MemberKind,
    pub removed: bool,
}

/// One item of a delta page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaItem<T> {
    Upsert(T),
    /// `@removed`; `permanent` when the reason is `deleted`.
    Removed {
        id: EntraObjectId,
        permanent: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDelta {
    pub id: EntraObjectId,
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

fn id_of(item: &Map<String, Value>) -> Result<EntraObjectId, GraphError> {
    let raw = string(item, "id")?.ok_or_else(|| malformed("an item has no `id`"))?;
    EntraObjectId::parse(&raw).map_err(|e| malformed(e.to_string()))
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

/// The value of one mapped property; absent or `null` is no value.
fn field_value<A>(
    item: &Map<String, Value>,
    field: &Field<A>,
    id: &str,
) -> Result<FieldValue, GraphError> {
    match (field.kind, item.get(field.graph)) {
        (FieldKind::Text, _) => Ok(FieldValue::Text(string(item, field.graph)?)),
        (FieldKind::Flag, Some(Value::Bool(b))) => Ok(FieldValue::Flag(*b)),
        (FieldKind::Flag, None | Some(Value::Null)) => Ok(FieldValue::Text(None)),
        (FieldKind::Flag, Some(_)) => {
            Err(malformed(format!("{id}: {} is not a boolean", field.graph)))
        }
    }
}

/// The attributes the field table maps, from a Graph object.
fn attributes<A: Default>(
    item: &Map<String, Value>,
    fields: &[Field<A>],
    id: &str,
) -> Result<A, GraphError> {
    let mut attributes = A::default();
    for field in fields {
        (field.write)(&mut attributes, field_value(item, field, id)?);
    }
    Ok(attributes)
}

impl EntraUser {
    /// A user object (a delta item in default mode, or a plain GET): it
    /// carries the whole selected set; an absent property has no value.
    pub fn parse(item: &Map<String, Value>) -> Result<Self, GraphError> {
        let id = id_of(item)?;
        let attributes: UserAttributes = attributes(item, USER_FIELDS, &format!("user {id}"))?;
        if attributes.user_name.is_empty() {
            return Err(malformed(format!("user {id} has no userPrincipalName")));
        }
        Ok(Self { id, attributes })
    }

    /// The user's UPN domain, lowercase.
    pub fn domain(&self) -> Option<String> {
        self.attributes.domain()
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
        let attributes: GroupAttributes = attributes(item, GROUP_FIELDS, &format!("group {id}"))?;
        Ok((!attributes.name.is_empty()).then_some(Self { id, attributes }))
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
                name: string(d, "id")?
                    .ok_or_else(|| malformed("a domain has no `id`"))?
                    .to_ascii_lowercase(),
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
    pub members: Vec<(EntraObjectId, MemberKind)>,
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

/// A mapped value as Graph takes it.
fn graph_value(value: FieldValue) -> Value {
    match value {
        FieldValue::Text(Some(text)) => Value::String(text),
        FieldValue::Text(None) => Value::Null,
        FieldValue::Flag(flag) => Value::Bool(flag),
    }
}

/// The body of `PATCH /users/{id}` or `/groups/{id}`.
pub fn patch_body(patch: &crate::export::EntraPatch) -> Value {
    Value::Object(
        patch
            .properties
            .iter()
            .map(|(property, value)| ((*property).to_owned(), graph_value(value.clone())))
            .collect(),
    )
}

/// The mapped properties that have a value.
fn present_properties<A>(fields: &[Field<A>], attributes: &A) -> Map<String, Value> {
    fields
        .iter()
        .map(|f| (f.graph.to_owned(), graph_value((f.read)(attributes))))
        .filter(|(_, v)| !v.is_null())
        .collect()
}

/// The body of `POST /users` (GRAPH.md 2.1).
pub fn new_user_body(user: &crate::export::NewEntraUser) -> Value {
    use secrecy::ExposeSecret;
    let mut body = present_properties(USER_FIELDS, &user.attributes);
    body.insert(
        "accountEnabled".into(),
        Value::Bool(user.attributes.enabled),
    );
    body.insert(
        "mailNickname".into(),
        Value::String(user.mail_nickname.clone()),
    );
    if let Some(anchor) = &user.on_premises_immutable_id {
        body.insert(
            "onPremisesImmutableId".into(),
            Value::String(anchor.clone()),
        );
    }
    body.insert(
        "passwordProfile".into(),
        serde_json::json!({"forceChangePasswordNextSignIn": true, "password": user.password.expose_secret()}),
    );
    Value::Object(body)
}

/// The body of `POST /groups`: a security group.
pub fn new_group_body(group: &crate::export::NewEntraGroup) -> Value {
    let mut body = present_properties(GROUP_FIELDS, &group.attributes);
    body.insert("mailEnabled".into(), Value::Bool(false));
    body.insert("securityEnabled".into(), Value::Bool(true));
    body.insert(
        "mailNickname".into(),
        Value::String(group.mail_nickname.clone()),
    );
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_select_names_every_mapped_property() {
        assert_eq!(
            user_select(),
            "id,userPrincipalName,displayName,givenName,surname,mail,mobilePhone,jobTitle,department,accountEnabled"
        );
        assert_eq!(group_select(), "id,displayName,description,members");
    }

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
        assert!(!user.attributes.enabled && user.attributes.email.is_none());
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
