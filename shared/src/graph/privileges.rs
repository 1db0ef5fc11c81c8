//! What makes an Entra user an administrator, read from Graph's answers
//! (docs/graph.md 3.8): a directory role it holds (directly or through a
//! role-assignable group: `transitiveMemberOf` lists both), a membership of
//! a role-assignable group (it grants whatever role the group has or may be
//! given), a role assigned to it at any scope, built-in or custom
//! (`roleAssignments`: an administrative unit's administrators and custom
//! roles show nowhere else), or a role it is eligible for through PIM
//! (`roleEligibilityScheduleInstances`).

use serde_json::{Map, Value};

use super::GraphError;

const DIRECTORY_ROLE: &str = "#microsoft.graph.directoryRole";
const GROUP: &str = "#microsoft.graph.group";

/// Graph's error code for a PIM call on a tenant without Entra ID P2 (or
/// Governance): such a tenant has no eligible assignments at all.
pub const PIM_NOT_LICENSED: &str = "AadPremiumLicenseRequired";

/// The privileges a page names, and the next page's link.
pub type PrivilegePage = (Vec<String>, Option<String>);

fn malformed(what: &str) -> GraphError {
    GraphError::Malformed(what.to_owned())
}

fn entries<'a>(page: &'a Value, what: &str) -> Result<Vec<&'a Map<String, Value>>, GraphError> {
    page.get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(&format!("the {what} page has no `value` array")))?
        .iter()
        // An entry that cannot be read could be a role: refuse the page.
        .map(|v| {
            v.as_object()
                .ok_or_else(|| malformed(&format!("a {what} entry is not an object")))
        })
        .collect()
}

