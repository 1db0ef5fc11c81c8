//! Adapters for AWS storage behind the engines' ports.

pub mod app_credential;
pub mod chunked;
pub mod directory_table;
pub mod dynamo;
pub mod events;
mod export_lookups;
pub mod integrations;
pub mod layout;
pub mod lease;
pub mod on_demand;
pub mod password_attempts;
pub mod preview;
pub mod problems;
pub mod queue;
pub mod run_history;
pub mod secrets;
pub mod subscriptions;
pub mod sync_requests;
pub mod sync_state;

pub use app_credential::{AppClientSecret, WebIdentityAssertions};
pub use integrations::DynamoIntegrationsStore;
pub use secrets::{SecretsManagerTokenStore, TenantGrant};
