#![recursion_limit = "256"]
//! entra-sync's shared library: configuration, the domain model, the
//! identity client, the store adapters and the engines the functions run.

pub mod auth_switch;
pub mod authorisation;
pub mod aws;
pub mod config;
pub mod events;
pub mod export;
pub mod graph;
pub mod graph_tally;
pub mod https;
pub mod identity;
pub mod import;
pub mod mapping;
pub mod metrics;
pub mod model;
pub mod notifications;
pub mod on_demand;
pub mod password;
pub mod ports;
pub mod problems;
pub mod realtime;
pub mod schedule;
#[cfg(test)]
mod sim;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
pub mod tokens;
pub mod wiring;
