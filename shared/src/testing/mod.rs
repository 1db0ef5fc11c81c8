//! Test stand-ins shared by the engines' unit tests and the simulation.

pub(crate) mod change_events;
pub(crate) mod export_directory;
pub(crate) mod fixtures;
pub(crate) mod import_stores;
pub(crate) mod recording_entra;
pub(crate) mod scripted_entra;
pub(crate) mod tenant_config;
pub(crate) mod tenant_stores;