fn next_link(page: &Value) -> Option<String> {
    page.get("@odata.nextLink")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn name_of(entry: &Map<String, Value>) -> String {
    entry
        .get("displayName")
        .and_then(Value::as_str)
        .or_else(|| entry.get("id").and_then(Value::as_str))
        .unwrap_or("(unnamed)")
        .to_owned()
}

/// The privileges in a page of `transitiveMemberOf`
/// (`$select=id,displayName,isAssignableToRole`), and the next page's link.
pub fn parse_memberships(page: &Value) -> Result<PrivilegePage, GraphError> {
    let mut found = Vec::new();
    for entry in entries(page, "transitiveMemberOf")? {
        match entry.get("@odata.type").and_then(Value::as_str) {
            Some(DIRECTORY_ROLE) => found.push(name_of(entry)),
            Some(GROUP) if entry.get("isAssignableToRole") == Some(&Value::Bool(true)) => {
                found.push(format!("the role-assignable group {}", name_of(entry)))
            }
            _ => {}
        }
    }
    Ok((found, next_link(page)))
}

/// The roles in a page of `roleEligibilityScheduleInstances`, and the next
/// page's link.
pub fn parse_eligibilities(page: &Value) -> Result<PrivilegePage, GraphError> {
    let found = entries(page, "roleEligibilityScheduleInstances")?
        .into_iter()
        .map(|e| {
            let role = e
                .get("roleDefinitionId")
                .and_then(Value::as_str)
                .unwrap_or("(unknown)");
            format!("eligibility (PIM) for the role {role}")
        })
        .collect();
    Ok((found, next_link(page)))
}

/// The roles in a page of `roleAssignments` filtered on the user, and
/// the next page's link.
pub fn parse_assignments(page: &Value) -> Result<PrivilegePage, GraphError> {
    let found = entries(page, "roleAssignments")?
        .into_iter()
        .map(|e| {
            let text = |name: &str| e.get(name).and_then(Value::as_str).unwrap_or("(unknown)");
            format!(
                "the role {} assigned at {}",
                text("roleDefinitionId"),
                text("directoryScopeId")
            )
        })
        .collect();
    Ok((found, next_link(page)))
}

/// The display name of a group read with `$select=id,displayName,isAssignableToRole`
/// when it is role-assignable.
pub fn role_assignable_group(group: &Value) -> Result<Option<String>, GraphError> {
    let group = group
        .as_object()
        .ok_or_else(|| malformed("a group is not a JSON object"))?;
    match group.get("isAssignableToRole") {
        Some(Value::Bool(true)) => Ok(Some(name_of(group))),
        Some(Value::Bool(false)) | Some(Value::Null) | None => Ok(None),
        Some(_) => Err(malformed("`isAssignableToRole` is not a boolean")),
    }
}

/// `principalId eq '<id>'`, the id quoted as an OData string literal (a
/// quote doubled), so that an id read from the AM table cannot widen the
/// filter.
pub fn principal_filter(principal_id: &str) -> String {
    format!("principalId eq '{}'", principal_id.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_and_role_assignable_groups_are_privileges_and_other_groups_are_not() {
        let page = json!({
            "@odata.nextLink": "https://graph/v1.0/users/u1/transitiveMemberOf?$skiptoken=x",
            "value": [
                {"@odata.type": "#microsoft.graph.group", "id": "g1", "displayName": "Staff", "isAssignableToRole": false},
                {"@odata.type": "#microsoft.graph.group", "id": "g2", "displayName": "Helpdesk admins", "isAssignableToRole": true},
                {"@odata.type": "#microsoft.graph.directoryRole", "id": "r1", "displayName": "Global Administrator"},
                {"@odata.type": "#microsoft.graph.administrativeUnit", "id": "a1"},
            ]
        });
        let (found, next) = parse_memberships(&page).unwrap();
        assert_eq!(
            found,
            vec![
                "the role-assignable group Helpdesk admins".to_owned(),
                "Global Administrator".to_owned()
            ]
        );
        assert!(next.unwrap().ends_with("skiptoken=x"));
        let (found, next) = parse_memberships(&json!({"value": [
            {"@odata.type": "#microsoft.graph.group", "id": "g1"}
        ]}))
        .unwrap();
        assert!(found.is_empty() && next.is_none());
    }

    #[test]
    fn an_unreadable_entry_fails_the_page_rather_than_passing_as_no_role() {
        assert!(parse_memberships(&json!({"value": ["r1"]})).is_err());
        assert!(parse_memberships(&json!({})).is_err());
        assert!(parse_eligibilities(&json!({"value": [1]})).is_err());
    }

    #[test]
    fn assignments_at_any_scope_are_privileges() {
        let (found, next) = parse_assignments(&json!({"value": [
            {"id": "a1", "principalId": "u1", "roleDefinitionId": "fe930be7-5e62-47db-91af-98c3a49a38b1",
             "directoryScopeId": "/administrativeUnits/au-1"}
        ]}))
        .unwrap();
        assert_eq!(
            found,
            vec![
                "the role fe930be7-5e62-47db-91af-98c3a49a38b1 assigned at /administrativeUnits/au-1"
            ]
        );
        assert!(next.is_none());
        assert!(parse_assignments(&json!({"value": [null]})).is_err());
    }

    #[test]
    fn eligibilities_name_their_role() {
        let (found, next) = parse_eligibilities(&json!({"value": [
            {"id": "e1", "principalId": "u1", "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10"}
        ]}))
        .unwrap();
        assert_eq!(
            found,
            vec!["eligibility (PIM) for the role 62e90394-69f5-4237-9190-012177145e10".to_owned()]
        );
        assert!(next.is_none());
    }

    #[test]
    fn a_group_is_role_assignable_only_when_graph_says_true() {
        let group = json!({"id": "g", "displayName": "Admins", "isAssignableToRole": true});
        assert_eq!(
            role_assignable_group(&group).unwrap().as_deref(),
            Some("Admins")
        );
        assert_eq!(role_assignable_group(&json!({"id": "g"})).unwrap(), None);
        assert!(role_assignable_group(&json!({"id": "g", "isAssignableToRole": "yes"})).is_err());
    }

    #[test]
    fn a_quote_in_the_principal_id_stays_inside_the_literal() {
        assert_eq!(principal_filter("u1"), "principalId eq 'u1'");
        assert_eq!(
            principal_filter("x' or principalId ne '"),
            "principalId eq 'x'' or principalId ne '''"
        );
    }
}
