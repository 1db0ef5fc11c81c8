//! The tenant's integration settings, `ENTRA#CONFIG` (docs/contract.md 1.3), parsed
//! and validated before any logic runs.
//!
//! The store adapter turns the item into a JSON object (serde_dynamo: S ->
//! string, N -> number, BOOL -> bool, L -> array), so this module needs no
//! AWS types. Absent toggles mean "off": nothing flows until the admin says so.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::cloud::Cloud;
use super::ids::{EntraTenantId, Guid, TenantId};

mod flows;
pub use flows::{Deprovisioning, GroupAction, UserAction};

pub const DEFAULT_DELETION_THRESHOLD_PERCENT: u8 = 20;

/// Whether the integration holds a usable grant from the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorisation {
    NotAuthorised,
    Authorised,
    ReauthorisationRequired,
}

impl Authorisation {
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Self::NotAuthorised => None,
            Self::Authorised => Some("authorised"),
            Self::ReauthorisationRequired => Some("reauthorisation_required"),
        }
    }
}

/// How the integration reaches the organisation (DESIGN 2.12): with the
/// app's own identity after admin consent, or (tenants authorised before)
/// with the consenting admin's delegated grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    Delegated,
    Application,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delegated => "delegated",
            Self::Application => "application",
        }
    }
}

/// `guest_users` (DESIGN 2.13): B2B guests (`userType` `Guest`) are
/// imported only when the tenant says so, whatever `domains` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuestUsers {
    #[default]
    Exclude,
    Include,
}

impl GuestUsers {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exclude => "exclude",
            Self::Include => "include",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    pub tenant_id: TenantId,
    pub label: Option<String>,
    pub entra_tenant_id: Option<EntraTenantId>,
    pub sync_enabled: bool,
    pub import_users: bool,
    pub import_groups: bool,
    pub export_users: bool,
    pub export_groups: bool,
    /// Lowercase domain names; empty = every domain.
    pub domains: Vec<String>,
    /// Empty = the whole directory.
    pub import_group_ids: Vec<Guid>,
    pub export_group_id: Option<Guid>,
    /// Export may take over an existing Entra user on a name conflict even
    /// though it did not create it (migrations; docs/behaviour.md 2.11).
    pub export_adopt_existing: bool,
    pub resync_requested_at: Option<DateTime<Utc>>,
    /// The attribute exactly as stored, to remove it only if unchanged.
    pub resync_requested_raw: Option<String>,
    /// `preview_requested_at` exactly as stored: any value asks for a
    /// preview (docs/behaviour.md 2.9), removed only if unchanged.
    pub preview_requested_at: Option<String>,
    pub deletion_threshold_percent: u8,
    pub approve_held_deletions: bool,
    /// Use Graph change notifications (absent = on; docs/behaviour.md 2.7).
    pub realtime_enabled: bool,
    pub authorisation: Authorisation,
    pub authorised_at: Option<DateTime<Utc>>,
    pub authorised_by: Option<String>,
    /// Absent = `delegated`: authorised before 2.12.
    pub auth_mode: AuthMode,
    /// Absent = `exclude`.
    pub guest_users: GuestUsers,
    /// `user_mappings` as written; compiled by the run (DESIGN 2.13).
    pub user_mappings: Option<Value>,
    /// `user_scope_filters` as written; compiled by the run.
    pub user_scope_filters: Option<Value>,
    /// The deprovisioning choices, defaults where absent.
    pub deprovisioning: Deprovisioning,
    /// The config with the `preview_draft` applied: what a preview
    /// evaluates (or why the draft cannot be used).
    pub preview_draft: Option<Result<Box<TenantConfig>, ConfigItemError>>,
    /// The Entra tenant the confirm proved (functions-owned): in
    /// application mode the only one the app's token may be asked for,
    /// whatever the platform later writes into `entra_tenant_id`.
    pub authorised_entra_tenant_id: Option<EntraTenantId>,
    /// The cloud of that organisation (functions-owned; absent = global).
    pub authorised_cloud: Option<Cloud>,
    /// Whose hosts and app registration serve the tenant (absent = global).
    pub cloud: Cloud,
    /// When the app's roles were last checked (a delegated tenant's daily
    /// check for the switch to application mode, DESIGN 2.12).
    pub permissions_checked_at: Option<DateTime<Utc>>,
}

/// One attribute of the config item that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant config attribute `{attribute}` {problem}")]
pub struct ConfigItemError {
    pub attribute: &'static str,
    pub problem: String,
}

fn bad(attribute: &'static str, problem: impl Into<String>) -> ConfigItemError {
    ConfigItemError {
        attribute,
        problem: problem.into(),
    }
}

