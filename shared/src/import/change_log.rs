//! The run's change events (docs/behaviour.md 2.14): each object change it
//! applied to the AM directory, old → new, caused by its run. Noted only
//! once the directory write succeeded, written at the end of each page
//! (and of the run) in batches. A full round (a first import above all)
//! sums up the objects it creates and the members it adds in one event per
//! page and kind instead, so that its cost stays bounded; its updates,
//! disables and deletions keep an event each.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::history::RunRef;
use super::records::{DeprovisionMark, DirectoryWrite};
use super::state::{Checkpoint, Mode};
use crate::events::{AttributeChange, ChangeEvent, EventAction, EventCause, attribute_changes};
use crate::model::directory::{GroupItem, MembershipKey, UserItem};
use crate::problems::{Direction, ObjectKind};

/// Events kept for the next write when one fails; beyond, they are dropped
/// (logged): the run does not stop for its history.
const UNSENT_KEPT: usize = 10_000;

/// Applied writes kept for their events at most: beyond, they are written
/// at once (the finish phase has no page end, and a scope change can
/// remove a million memberships in it; memory stays bounded).
const APPLIED_KEPT: usize = 1_000;

/// What the run has applied and not yet written as events.
#[derive(Default)]
pub(super) struct ChangeLog {
    /// Only a sync records (`ChangeLog::recording`): a preview applies
    /// nothing, and keeps nothing here.
    recording: bool,
    round: Mutex<Option<RoundEvents>>,
    before: Mutex<Before>,
    applied: Mutex<Vec<Applied>>,
    /// A full round's additions, tallied: (kind, tally slot).
    summed: Mutex<Vec<(ObjectKind, usize)>>,
    unsent: Mutex<Vec<ChangeEvent>>,
}

/// What the events need of a batch of writes, taken before the directory
/// consumes them: a full round's additions only as tallies, so that a
/// first import copies none of the items it creates.
#[derive(Default)]
pub(super) struct Noted {
    apart: Vec<DirectoryWrite>,
    summed: Vec<(ObjectKind, usize)>,
}

/// The round the events belong to.
#[derive(Clone)]
struct RoundEvents {
    run: RunRef,
    /// A full round: its creates and additions summed up per page.
    full: bool,
}

impl RoundEvents {
    fn cause(&self) -> EventCause {
        EventCause::Run {
            run_id: self.run.run_id.clone(),
            trigger: self.run.trigger.as_str().to_owned(),
        }
    }
}

/// The AM items as they were before the writes planned for them, by AM id.
#[derive(Default)]
struct Before {
    users: HashMap<String, UserItem>,
    groups: HashMap<String, GroupItem>,
}

/// One write the directory took, with the item it changed as it was.
struct Applied {
    at: DateTime<Utc>,
    write: DirectoryWrite,
    before: Prior,
}

enum Prior {
    None,
    User(Box<UserItem>),
    Group(Box<GroupItem>),
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ChangeLog {
    /// The change log of a run that applies its writes (a sync).
    pub(super) fn recording() -> Self {
        Self {
            recording: true,
            ..Self::default()
        }
    }

    /// The round the run works on now (from its checkpoint).
    pub(super) fn follow(&self, checkpoint: &Checkpoint) {
        if !self.recording {
            return;
        }
        if let Some(run) = &checkpoint.run {
            *locked(&self.round) = Some(RoundEvents {
                run: run.clone(),
                full: checkpoint.mode == Mode::Full,
            });
        }
    }

    /// Keeps the items `writes` update or delete, as they are now.
    pub(super) fn remember_users<'u>(
        &self,
        items: impl IntoIterator<Item = &'u UserItem>,
        writes: &[DirectoryWrite],
    ) {
        self.remember(items, writes, |item| &item.user_id, |b| &mut b.users);
    }

