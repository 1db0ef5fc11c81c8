//! The simulated world of one tenant: Entra ID (the model), the AM
//! directory and the import's state (the in-memory stores behind fault
//! injection), the tenant's config, a simulated clock, and the random
//! changes each side makes.

use std::sync::Mutex;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::entra::{self, EntraModel, Life};
use super::faults::Faults;
use super::rng::{Rng, SharedRng};
use crate::model::TenantConfig;
use crate::model::directory::{EntraSync, PasswordMode, Source, UserAttributes, UserItem};
use crate::model::entra::MemberKind;
use crate::testing::import_stores::{MemoryDirectory, MemoryState};
use crate::testing::tenant_config::importing;

/// The tenant's scope settings, as the admin last saved them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSettings {
    pub domains: Vec<String>,
    pub import_group_ids: Vec<String>,
    pub resync_requested: Option<u64>,
    /// The deprovisioning choices at their defaults (DESIGN 2.13: a soft
    /// delete or leaving the scope disables); otherwise deletes, as the
    /// simulation began with.
    pub deprovision_defaults: bool,
}

impl ScopeSettings {
    pub fn config(&self) -> TenantConfig {
        let domains: Vec<&str> = self.domains.iter().map(String::as_str).collect();
        let groups: Vec<&str> = self.import_group_ids.iter().map(String::as_str).collect();
        let mut config = importing().domains(&domains).import_group_ids(&groups);
        if self.deprovision_defaults {
            config = config.deprovisioning(&[]);
        }
        if let Some(n) = self.resync_requested {
            let at = Utc.timestamp_opt(1_700_000_000 + n as i64, 0).unwrap();
            config = config.resync_requested_at(&at.to_rfc3339());
        }
        config.build()
    }
}

pub struct World {
    pub rng: SharedRng,
    pub faults: Mutex<Faults>,
    pub entra: Mutex<EntraModel>,
    pub directory: MemoryDirectory,
    pub state: MemoryState,
    pub settings: Mutex<ScopeSettings>,
    pub clock: Mutex<DateTime<Utc>>,
    /// Platform and config changes, for the seed's trace.
    pub notes: Mutex<Vec<String>>,
    next_platform_user: Mutex<u64>,
}