/// A name from outside, cut short for an error message.
fn json_fields_shortened(text: &str) -> String {
    // 64 characters: enough to recognise, bounded in a status item or log.
    text.chars().take(64).collect()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

struct Attributes<'a>(&'a Map<String, Value>);

impl Attributes<'_> {
    /// The attribute's value; DynamoDB NULL counts as absent.
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &'static str) -> Result<Option<String>, ConfigItemError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(bad(
                name,
                format!("must be a string, found {}", kind(other)),
            )),
        }
    }

    /// A request attribute exactly as stored (not trimmed), so that it is
    /// removed only if unchanged; blank counts as absent.
    fn request(&self, name: &'static str) -> Result<Option<String>, ConfigItemError> {
        Ok(match self.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => self.string(name)?,
        })
    }

    fn flag(&self, name: &'static str) -> Result<bool, ConfigItemError> {
        self.flag_or(name, false)
    }

    fn flag_or(&self, name: &'static str, absent: bool) -> Result<bool, ConfigItemError> {
        match self.get(name) {
            None => Ok(absent),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(bad(
                name,
                format!("must be a boolean, found {}", kind(other)),
            )),
        }
    }

    fn strings(&self, name: &'static str) -> Result<Vec<String>, ConfigItemError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.trim().to_owned()),
                    other => Err(bad(
                        name,
                        format!("must list only strings, found {}", kind(other)),
                    )),
                })
                .collect(),
            Some(other) => Err(bad(
                name,
                format!("must be a list of strings, found {}", kind(other)),
            )),
        }
    }

    fn timestamp(&self, name: &'static str) -> Result<Option<DateTime<Utc>>, ConfigItemError> {
        self.string(name)?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| bad(name, format!("must be an RFC 3339 timestamp, found {s:?}")))
            })
            .transpose()
    }

    fn guid(&self, name: &'static str) -> Result<Option<Guid>, ConfigItemError> {
        self.string(name)?
            .map(|s| Guid::parse(&s).map_err(|e| bad(name, format!("must be a GUID: {e}"))))
            .transpose()
    }
}