    pub(super) fn remember_groups<'g>(
        &self,
        items: impl IntoIterator<Item = &'g GroupItem>,
        writes: &[DirectoryWrite],
    ) {
        self.remember(items, writes, |item| &item.group_id, |b| &mut b.groups);
    }

    fn remember<'i, T: Clone + 'i>(
        &self,
        items: impl IntoIterator<Item = &'i T>,
        writes: &[DirectoryWrite],
        id_of: fn(&T) -> &String,
        kept: fn(&mut Before) -> &mut HashMap<String, T>,
    ) {
        if !self.recording {
            return;
        }
        let written = written_ids(writes);
        let mut before = locked(&self.before);
        for item in items {
            if written.contains(id_of(item).as_str()) {
                kept(&mut before).insert(id_of(item).clone(), item.clone());
            }
        }
    }

    /// What the events will need of `writes` once the directory took them
    /// (none outside a sync).
    pub(super) fn note(&self, writes: &[DirectoryWrite]) -> Option<Noted> {
        if !self.recording {
            return None;
        }
        let full = locked(&self.round).as_ref().is_some_and(|r| r.full);
        let mut noted = Noted::default();
        for write in writes {
            match full && is_addition(write) {
                true => noted.summed.push(tally_slot(write)),
                false => noted.apart.push(write.clone()),
            }
        }
        Some(noted)
    }

    /// Notes writes the directory has just taken.
    pub(super) fn applied(&self, noted: Noted) {
        locked(&self.summed).extend(noted.summed);
        let at = Utc::now();
        let mut before = locked(&self.before);
        let noted = noted.apart.into_iter().map(|write| {
            let prior = match am_id(&write) {
                Some((ObjectKind::User, id)) => {
                    before.users.remove(id).map(Box::new).map(Prior::User)
                }
                Some((_, id)) => before.groups.remove(id).map(Box::new).map(Prior::Group),
                None => None,
            };
            Applied {
                at,
                write,
                before: prior.unwrap_or(Prior::None),
            }
        });
        let noted: Vec<Applied> = noted.collect();
        locked(&self.applied).extend(noted);
    }

    /// The events of what was applied since the last call (and of what
    /// could not be written then): one per change, a full round's
    /// additions summed up per kind (`page`: its number, from 1; `None`:
    /// the run's finish).
    pub(super) fn take_events(&self, page: Option<u32>) -> Vec<ChangeEvent> {
        let applied = std::mem::take(&mut *locked(&self.applied));
        let summed = std::mem::take(&mut *locked(&self.summed));
        let mut events = std::mem::take(&mut *locked(&self.unsent));
        let Some(round) = locked(&self.round).clone() else {
            return events;
        };
        let cause = round.cause();
        events.extend(page_summaries(&summed, page, &cause));
        events.extend(applied.iter().map(|a| event_of(a, &cause)));
        events
    }

    /// Whether so many writes wait for their events that they are written
    /// now rather than at the page's end.
    pub(super) fn too_many_waiting(&self) -> bool {
        locked(&self.applied).len() >= APPLIED_KEPT
    }

    /// The events of the writes applied since the last call, each its own
    /// (a full round's tallies wait for their page's end).
    pub(super) fn take_own_events(&self) -> Vec<ChangeEvent> {
        let applied = std::mem::take(&mut *locked(&self.applied));
        let mut events = std::mem::take(&mut *locked(&self.unsent));
        if let Some(round) = locked(&self.round).clone() {
            let cause = round.cause();
            events.extend(applied.iter().map(|a| event_of(a, &cause)));
        }
        events
    }

    /// Events whose write failed, for the next write.
    pub(super) fn unsent(&self, events: Vec<ChangeEvent>) {
        let mut unsent = locked(&self.unsent);
        let room = UNSENT_KEPT.saturating_sub(unsent.len());
        if events.len() > room {
            tracing::warn!(
                dropped = events.len() - room,
                "change events dropped: they could not be written"
            );
        }
        unsent.extend(events.into_iter().take(room));
    }
}

/// What a full round sums up: the objects it creates, the members it adds.
fn is_addition(write: &DirectoryWrite) -> bool {
    matches!(
        write,
        DirectoryWrite::CreateUser(_)
            | DirectoryWrite::CreateGroup(_)
            | DirectoryWrite::AddMembership(_)
    )
}

fn written_ids(writes: &[DirectoryWrite]) -> std::collections::HashSet<&str> {
    writes.iter().filter_map(am_id).map(|(_, id)| id).collect()
}

