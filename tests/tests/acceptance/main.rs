//! Black-box and integration tests: the real function binaries through the
//! Lambda Runtime API, moto for AWS, the Entra emulator for Microsoft.
//! Run through tests/scripts/run-tests.sh, which starts moto and builds the
//! binaries first.

mod app_only_runtime;
mod auth_switch;
mod authorised_tenant;
mod aws_proxy;
mod change_events;
mod console;
mod console_browser;
mod console_flows;
mod console_history;
mod console_requests;
mod docs_references;
mod emulator_identity;
mod export;
mod export_deprovisioning;
mod export_idempotent;
mod export_manager;
mod export_mappings;
mod export_privileges;
mod export_restore;
mod export_trust;
mod federated_credential;
mod graph_client;
mod guests;
mod iam;
mod import;
mod large_tenants;
mod live_queue;
mod mappings;
mod metric_lines;
mod national_clouds;
mod notifications;
mod oauth_callback;
mod operations;
mod preview;
mod public_endpoint;
mod realtime;
mod realtime_lifecycle;
mod run_history;
mod stores;
mod sync_object;
mod sync_object_export;
mod tokens_and_secrets;
mod verify_password;
mod verify_password_accounts;