fn valid_domain(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The attributes with rules of their own, beyond their type.
impl Attributes<'_> {
    fn tenant_id(&self) -> Result<TenantId, ConfigItemError> {
        let tenant_id = self
            .string("tenant_id")?
            .ok_or_else(|| bad("tenant_id", "is missing"))?;
        TenantId::parse(&tenant_id).map_err(|e| bad("tenant_id", format!("is invalid: {e}")))
    }

    /// Lowercase domain names, each once, in the order given.
    fn domains(&self) -> Result<Vec<String>, ConfigItemError> {
        let mut domains = Vec::new();
        for domain in self.strings("domains")? {
            let domain = domain.to_ascii_lowercase();
            if !valid_domain(&domain) {
                return Err(bad(
                    "domains",
                    format!("contains {domain:?}, which is not a domain name"),
                ));
            }
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        Ok(domains)
    }

    /// Group object ids, each once, in the order given.
    fn import_group_ids(&self) -> Result<Vec<Guid>, ConfigItemError> {
        let mut ids = Vec::new();
        for id in self.strings("import_group_ids")? {
            let id = Guid::parse(&id).map_err(|e| {
                bad(
                    "import_group_ids",
                    format!("contains a value that is not a group object id: {e}"),
                )
            })?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// A whole percentage; absent means the default.
    fn deletion_threshold_percent(&self) -> Result<u8, ConfigItemError> {
        const NAME: &str = "deletion_threshold_percent";
        match self.get(NAME) {
            None => Ok(DEFAULT_DELETION_THRESHOLD_PERCENT),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) && p.fract() == 0.0 => Ok(p as u8),
                _ => Err(bad(
                    NAME,
                    format!("must be a whole number from 0 to 100, found {n}"),
                )),
            },
            Some(other) => Err(bad(
                NAME,
                format!("must be a number, found {}", kind(other)),
            )),
        }
    }

    fn auth_mode(&self) -> Result<AuthMode, ConfigItemError> {
        match self.string("auth_mode")?.as_deref() {
            None | Some("delegated") => Ok(AuthMode::Delegated),
            Some("application") => Ok(AuthMode::Application),
            Some(other) => Err(bad(
                "auth_mode",
                format!("must be `application` or `delegated`, found {other:?}"),
            )),
        }
    }

    fn guest_users(&self) -> Result<GuestUsers, ConfigItemError> {
        match self.string("guest_users")?.as_deref() {
            None | Some("exclude") => Ok(GuestUsers::Exclude),
            Some("include") => Ok(GuestUsers::Include),
            Some(other) => Err(bad(
                "guest_users",
                format!("must be `exclude` or `include`, found {other:?}"),
            )),
        }
    }

    fn cloud(&self) -> Result<Cloud, ConfigItemError> {
        Ok(self.optional_cloud("cloud")?.unwrap_or(Cloud::Global))
    }

    fn optional_cloud(&self, name: &'static str) -> Result<Option<Cloud>, ConfigItemError> {
        match self.string(name)?.as_deref() {
            None => Ok(None),
            Some(value) => Cloud::parse(value).map(Some).ok_or_else(|| {
                bad(
                    name,
                    format!("must be `global`, `usgov`, `usgov_dod` or `china`, found {value:?}"),
                )
            }),
        }
    }

    fn authorisation(&self) -> Result<Authorisation, ConfigItemError> {
        match self.string("authorisation")?.as_deref() {
            None => Ok(Authorisation::NotAuthorised),
            Some("authorised") => Ok(Authorisation::Authorised),
            Some("reauthorisation_required") => Ok(Authorisation::ReauthorisationRequired),
            Some(other) => Err(bad(
                "authorisation",
                format!("must be `authorised` or `reauthorisation_required`, found {other:?}"),
            )),
        }
    }
}

impl TenantConfig {
    pub fn from_attributes(item: &Map<String, Value>) -> Result<Self, ConfigItemError> {
        let attrs = Attributes(item);
        // Order matters: the first bad attribute is the one reported.
        let tenant_id = attrs.tenant_id()?;
        let domains = attrs.domains()?;
        let import_group_ids = attrs.import_group_ids()?;
        let deletion_threshold_percent = attrs.deletion_threshold_percent()?;
        let authorisation = attrs.authorisation()?;
        Ok(Self {
            tenant_id,
            label: attrs.string("label")?,
            entra_tenant_id: attrs.guid("entra_tenant_id")?,
            sync_enabled: attrs.flag("sync_enabled")?,
            import_users: attrs.flag("import_users")?,
            import_groups: attrs.flag("import_groups")?,
            export_users: attrs.flag("export_users")?,
            export_groups: attrs.flag("export_groups")?,
            domains,
            import_group_ids,
            export_group_id: attrs.guid("export_group_id")?,
            export_adopt_existing: attrs.flag("export_adopt_existing")?,
            resync_requested_at: attrs.timestamp("resync_requested_at")?,
            resync_requested_raw: attrs.request("resync_requested_at")?,
            preview_requested_at: attrs.request("preview_requested_at")?,
            deletion_threshold_percent,
            approve_held_deletions: attrs.flag("approve_held_deletions")?,
            realtime_enabled: attrs.flag_or("realtime_enabled", true)?,
            authorisation,
            authorised_at: attrs.timestamp("authorised_at")?,
            authorised_by: attrs.string("authorised_by")?,
            auth_mode: attrs.auth_mode()?,
            guest_users: attrs.guest_users()?,
            user_mappings: attrs.raw_list("user_mappings")?,
            user_scope_filters: attrs.raw_list("user_scope_filters")?,
            deprovisioning: attrs.deprovisioning()?,
            preview_draft: flows::drafted(item),
            authorised_entra_tenant_id: attrs.guid("authorised_entra_tenant_id")?,
            authorised_cloud: attrs.optional_cloud("authorised_cloud")?,
            cloud: attrs.cloud()?,
            permissions_checked_at: attrs.timestamp("permissions_checked_at")?,
        })
    }

    pub fn is_authorised(&self) -> bool {
        self.authorisation_refusal().is_none()
    }

    /// Why nothing may be done for the tenant in its organisation, if so.
    /// An application-mode tenant whose `entra_tenant_id` no longer names
    /// the organisation the confirm proved is not authorised: the app's
    /// token works in every organisation that consented to it, so a
    /// changed Tenant ID must not move the integration there.
    pub fn authorisation_refusal(&self) -> Option<&'static str> {
        if self.authorisation != Authorisation::Authorised {
            return Some("the integration is not authorised");
        }
        let proven = self.authorised_entra_tenant_id.is_some()
            && self.authorised_entra_tenant_id == self.entra_tenant_id
            && self.authorised_cloud.unwrap_or(Cloud::Global) == self.cloud;
        if self.auth_mode == AuthMode::Application && !proven {
            return Some(
                "the Tenant ID or cloud is not the organisation that authorised the integration; authorise it again",
            );
        }
        None
    }
}

#[cfg(test)]
mod tests;