/// The kind and AM id of what a write changes (a membership: its group).
fn am_id(write: &DirectoryWrite) -> Option<(ObjectKind, &str)> {
    match write {
        DirectoryWrite::UpdateUser { user_id, .. } | DirectoryWrite::DeleteUser { user_id } => {
            Some((ObjectKind::User, user_id))
        }
        DirectoryWrite::UpdateGroup { group_id, .. } | DirectoryWrite::DeleteGroup { group_id } => {
            Some((ObjectKind::Group, group_id))
        }
        _ => None,
    }
}

fn new_event(at: DateTime<Utc>, cause: &EventCause) -> ChangeEvent {
    ChangeEvent {
        at,
        id: ChangeEvent::new_id(),
        direction: Direction::Import,
        object_kind: ObjectKind::User,
        object_id: String::new(),
        display: String::new(),
        action: EventAction::Update,
        modified: Vec::new(),
        cause: cause.clone(),
    }
}

/// The event of one applied write. Its object is named by its Entra id
/// (an imported object's AM id is its Entra id; a linked one's is kept in
/// its item); a membership is an event of its group.
fn event_of(applied: &Applied, cause: &EventCause) -> ChangeEvent {
    let event = new_event(applied.at, cause);
    let before_user = match &applied.before {
        Prior::User(user) => Some(user.as_ref()),
        _ => None,
    };
    let before_group = match &applied.before {
        Prior::Group(group) => Some(group.as_ref()),
        _ => None,
    };
    match &applied.write {
        DirectoryWrite::CreateUser(item) => ChangeEvent {
            object_id: item.user_id.clone(),
            display: item.attributes.user_name.clone(),
            action: EventAction::Create,
            modified: attribute_changes(None, Some(&item.attributes)),
            ..event
        },
        DirectoryWrite::UpdateUser { .. } => user_update(event, &applied.write, before_user),
        DirectoryWrite::DeleteUser { user_id } => ChangeEvent {
            object_id: entra_id_of(user_id, None, before_user.map(|u| &u.sync)),
            display: before_user.map_or(user_id.clone(), |u| u.attributes.user_name.clone()),
            action: EventAction::Delete,
            modified: attribute_changes(before_user.map(|u| &u.attributes), None),
            ..event
        },
        DirectoryWrite::CreateGroup(_)
        | DirectoryWrite::UpdateGroup { .. }
        | DirectoryWrite::DeleteGroup { .. } => group_event(event, &applied.write, before_group),
        DirectoryWrite::AddMembership(key) => membership_event(event, key, true),
        DirectoryWrite::RemoveMembership(key) => membership_event(event, key, false),
    }
}

fn group_event(
    event: ChangeEvent,
    write: &DirectoryWrite,
    before: Option<&GroupItem>,
) -> ChangeEvent {
    let event = ChangeEvent {
        object_kind: ObjectKind::Group,
        ..event
    };
    match write {
        DirectoryWrite::CreateGroup(item) => ChangeEvent {
            object_id: item.group_id.clone(),
            display: item.attributes.name.clone(),
            action: EventAction::Create,
            modified: attribute_changes(None, Some(&item.attributes)),
            ..event
        },
        DirectoryWrite::UpdateGroup {
            group_id,
            entra_link,
            attributes,
            ..
        } => ChangeEvent {
            object_id: entra_id_of(group_id, entra_link.as_ref(), before.map(|g| &g.sync)),
            display: attributes.name.clone(),
            modified: attribute_changes(before.map(|g| &g.attributes), Some(attributes)),
            ..event
        },
        DirectoryWrite::DeleteGroup { group_id } => ChangeEvent {
            object_id: entra_id_of(group_id, None, before.map(|g| &g.sync)),
            display: before.map_or(group_id.clone(), |g| g.attributes.name.clone()),
            action: EventAction::Delete,
            modified: attribute_changes(before.map(|g| &g.attributes), None),
            ..event
        },
        _ => event,
    }
}

