//! The simulated world of the export: the platform's writes to the AM
//! directory (items as DynamoDB holds them), the stream of their records as
//! DynamoDB Streams delivers them (in order per item, not across items),
//! the tenant's config and the faults of the seed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::entra::EntraModel;
use crate::model::TenantConfig;
use crate::model::directory::{ENTRA_HASH, EntraHash, UserAttributes};
use crate::model::entra::TenantDomains;
use crate::problems::Problem;
use crate::sim::rng::{Rng, SharedRng};

/// The export group of the tenant's config: an Entra group the tenant made.
pub const EXPORT_GROUP: &str = "11111111-1111-4111-8111-111111111111";
/// User names the platform and Entra's own accounts draw from: small, so
/// that names meet.
pub const NAMES: [&str; 6] = ["ann", "bob", "cy", "dee", "eve", "fay"];
/// Verified, verified and federated, not verified (docs/graph.md 3.4).
pub const DOMAINS: [&str; 3] = ["contoso.com", "fed.contoso.com", "pending.contoso.com"];

/// How often each fault strikes (percent of calls), drawn per seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportFaults {
    /// Graph 429/5xx/timeouts that outlasted the client's retries.
    pub graph_exhausted: u64,
    /// A Graph write applied whose answer was lost.
    pub graph_lost_answer: u64,
    /// Calls for which a just-created object stays invisible (at most).
    pub replication_lag: u64,
    /// AWS throttling that outlasted the adapter's retries.
    pub store_throttled: u64,
    /// An AWS write applied whose answer was lost.
    pub store_lost_answer: u64,
    /// A batch read or write with items left unprocessed past the retries.
    pub partial_batch: u64,
    /// A batch delivered again although it was processed.
    pub redelivered: u64,
    /// Records of different items delivered out of the platform's order.
    pub reordered: u64,
}

impl ExportFaults {
    /// `only` = `calm`, `graph`, `store` or `stream` keeps that class (and
    /// kills).
    pub fn draw(rng: &mut Rng, only: Option<&str>) -> Self {
        let mut level = |max: u64| rng.fault_level(max);
        let drawn = Self {
            graph_exhausted: level(10),
            graph_lost_answer: level(8),
            replication_lag: level(3),
            store_throttled: level(6),
            store_lost_answer: level(6),
            partial_batch: level(10),
            redelivered: level(30),
            reordered: level(60),
        };
        let calm = Self::default();
        match only {
            Some("calm") => calm,
            Some("graph") => Self {
                graph_exhausted: drawn.graph_exhausted,
                graph_lost_answer: drawn.graph_lost_answer,
                replication_lag: drawn.replication_lag,
                ..calm
            },
            Some("store") => Self {
                store_throttled: drawn.store_throttled,
                store_lost_answer: drawn.store_lost_answer,
                partial_batch: drawn.partial_batch,
                ..calm
            },
            Some("stream") => Self {
                redelivered: drawn.redelivered,
                reordered: drawn.reordered,
                ..calm
            },
            _ => drawn,
        }
    }
}

/// Some of the tenant's own accounts as the import wrote them into AM
/// earlier (their records long processed): Entra's values and their hash.
fn imported(entra: &mut EntraModel, rng: &mut Rng) -> Directory {
    let mut directory = Directory::default();
    for (id, account) in &entra.tenants_accounts {
        if !rng.chance(50) {
            continue;
        }
        let mut item = json!({"user_id": id, "user_name": account.upn,
            "display_name": account.name, "enabled": account.enabled, "source": "entra"});
        let attributes: UserAttributes = serde_json::from_value(item.clone()).expect("attributes");
        item[ENTRA_HASH] = json!(EntraHash::of_user(&attributes).as_str());
        let item = item.as_object().cloned().expect("an item");
        directory.items.insert(format!("USER#{id}"), item);
        entra.imported.insert(id.clone());
    }
    directory
}

/// A stream record: the item's key and its images around one write.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub sequence: u64,
    pub sk: String,
    pub event: &'static str,
    pub old: Map<String, Value>,
    pub new: Map<String, Value>,
}

