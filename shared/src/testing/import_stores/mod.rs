//! In-memory stand-ins for the import engine's ports: the AM directory and
//! the import's own state. Shared by the engine's unit tests and the
//! deterministic simulation (`crate::sim`).

mod directory;
mod state;

pub(crate) use directory::MemoryDirectory;
pub(crate) use state::MemoryState;