/// A membership is an event of its group: `member` none → the user's AM
/// id (added) or back.
fn membership_event(event: ChangeEvent, key: &MembershipKey, added: bool) -> ChangeEvent {
    let member = json!(key.user_id);
    let (old, new, action) = match added {
        true => (Value::Null, member, EventAction::AddMember),
        false => (member, Value::Null, EventAction::RemoveMember),
    };
    ChangeEvent {
        object_kind: ObjectKind::Group,
        object_id: key.group_id.clone(),
        display: key.group_id.clone(),
        action,
        modified: vec![AttributeChange {
            attribute: "member".into(),
            old,
            new,
        }],
        ..event
    }
}

fn entra_id_of(
    am_id: &str,
    link: Option<&String>,
    sync: Option<&crate::model::directory::EntraSync>,
) -> String {
    link.or(sync.and_then(|s| s.entra_id.as_ref()))
        .map_or_else(|| am_id.to_owned(), String::clone)
}

/// A user's update: its attributes, password mode and deprovisioning mark
/// old → new; a disable, enable or restore named as such.
fn user_update(
    event: ChangeEvent,
    write: &DirectoryWrite,
    before: Option<&UserItem>,
) -> ChangeEvent {
    let DirectoryWrite::UpdateUser {
        user_id,
        entra_link,
        attributes,
        password_mode,
        deprovision,
        ..
    } = write
    else {
        return event;
    };
    let mut modified = attribute_changes(before.map(|u| &u.attributes), Some(attributes));
    let old_mode = before.and_then(|u| u.password_mode);
    if let Some(mode) = password_mode.filter(|m| Some(*m) != old_mode) {
        modified.push(AttributeChange {
            attribute: "password_mode".into(),
            old: json!(old_mode.map(|m| m.as_str())),
            new: json!(mode.as_str()),
        });
    }
    let old_reason = before.and_then(|u| u.sync.deprovisioned_reason.clone());
    let new_reason = match deprovision {
        DeprovisionMark::Unchanged => old_reason.clone(),
        DeprovisionMark::Clear => None,
        DeprovisionMark::Set { cause, .. } => Some(cause.as_str().to_owned()),
    };
    if new_reason != old_reason {
        modified.push(AttributeChange {
            attribute: "sync_deprovisioned_reason".into(),
            old: json!(old_reason),
            new: json!(new_reason),
        });
    }
    let was_enabled = before.map(|u| u.attributes.enabled);
    let action = match (deprovision, was_enabled, attributes.enabled) {
        (DeprovisionMark::Clear, ..) => EventAction::Restore,
        (DeprovisionMark::Set { .. }, _, false) | (_, Some(true), false) => EventAction::Disable,
        (_, Some(false), true) => EventAction::Enable,
        _ => EventAction::Update,
    };
    ChangeEvent {
        object_id: entra_id_of(user_id, entra_link.as_ref(), before.map(|u| &u.sync)),
        display: attributes.user_name.clone(),
        action,
        modified,
        ..event
    }
}

/// A full round's additions in one event per kind: "Page 12: 1,000 users
/// created".
fn page_summaries(
    summed: &[(ObjectKind, usize)],
    page: Option<u32>,
    cause: &EventCause,
) -> Vec<ChangeEvent> {
    if summed.is_empty() {
        return Vec::new();
    }
    let at = Utc::now();
    let mut tallies: Vec<(ObjectKind, [u64; 8])> = Vec::new();
    for &(kind, slot) in summed {
        match tallies.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, counts)) => counts[slot] += 1,
            None => {
                let mut counts = [0; 8];
                counts[slot] = 1;
                tallies.push((kind, counts));
            }
        }
    }
    let (object_id, heading) = match page {
        Some(n) => (format!("page:{n}"), format!("Page {n}")),
        None => ("page:finish".to_owned(), "The import's finish".to_owned()),
    };
    tallies
        .into_iter()
        .map(|(kind, counts)| ChangeEvent {
            object_kind: kind,
            object_id: object_id.clone(),
            display: format!("{heading}: {}", summary_text(&counts)),
            action: EventAction::Create,
            ..new_event(at, cause)
        })
        .collect()
}

/// Each tally's object (one, several) and what happened to them.
const TALLY_NAMES: [(&str, &str, &str); 8] = [
    ("user", "users", "created"),
    ("user", "users", "updated"),
    ("user", "users", "deleted"),
    ("group", "groups", "created"),
    ("group", "groups", "updated"),
    ("group", "groups", "deleted"),
    ("member", "members", "added"),
    ("member", "members", "removed"),
];