/// The AM directory's items (by sort key) and the records not yet
/// delivered past, in delivery order.
#[derive(Default)]
pub struct Directory {
    pub items: BTreeMap<String, Map<String, Value>>,
    /// `ENTRA#LINK#` items the export recorded (sort key of the object).
    pub links: BTreeMap<String, String>,
    /// `ENTRA#CREATING#` items: when a create began (sort key of the object).
    pub create_intents: BTreeMap<String, chrono::DateTime<chrono::Utc>>,
    /// `ENTRA#DELETED#USER#` items: the Entra user deleted for an AM user
    /// (sort key of the user).
    pub deleted_users: BTreeMap<String, crate::export::DeletedEntraUser>,
    pub pending: Vec<StreamRecord>,
    next_sequence: u64,
    next_id: u64,
}

pub struct World {
    pub rng: SharedRng,
    pub faults: Mutex<ExportFaults>,
    pub entra: Mutex<EntraModel>,
    pub directory: Mutex<Directory>,
    pub problems: Mutex<BTreeMap<String, Problem>>,
    pub config: TenantConfig,
    pub domains: TenantDomains,
    pub clock: Mutex<chrono::DateTime<chrono::Utc>>,
}

impl World {
    pub fn new(seed: u64, only_faults: Option<&str>) -> Self {
        let mut rng = Rng::new(seed);
        let faults = ExportFaults::draw(&mut rng, only_faults);
        let mut config = json!({"tenant_id": "acme", "export_users": true,
            "export_groups": true, "authorisation": "authorised",
            "export_adopt_existing": rng.chance(50)});
        if rng.chance(60) {
            config["export_group_id"] = json!(EXPORT_GROUP);
        }
        let config = TenantConfig::from_attributes(config.as_object().unwrap()).unwrap();
        let mut entra = EntraModel::seeded(&mut rng);
        let directory = imported(&mut entra, &mut rng);
        Self {
            rng: std::sync::Arc::new(Mutex::new(rng)),
            faults: Mutex::new(faults),
            entra: Mutex::new(entra),
            directory: Mutex::new(directory),
            problems: Mutex::default(),
            config,
            domains: TenantDomains::default(),
            clock: Mutex::new(chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap()),
        }
    }

    pub fn chance(&self, percent: u64) -> bool {
        self.rng.lock().unwrap().chance(percent)
    }

    pub fn roll(&self, n: u64) -> u64 {
        self.rng.lock().unwrap().below(n)
    }

    pub fn faults(&self) -> ExportFaults {
        *self.faults.lock().unwrap()
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.clock.lock().unwrap()
    }

    pub fn advance(&self, seconds: i64) {
        *self.clock.lock().unwrap() += chrono::Duration::seconds(seconds);
    }

    /// Writes (or with `None` deletes) an item, as any writer of the table
    /// does: the stream gets its record. Returns whether it changed.
    pub fn write_item(&self, sk: &str, new: Option<Map<String, Value>>) -> bool {
        let reordered = self.faults().reordered;
        let mut rng = self.rng.lock().unwrap();
        let mut directory = self.directory.lock().unwrap();
        let old = match &new {
            Some(item) => directory.items.insert(sk.to_owned(), item.clone()),
            None => directory.items.remove(sk),
        };
        let event = match (&old, &new) {
            (None, Some(_)) => "INSERT",
            (Some(o), Some(n)) if o != n => "MODIFY",
            (Some(_), None) => "REMOVE",
            _ => return false,
        };
        directory.next_sequence += 1;
        let record = StreamRecord {
            sequence: directory.next_sequence,
            sk: sk.to_owned(),
            event,
            old: old.unwrap_or_default(),
            new: new.unwrap_or_default(),
        };
        // Order holds per item only: a record may overtake other items'.
        let after_own = directory
            .pending
            .iter()
            .rposition(|r| r.sk == sk)
            .map_or(0, |i| i + 1);
        let len = directory.pending.len();
        let at = if len > after_own && rng.chance(reordered) {
            after_own + rng.below((len - after_own) as u64 + 1) as usize
        } else {
            len
        };
        directory.pending.insert(at, record);
        true
    }

    /// The records Lambda delivers next, at most `size`.
    pub fn next_records(&self, size: usize) -> Vec<StreamRecord> {
        let directory = self.directory.lock().unwrap();
        directory.pending.iter().take(size).cloned().collect()
    }

    /// The stream goes on past these records.
    pub fn delivered(&self, records: &[StreamRecord]) {
        let done: Vec<u64> = records.iter().map(|r| r.sequence).collect();
        let mut directory = self.directory.lock().unwrap();
        directory.pending.retain(|r| !done.contains(&r.sequence));
    }