impl World {
    pub fn new(seed: u64, only_faults: Option<&str>) -> Self {
        let mut rng = Rng::new(seed);
        let faults = Faults::draw(&mut rng, only_faults);
        Self {
            rng: std::sync::Arc::new(Mutex::new(rng)),
            faults: Mutex::new(faults),
            entra: Mutex::default(),
            directory: MemoryDirectory::default(),
            state: MemoryState::default(),
            // Odd seeds run under the default choices (no draw: the
            // seeds' traces stay as they were).
            settings: Mutex::new(ScopeSettings {
                deprovision_defaults: seed % 2 == 1,
                ..ScopeSettings::default()
            }),
            clock: Mutex::new(Utc.timestamp_opt(1_750_000_000, 0).unwrap()),
            notes: Mutex::default(),
            next_platform_user: Mutex::new(0),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.clock.lock().unwrap()
    }

    pub fn advance(&self, seconds: i64) {
        *self.clock.lock().unwrap() += Duration::seconds(seconds);
    }

    pub fn roll(&self, n: u64) -> u64 {
        self.rng.lock().unwrap().below(n)
    }

    pub fn chance(&self, percent: u64) -> bool {
        self.rng.lock().unwrap().chance(percent)
    }

    /// A first directory: a few users and groups, some nested.
    pub fn seed_entra(&self) {
        let users = 2 + self.roll(4);
        let groups = 1 + self.roll(3);
        for _ in 0..users {
            entra_change(
                &mut self.entra.lock().unwrap(),
                &mut self.rng.lock().unwrap(),
                0,
            );
        }
        for _ in 0..groups {
            entra_change(
                &mut self.entra.lock().unwrap(),
                &mut self.rng.lock().unwrap(),
                4,
            );
        }
        for _ in 0..users + groups {
            entra_change(
                &mut self.entra.lock().unwrap(),
                &mut self.rng.lock().unwrap(),
                8,
            );
        }
    }

    pub fn entra_changes(&self, n: u64) {
        let mut model = self.entra.lock().unwrap();
        let mut rng = self.rng.lock().unwrap();
        for _ in 0..n {
            let kind = rng.below(CHANGE_KINDS);
            entra_change(&mut model, &mut rng, kind);
        }
    }

    /// The platform creates a user (its name may be an Entra UPN in
    /// another case, of a user not imported) or deletes one it created.
    pub fn platform_change(&self) {
        let mut users = self.directory.users.lock().unwrap();
        let mut rng = self.rng.lock().unwrap();
        let local: Vec<String> = users
            .values()
            .filter(|u| u.source == Source::Local)
            .map(|u| u.user_id.clone())
            .collect();
        if !local.is_empty() && rng.chance(40) {
            let id = rng.pick(&local).clone();
            users.remove(&id);
            self.note(format!("platform deletes {id}"));
            return;
        }
        let mut next = self.next_platform_user.lock().unwrap();
        *next += 1;
        let user_id = format!("p-{}", *next);
        let user_name = entra::random_upn(&mut rng);
        // The platform's user names are its logins: it never takes one its
        // directory holds already (an imported user's UPN included).
        if users
            .values()
            .any(|u| u.attributes.user_name.eq_ignore_ascii_case(&user_name))
        {
            return;
        }
        self.note(format!("platform creates {user_id} {user_name}"));
        users.insert(
            user_id.clone(),
            UserItem {
                user_id,
                attributes: UserAttributes {
                    user_name,
                    display_name: Some("Platform user".into()),
                    ..Default::default()
                },
                source: Source::Local,
                password_mode: Some(PasswordMode::Temporary),
                sync: EntraSync::default(),
            },
        );
    }

    /// The admin changes the domains, the import groups, or asks for a
    /// resync.
    pub fn config_change(&self) {
        let groups = self.entra.lock().unwrap().live_groups();
        let mut rng = self.rng.lock().unwrap();
        let mut settings = self.settings.lock().unwrap();
        match rng.below(3) {
            0 => {
                settings.domains = match rng.below(3) {
                    0 => Vec::new(),
                    1 => vec![entra::DOMAINS[0].into()],
                    _ => vec![entra::DOMAINS[0].into(), entra::DOMAINS[1].into()],
                };
            }
            1 => {
                settings.import_group_ids = if groups.is_empty() || rng.chance(50) {
                    Vec::new()
                } else {
                    vec![rng.pick(&groups).clone()]
                };
            }
            _ => settings.resync_requested = Some(rng.below(1_000_000)),
        }
        self.note(format!("config {settings:?}"));
    }

    fn note(&self, note: String) {
        self.notes.lock().unwrap().push(format!("  {note}"));
    }

    /// The changes since the last call, for the trace.
    pub fn take_notes(&self) -> Vec<String> {
        let mut notes = std::mem::take(&mut *self.notes.lock().unwrap());
        notes.append(&mut self.entra.lock().unwrap().changes);
        notes
    }
}

const CHANGE_KINDS: u64 = 12;

/// One random change in Entra ID, of the given kind (`0..CHANGE_KINDS`);
/// a kind with nothing to act on does nothing.
pub fn entra_change(model: &mut EntraModel, rng: &mut Rng, kind: u64) {
    let groups = model.live_groups();
    match kind {
        0..=3 | 7 | 10 => user_change(model, rng, kind),
        4 => {
            let n = rng.below(100);
            model.create_group(format!("Group {n}"));
        }
        5 if !groups.is_empty() => {
            let id = rng.pick(&groups).clone();
            let n = rng.below(100);
            model.update_group(&id, |a| a.name = format!("Group {n}"));
        }
        6 if !groups.is_empty() && rng.chance(50) => {
            let id = rng.pick(&groups).clone();
            model.delete_group(&id);
        }
        8 | 9 if !groups.is_empty() => {
            let active = model.active_users();
            membership_change(model, rng, &groups, &active)
        }
        _ => {}
    }
}

/// Creates, edits, renames, deletes (soft or for good) or restores a user.
fn user_change(model: &mut EntraModel, rng: &mut Rng, kind: u64) {
    let active = model.active_users();
    let soft_deleted: Vec<String> = model
        .users
        .iter()
        .filter(|(_, u)| u.life == Life::SoftDeleted)
        .map(|(id, _)| id.clone())
        .collect();
    let upn = entra::random_upn(rng);
    match kind {
        0 | 1 if !model.upn_taken(&upn) => {
            let n = rng.below(100);
            model.create_user(UserAttributes {
                user_name: upn,
                display_name: Some(format!("User {n}")),
                ..Default::default()
            });
        }
        2 if !active.is_empty() => {
            let id = rng.pick(&active).clone();
            let title = rng.chance(70).then(|| format!("Title {}", rng.below(5)));
            let enabled = !rng.chance(20);
            model.update_user(&id, |a| {
                a.job_title = title;
                a.enabled = enabled;
            });
        }
        3 if !active.is_empty() && !model.upn_taken(&upn) => {
            let id = rng.pick(&active).clone();
            model.update_user(&id, |a| a.user_name = upn);
        }
        7 if !active.is_empty() => {
            let id = rng.pick(&active).clone();
            let life = if rng.chance(70) {
                Life::SoftDeleted
            } else {
                Life::Purged
            };
            model.set_user_life(&id, life);
        }
        10 if !soft_deleted.is_empty() => {
            let id = rng.pick(&soft_deleted).clone();
            let life = if rng.chance(70) {
                Life::Active
            } else {
                Life::Purged
            };
            model.set_user_life(&id, life);
        }
        _ => {}
    }
}

/// Adds or removes a user or a nested group (never a cycle).
fn membership_change(model: &mut EntraModel, rng: &mut Rng, groups: &[String], users: &[String]) {
    let group = rng.pick(groups).clone();
    let present: Vec<String> = model
        .direct_members(&group)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    if !present.is_empty() && rng.chance(35) {
        let member = rng.pick(&present).clone();
        let kind = model.groups[&group].members[&member].kind;
        model.set_member(&group, &member, kind, false);
    } else if rng.chance(25) {
        let inner = rng.pick(groups).clone();
        if !model.contains_group(&inner, &group) {
            model.set_member(&group, &inner, MemberKind::Group, true);
        }
    } else if !users.is_empty() {
        let user = rng.pick(users).clone();
        model.set_member(&group, &user, MemberKind::User, true);
    }
}