fn tally_slot(write: &DirectoryWrite) -> (ObjectKind, usize) {
    match write {
        DirectoryWrite::CreateUser(_) => (ObjectKind::User, 0),
        DirectoryWrite::UpdateUser { .. } => (ObjectKind::User, 1),
        DirectoryWrite::DeleteUser { .. } => (ObjectKind::User, 2),
        DirectoryWrite::CreateGroup(_) => (ObjectKind::Group, 3),
        DirectoryWrite::UpdateGroup { .. } => (ObjectKind::Group, 4),
        DirectoryWrite::DeleteGroup { .. } => (ObjectKind::Group, 5),
        DirectoryWrite::AddMembership(_) => (ObjectKind::Group, 6),
        DirectoryWrite::RemoveMembership(_) => (ObjectKind::Group, 7),
    }
}

fn summary_text(counts: &[u64; 8]) -> String {
    let parts: Vec<String> = counts
        .iter()
        .zip(TALLY_NAMES)
        .filter(|(count, _)| **count > 0)
        .map(|(count, (one, several, what))| {
            let noun = if *count == 1 { one } else { several };
            format!("{} {noun} {what}", thousands(*count))
        })
        .collect();
    parts.join(", ")
}

/// 1000 as "1,000".
fn thousands(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

impl<
    D: super::DirectoryStore,
    S: super::ImportState,
    P: crate::problems::ProblemStore,
    C: crate::ports::TenantConfigs,
    E: super::EntraDirectory,
> super::ImportRun<'_, D, S, P, C, E>
{
    /// Writes the events of what was applied since the last call: at the
    /// end of a page (`page`, from 1) and of the run. Best effort: a
    /// failure keeps them for the next call; the run goes on.
    pub(super) async fn write_changes(&self, page: Option<u32>) {
        self.write_events(self.changes.take_events(page)).await;
    }

    /// Writes the events waiting when too many wait (`ChangeLog::too_many_waiting`).
    pub(super) async fn write_changes_if_many(&self) {
        if self.changes.too_many_waiting() {
            self.write_events(self.changes.take_own_events()).await;
        }
    }

    async fn write_events(&self, events: Vec<ChangeEvent>) {
        if events.is_empty() {
            return;
        }
        if let Err(err) = self.state.record_events(self.tenant(), &events).await {
            tracing::warn!(error = %err, events = events.len(), "could not write the run's change events; kept for the next page");
            self.changes.unsent(events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::history::Trigger;

    #[test]
    fn given_many_writes_waiting_then_their_own_events_go_at_once_and_the_tallies_wait_for_the_page()
     {
        let log = ChangeLog::recording();
        *locked(&log.round) = Some(RoundEvents {
            run: RunRef {
                run_id: "r1".into(),
                started_at: Utc::now(),
                trigger: Trigger::Schedule,
            },
            full: true,
        });
        let mut writes: Vec<DirectoryWrite> = (0..APPLIED_KEPT)
            .map(|n| DirectoryWrite::DeleteUser {
                user_id: format!("u{n}"),
            })
            .collect();
        writes.extend((0..5).map(|n| {
            DirectoryWrite::AddMembership(MembershipKey {
                group_id: "g".into(),
                user_id: format!("m{n}"),
            })
        }));
        assert!(!log.too_many_waiting());

        log.applied(log.note(&writes).expect("a sync records"));

        assert!(log.too_many_waiting());
        let own = log.take_own_events();
        assert_eq!(own.len(), APPLIED_KEPT);
        assert!(own.iter().all(|e| e.action == EventAction::Delete));
        assert!(!log.too_many_waiting());
        let page = log.take_events(Some(1));
        assert_eq!(page.len(), 1, "the additions summed up: {page:?}");
        assert_eq!(page[0].object_id, "page:1");
    }

    #[test]
    fn given_a_preview_then_nothing_is_noted() {
        let log = ChangeLog::default();
        let writes = vec![DirectoryWrite::DeleteUser {
            user_id: "u1".into(),
        }];
        assert!(log.note(&writes).is_none());
    }
}