    pub fn item(&self, sk: &str) -> Option<Map<String, Value>> {
        self.directory.lock().unwrap().items.get(sk).cloned()
    }

    fn fresh_id(&self, prefix: &str) -> String {
        let mut directory = self.directory.lock().unwrap();
        directory.next_id += 1;
        format!("{prefix}{}", directory.next_id)
    }

    fn keys_with(&self, prefix: &str) -> Vec<String> {
        let directory = self.directory.lock().unwrap();
        directory
            .items
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn pick_key(&self, prefix: &str) -> Option<String> {
        let keys = self.keys_with(prefix);
        (!keys.is_empty()).then(|| keys[self.roll(keys.len() as u64) as usize].clone())
    }

    /// A user name no platform user holds now (mostly a verified domain).
    fn free_user_name(&self) -> Option<String> {
        let taken: Vec<String> = self
            .keys_with("USER#")
            .iter()
            .filter_map(|k| self.item(k)?.get("user_name")?.as_str().map(str::to_owned))
            .collect();
        let domain = match self.roll(10) {
            0 => DOMAINS[2],
            1 | 2 => DOMAINS[1],
            _ => DOMAINS[0],
        };
        let name = format!("{}@{domain}", NAMES[self.roll(NAMES.len() as u64) as usize]);
        (!taken.contains(&name)).then_some(name)
    }

    /// One random write of the platform.
    pub fn platform_change(&self) {
        match self.roll(12) {
            0..=2 => self.new_user(),
            3 | 4 => self.edit_user(),
            5 => self.delete_object("USER#"),
            6 => self.new_group(),
            7 => self.edit_group(),
            8 => self.delete_object("GROUP#"),
            9 | 10 => self.add_membership(),
            _ => {
                if let Some(sk) = self.pick_key("MEMBER#") {
                    self.write_item(&sk, None);
                }
            }
        }
    }

    fn new_user(&self) {
        let Some(user_name) = self.free_user_name() else {
            return;
        };
        let id = self.fresh_id("p");
        let item = json!({"user_id": id, "user_name": user_name, "source": "local",
            "display_name": format!("User {}", self.roll(3)), "enabled": self.chance(85)});
        self.write_item(&format!("USER#{id}"), item.as_object().cloned());
    }

    fn edit_user(&self) {
        let Some(sk) = self.pick_key("USER#") else {
            return;
        };
        let mut item = self.item(&sk).unwrap();
        match self.roll(3) {
            0 => match self.free_user_name() {
                Some(name) => item.insert("user_name".into(), json!(name)),
                None => return,
            },
            1 => item.insert(
                "display_name".into(),
                json!(format!("User {}", self.roll(3))),
            ),
            _ => item.insert("enabled".into(), json!(self.chance(50))),
        };
        self.write_item(&sk, Some(item));
    }

    fn new_group(&self) {
        let id = self.fresh_id("g");
        let item =
            json!({"group_id": id, "name": format!("Team {}", self.roll(3)), "source": "local"});
        self.write_item(&format!("GROUP#{id}"), item.as_object().cloned());
    }

    fn edit_group(&self) {
        if let Some(sk) = self.pick_key("GROUP#") {
            let mut item = self.item(&sk).unwrap();
            item.insert("name".into(), json!(format!("Team {}", self.roll(3))));
            self.write_item(&sk, Some(item));
        }
    }

    /// The platform deletes an object's memberships, then the object.
    fn delete_object(&self, prefix: &str) {
        let Some(sk) = self.pick_key(prefix) else {
            return;
        };
        let id = sk.trim_start_matches(prefix).to_owned();
        for member in self.keys_with("MEMBER#") {
            let ends: Vec<&str> = member.split('#').skip(1).collect();
            let end = if prefix == "USER#" { ends[1] } else { ends[0] };
            if end == id {
                self.write_item(&member, None);
            }
        }
        self.write_item(&sk, None);
    }

    fn add_membership(&self) {
        let (Some(group), Some(user)) = (self.pick_key("GROUP#"), self.pick_key("USER#")) else {
            return;
        };
        let (group, user) = (&group["GROUP#".len()..], &user["USER#".len()..]);
        let item = json!({"group_id": group, "user_id": user, "source": "local"});
        self.write_item(&format!("MEMBER#{group}#{user}"), item.as_object().cloned());
    }
}
