//! In-memory stand-ins for the import engine's ports: the AM directory,
//! the import's own state and a preview's. Shared by the engine's unit
//! tests and the deterministic simulation (`crate::sim`).

mod directory;
mod previews;
mod state;

pub(crate) use directory::MemoryDirectory;
pub(crate) use previews::MemoryPreviews;
pub(crate) use state::MemoryState;
