//! Deleted items (docs/graph.md 3.3, 1.5): users and Microsoft 365
//! groups wait 30 days, restorable, before they are purged; security
//! groups never come here. The tenant's side of it; the Graph routes are
//! in `graph_deleted_items`.

use chrono::{DateTime, Duration, Utc};

use super::directory::{ObjectKind, Tenant};

/// How long a deleted user or Microsoft 365 group stays restorable.
pub const RESTORABLE_FOR_DAYS: i64 = 30;

impl Tenant {
    /// A Microsoft 365 group goes to deleted items (delta: `changed`); its
    /// members stay for a restore.
    pub fn soft_delete_group(&mut self, id: &str) {
        if let Some(group) = self.groups.get_mut(id) {
            group.deleted = true;
            group.deleted_at = Some(Utc::now());
            self.record(ObjectKind::Group, id, vec!["@removed".into()], None);
        }
    }

    pub fn restore_group(&mut self, id: &str) {
        if let Some(group) = self.groups.get_mut(id) {
            group.deleted = false;
            group.deleted_at = None;
            self.record(ObjectKind::Group, id, vec!["@restored".into()], None);
        }
    }

    /// A deleted group's permanent delete (delta: `deleted`).
    pub fn purge_group(&mut self, id: &str) {
        self.delete_group(id);
    }

    /// Makes a deleted object look deleted `age` ago (the tests' clock).
    pub fn age_deleted(&mut self, id: &str, age: Duration) {
        let at = Some(Utc::now() - age);
        if let Some(user) = self.users.get_mut(id).filter(|u| u.deleted) {
            user.deleted_at = at;
        } else if let Some(group) = self.groups.get_mut(id).filter(|g| g.deleted) {
            group.deleted_at = at;
        }
    }

    /// Purges what was deleted more than 30 days before `now`.
    pub fn purge_expired(&mut self, now: DateTime<Utc>) {
        let limit = now - Duration::days(RESTORABLE_FOR_DAYS);
        let expired = |at: &Option<DateTime<Utc>>| at.is_some_and(|at| at <= limit);
        let users: Vec<String> = self
            .users
            .values()
            .filter(|u| u.deleted && expired(&u.deleted_at))
            .map(|u| u.id.clone())
            .collect();
        let groups: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.deleted && expired(&g.deleted_at))
            .map(|g| g.id.clone())
            .collect();
        for id in users {
            self.purge_user(&id);
        }
        for id in groups {
            self.purge_group(&id);
        }
    }

    /// When a deleted user or group was deleted, and which it is.
    pub fn deleted_object(&self, id: &str) -> Option<(ObjectKind, DateTime<Utc>)> {
        let at = |at: Option<DateTime<Utc>>| at.unwrap_or_else(Utc::now);
        if let Some(user) = self.users.get(id).filter(|u| u.deleted) {
            return Some((ObjectKind::User, at(user.deleted_at)));
        }
        self.groups
            .get(id)
            .filter(|g| g.deleted)
            .map(|g| (ObjectKind::Group, at(g.deleted_at)))
    }
}
