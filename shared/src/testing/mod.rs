//! Test stand-ins shared by the engines' unit tests and the simulation.

pub(crate) mod import_stores;
