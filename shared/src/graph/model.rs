//! Graph payloads parsed at the edge into the domain's Entra types
//! (`crate::model::entra`; docs/graph.md 1.4-1.7, 4): JSON only.

use serde_json::{Map, Value};

use super::GraphError;
use crate::model::EntraObjectId;
use crate::model::directory::{
    Field, FieldKind, FieldValue, GROUP_FIELDS, GroupAttributes, MAX_USER_NAME_BYTES, USER_FIELDS,
    UserAttributes,
};
use crate::model::entra::{
    Continuation, DeltaItem, DeltaPage, DomainInfo, EntraGroup, EntraUser, GroupDelta,
    MemberChange, MemberKind, UnusableItem,
};

/// The properties requested of users: every property the field table
/// maps, `userType` (guests are the tenant's choice, DESIGN 2.13), and
/// `extra` (what the tenant's mappings and filters read), each once.
pub fn user_select(extra: &[String]) -> String {
    let mut names: Vec<&str> = vec!["userType"];
    for name in extra {
        let known = USER_FIELDS.iter().any(|f| f.graph == name) || name == "id";
        if !known && !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    select(USER_FIELDS, &names)
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

impl UnusableItem {
    fn of(item: &Map<String, Value>, id: EntraObjectId, error: GraphError) -> Self {
        let display = ["userPrincipalName", "displayName"]
            .iter()
            .find_map(|name| item.get(*name).and_then(Value::as_str))
            .filter(|name| !name.is_empty())
            .map(str::to_owned);
        let reason = match error {
            GraphError::Malformed(reason) => reason,
            other => other.to_string(),
        };
        Self {
            id,
            display,
            reason,
            manager_link: item.get("manager@delta").cloned(),
        }
    }
}

/// The id of an item, or `None` (logged) when it has none to name it by:
/// such an item is skipped, as it cannot be fetched again or reported.
fn nameable_id(item: &Map<String, Value>, what: &str) -> Option<EntraObjectId> {
    match id_of(item) {
        Ok(id) => Some(id),
        Err(err) => {
            tracing::warn!(reason = %err, "skipping a {what} Graph sent without a usable id");
            None
        }
    }
}

fn malformed(what: impl Into<String>) -> GraphError {
    GraphError::Malformed(what.into())
}

pub(super) fn string(item: &Map<String, Value>, key: &str) -> Result<Option<String>, GraphError> {
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

fn page_parts(page: Value) -> Result<(Continuation, Vec<Value>), GraphError> {
    let Value::Object(mut page) = page else {
        return Err(malformed("the page has no `value` array"));
    };
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
    match page.remove("value") {
        Some(Value::Array(value)) => Ok((continuation, value)),
        _ => Err(malformed("the page has no `value` array")),
    }
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

/// What a user object says besides its properties: its id, the mapped
/// attributes and whether it is a guest.
fn read_user(
    item: &Map<String, Value>,
) -> Result<(EntraObjectId, UserAttributes, bool), GraphError> {
    let id = id_of(item)?;
    let mut attributes: UserAttributes = attributes(item, USER_FIELDS, &format!("user {id}"))?;
    if attributes.user_name.is_empty() {
        return Err(malformed(format!("user {id} has no userPrincipalName")));
    }
    let guest = item.get("userType").and_then(Value::as_str) == Some("Guest");
    if guest && let Some(mail) = attributes.email.clone() {
        // A guest's UPN (`alias_theirdomain#EXT#@…`) is no name to sign
        // in with: its mail is (Microsoft's advice for B2B users).
        attributes.user_name = mail;
    }
    if attributes.user_name.len() > MAX_USER_NAME_BYTES {
        return Err(malformed(format!(
            "user {id}'s user name has {} bytes; at most {MAX_USER_NAME_BYTES} are allowed",
            attributes.user_name.len()
        )));
    }
    Ok((id, attributes, guest))
}

impl EntraUser {
    /// A user object (a delta item in default mode, or a plain GET): it
    /// carries the whole selected set; an absent property has no value.
    pub fn parse(item: &Map<String, Value>) -> Result<Self, GraphError> {
        Self::from_item(item.clone()).map_err(|(err, _)| err)
    }

    /// As `parse`, keeping the item itself as the user's properties (no
    /// copy: a first import reads every user once); given back on error.
    fn from_item(item: Map<String, Value>) -> Result<Self, (GraphError, Map<String, Value>)> {
        match read_user(&item) {
            Ok((id, attributes, guest)) => Ok(Self {
                id,
                attributes,
                guest,
                properties: std::sync::Arc::new(item),
            }),
            Err(err) => Err((err, item)),
        }
    }
}

pub fn parse_user_page(page: Value) -> Result<DeltaPage<EntraUser>, GraphError> {
    parse_delta_page(page, "user", |item, id, unusable| {
        EntraUser::from_item(item)
            .map_err(|(err, item)| unusable.push(UnusableItem::of(&item, id, err)))
            .ok()
    })
}

/// A delta page: removals (and unreadable removal marks) read the same for
/// every kind; `upsert` reads the rest, noting in `unusable` what it cannot.
fn parse_delta_page<T>(
    page: Value,
    what: &str,
    mut upsert: impl FnMut(Map<String, Value>, EntraObjectId, &mut Vec<UnusableItem>) -> Option<T>,
) -> Result<DeltaPage<T>, GraphError> {
    let (continuation, value) = page_parts(page)?;
    let mut parsed = DeltaPage {
        items: Vec::new(),
        continuation,
        unusable: Vec::new(),
    };
    for item in value {
        let item = match item {
            Value::Object(item) => Ok(item),
            _ => Err(malformed("an item is not an object")),
        };
        let Some((item, id)) = nameable(item, what) else {
            continue;
        };
        match removed(&item) {
            Ok(Some(permanent)) => parsed.items.push(DeltaItem::Removed { id, permanent }),
            Err(err) => parsed.unusable.push(UnusableItem::of(&item, id, err)),
            Ok(None) => {
                if let Some(read) = upsert(item, id, &mut parsed.unusable) {
                    parsed.items.push(DeltaItem::Upsert(read));
                }
            }
        }
    }
    Ok(parsed)
}

/// An item of a page that is an object with an id, else skipped (logged).
fn nameable(
    item: Result<Map<String, Value>, GraphError>,
    what: &str,
) -> Option<(Map<String, Value>, EntraObjectId)> {
    let item = match item {
        Ok(item) => item,
        Err(err) => {
            tracing::warn!(reason = %err, "skipping a {what} item that is not an object");
            return None;
        }
    };
    let id = nameable_id(&item, what)?;
    Some((item, id))
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

pub fn parse_group_page(page: Value) -> Result<DeltaPage<GroupDelta>, GraphError> {
    parse_delta_page(page, "group", |item, id, unusable| {
        // Its membership changes count even when its properties do not
        // read: the group is fetched again, its members are not.
        let members = group_members(&item, &id);
        let group = EntraGroup::parse(&item).unwrap_or_else(|err| {
            unusable.push(UnusableItem::of(&item, id.clone(), err));
            None
        });
        Some(GroupDelta { id, group, members })
    })
}

/// A group item's `members@delta`; an entry without a usable id is skipped.
fn group_members(item: &Map<String, Value>, id: &EntraObjectId) -> Vec<MemberChange> {
    let entries = match item.get("members@delta") {
        None => return Vec::new(),
        Some(Value::Array(entries)) => entries,
        Some(_) => {
            tracing::warn!(group = %id, "skipping a members@delta that is not a list");
            return Vec::new();
        }
    };
    entries
        .iter()
        .filter_map(|m| {
            let Some(m) = m.as_object() else {
                tracing::warn!(group = %id, "skipping a member entry that is not an object");
                return None;
            };
            Some(MemberChange {
                member_id: nameable_id(m, "member")?,
                kind: member_kind(m.get("@odata.type").and_then(Value::as_str)),
                removed: m.contains_key("@removed"),
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_select_names_every_mapped_property() {
        assert_eq!(
            user_select(&[]),
            "id,userPrincipalName,displayName,givenName,surname,mail,mobilePhone,jobTitle,department,accountEnabled,userType"
        );
        assert_eq!(group_select(), "id,displayName,description,members");
    }

    #[test]
    fn a_guest_is_named_by_its_mail_and_a_member_by_its_upn() {
        let item = |value: Value| value.as_object().unwrap().clone();
        let guest = EntraUser::parse(&item(json!({"id": "g1",
            "userPrincipalName": "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "mail": "alice@fabrikam.com", "userType": "Guest"})))
        .unwrap();
        assert!(guest.guest);
        assert_eq!(guest.attributes.user_name, "alice@fabrikam.com");
        let mailless = EntraUser::parse(&item(json!({"id": "g2",
            "userPrincipalName": "bob_x.com#EXT#@contoso.onmicrosoft.com", "userType": "Guest"})))
        .unwrap();
        assert_eq!(
            mailless.attributes.user_name,
            "bob_x.com#EXT#@contoso.onmicrosoft.com"
        );
        let member = EntraUser::parse(&item(json!({"id": "m1",
            "userPrincipalName": "ann@contoso.com", "mail": "ann.other@contoso.com",
            "userType": "Member"})))
        .unwrap();
        assert!(!member.guest);
        assert_eq!(member.attributes.user_name, "ann@contoso.com");
    }

    #[test]
    fn a_user_named_longer_than_an_index_key_allows_is_unusable_and_says_why() {
        let item = |value: Value| value.as_object().unwrap().clone();
        let mail = format!("{}@fabrikam.com", "a".repeat(1_020));
        let error = EntraUser::parse(&item(json!({"id": "g1",
            "userPrincipalName": "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "mail": mail, "userType": "Guest"})))
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("user g1's user name has 1033 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_user_page_with_updates_and_removals_parses() {
        let page = parse_user_page(json!({
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
        let page = parse_group_page(json!({
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
        ];
        for (page, expected) in cases {
            let err = parse_user_page(page.clone()).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} for {page}");
        }
    }

    #[test]
    fn items_that_cannot_be_read_are_set_aside_and_the_rest_of_the_page_is_kept() {
        let page = json!({"@odata.deltaLink": "d", "value": [
            {"displayName": "no id at all"},
            "not an object",
            {"id": "u1", "displayName": "Ann"},
            {"id": "u2", "userPrincipalName": "bob@contoso.com", "accountEnabled": "yes"},
            {"id": "u3", "@removed": {"reason": "moved"}},
            {"id": "u4", "userPrincipalName": "cy@contoso.com"},
        ]});
        let parsed = parse_user_page(page.clone()).unwrap();
        assert_eq!(parsed.items.len(), 1, "{parsed:?}");
        let reasons: Vec<(&str, Option<&str>, &str)> = parsed
            .unusable
            .iter()
            .map(|u| (u.id.as_str(), u.display.as_deref(), u.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert_eq!(reasons[0].0, "u1");
        assert_eq!(reasons[0].1, Some("Ann"));
        assert!(reasons[0].2.contains("userPrincipalName"), "{reasons:?}");
        assert_eq!(reasons[1].1, Some("bob@contoso.com"));
        assert!(reasons[1].2.contains("accountEnabled is not a boolean"));
        assert!(reasons[2].2.contains("reason"));

        let groups = json!({"@odata.deltaLink": "d", "value": [
            {"id": "g1", "displayName": 7, "members@delta": [
                {"@odata.type": "#microsoft.graph.user", "id": "u4"},
                {"@odata.type": "#microsoft.graph.user"},
            ]},
        ]});
        let parsed = parse_group_page(groups.clone()).unwrap();
        let DeltaItem::Upsert(group) = &parsed.items[0] else {
            panic!("{parsed:?}");
        };
        assert!(group.group.is_none());
        assert_eq!(
            group.members.len(),
            1,
            "the member without an id is skipped"
        );
        assert_eq!(parsed.unusable[0].id.as_str(), "g1");
    }
}
