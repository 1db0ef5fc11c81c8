//! The emulated Entra ID's page: its users and groups, changed by hand.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Console, Fields, esc, page};
use crate::emulator::User;
use crate::stack::CONTOSO;

pub(super) async fn entra_page(State(console): State<Console>) -> Response {
    let (users, groups) = console.stack.emulator.with_tenant(CONTOSO, |t| {
        let mut users: Vec<User> = t.users.values().filter(|u| !u.deleted).cloned().collect();
        users.sort_by(|a, b| a.user_principal_name.cmp(&b.user_principal_name));
        let mut groups: Vec<(String, String, usize)> = t
            .groups
            .values()
            .map(|g| (g.id.clone(), g.display_name.clone(), g.members.len()))
            .collect();
        groups.sort_by(|a, b| a.1.cmp(&b.1));
        (users, groups)
    });
    let rows: String = users.iter().map(entra_user_row).collect();
    let options: String = users
        .iter()
        .map(|u| {
            format!(
                r#"<option value="{}">{}</option>"#,
                esc(&u.id),
                esc(&u.user_principal_name)
            )
        })
        .collect();
    let group_rows: String = groups
        .iter()
        .map(|(id, name, members)| {
            format!(
                r#"<tr><td>{name}</td><td>{members}</td><td><form method="post" action="/entra/groups/{id}/members">
<select name="user_id">{options}</select> <button name="action" value="add">Add member</button>
<button name="action" value="remove">Remove member</button></form></td></tr>"#,
                name = esc(name),
                id = esc(id),
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Emulated Entra ID <small>(Contoso)</small></h1><p><a id="console_link" href="/">Back to the console</a></p>
<h2>Users ({n})</h2><table id="entra_users"><tr><th>UPN</th><th>display name / job title</th><th>enabled</th><th></th></tr>{rows}</table>
<form method="post" action="/entra/users">Add a user: <input id="new_upn" name="upn" placeholder="name@contoso.com">
<input id="new_display_name" name="display_name" placeholder="Display name"> <button id="add_entra_user">Add</button></form>
<h2>Groups</h2><table id="entra_groups"><tr><th>name</th><th>members</th><th></th></tr>{group_rows}</table>"#,
        n = users.len(),
    );
    page("Emulated Entra ID", &body).into_response()
}

fn entra_user_row(user: &User) -> String {
    let id = esc(&user.id);
    let checked = if user.account_enabled { " checked" } else { "" };
    format!(
        r#"<tr><td>{upn}</td><td><form method="post" action="/entra/users/{id}" id="edit-{id}">
<input name="display_name" value="{display}"> <input name="job_title" value="{job}">
<label><input type="checkbox" name="enabled"{checked}> enabled</label> <button>Save</button></form></td>
<td>{enabled}</td><td><form method="post" action="/entra/users/{id}/delete"><button>Delete</button></form></td></tr>"#,
        upn = esc(&user.user_principal_name),
        display = esc(user.display_name.as_deref().unwrap_or("")),
        job = esc(user.job_title.as_deref().unwrap_or("")),
        enabled = user.account_enabled,
    )
}

fn to_entra() -> Response {
    Redirect::to("/entra").into_response()
}

fn refused(why: &str) -> Response {
    let body = format!(
        r#"<p id="refused">{}</p><p><a href="/entra">Back</a></p>"#,
        esc(why)
    );
    (StatusCode::BAD_REQUEST, page("Refused", &body)).into_response()
}

/// A user of the emulated Contoso that is there (not deleted).
fn known_user(tenant: &crate::emulator::Tenant, id: &str) -> bool {
    tenant.users.get(id).is_some_and(|u| !u.deleted)
}

/// A new user, refused as Graph refuses one: a UPN already taken, a domain
/// the tenant does not have, no display name.
pub(super) async fn add_entra_user(
    State(console): State<Console>,
    Form(form): Form<Fields>,
) -> Response {
    let upn = form
        .get("upn")
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let display_name = form.get("display_name").map(|v| v.trim().to_owned());
    let Some(display_name) = display_name.filter(|v| !v.is_empty()) else {
        return refused("a display name is required");
    };
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        user_principal_name: upn.clone(),
        display_name: Some(display_name),
        account_enabled: true,
        ..User::default()
    };
    let added = console.stack.emulator.with_tenant(CONTOSO, |t| {
        if t.domain_of(&upn).is_none() {
            return Err(format!("{upn}: not a UPN of one of the tenant's domains"));
        }
        let taken = t
            .users
            .values()
            .any(|u| u.user_principal_name.eq_ignore_ascii_case(&upn));
        if taken {
            return Err(format!("{upn} is already taken"));
        }
        t.upsert_user(user);
        Ok(())
    });
    match added {
        Ok(()) => {
            console.activity.note("entra", &format!("user {upn} added"));
            to_entra()
        }
        Err(why) => refused(&why),
    }
}

pub(super) async fn edit_entra_user(
    State(console): State<Console>,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    let text = |name: &str| {
        form.get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let edited = console.stack.emulator.with_tenant(CONTOSO, |t| {
        // `update_user` insists on a user that exists.
        let known = known_user(t, &id);
        if known {
            t.update_user(&id, |u| {
                u.display_name = text("display_name").or(u.display_name.take());
                u.job_title = text("job_title");
                u.account_enabled = form.contains_key("enabled");
            });
        }
        known
    });
    if !edited {
        return refused("no such user");
    }
    console.activity.note("entra", "a user edited");
    to_entra()
}

pub(super) async fn delete_entra_user(
    State(console): State<Console>,
    Path(id): Path<String>,
) -> Response {
    let deleted = console.stack.emulator.with_tenant(CONTOSO, |t| {
        let known = known_user(t, &id);
        if known {
            t.soft_delete_user(&id);
        }
        known
    });
    if !deleted {
        return refused("no such user");
    }
    console.activity.note("entra", "a user deleted");
    to_entra()
}

pub(super) async fn change_membership(
    State(console): State<Console>,
    Path(group): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    let user = form.get("user_id").cloned().unwrap_or_default();
    let add = form.get("action").map(String::as_str) == Some("add");
    let changed = console.stack.emulator.with_tenant(CONTOSO, |t| {
        if !known_user(t, &user) {
            false
        } else if add {
            t.add_member(&group, &user)
        } else {
            t.remove_member(&group, &user)
        }
    });
    let what = if add { "added to" } else { "removed from" };
    if changed {
        console
            .activity
            .note("entra", &format!("a user {what} a group"));
    }
    to_entra()
}
