//! The Graph adapters of each tenant, as its config says: its cloud's
//! Graph client and the access tokens its config chooses (the tokens come
//! through `ports::TenantTokenSources`; the wiring hands in the providers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::GraphClient;
use super::batch::GraphBatcher;
use super::reader::GraphEntraDirectory;
use super::writer::GraphEntraWriter;
use crate::model::{ByCloud, TenantConfig, TenantId};
use crate::ports::TenantTokenSources;

/// A Graph reader per tenant, for the worker's sync jobs.
pub struct TenantGraphReaders<'a, T> {
    /// One per cloud served: a tenant's requests go to its cloud's Graph.
    clients: &'a ByCloud<GraphClient>,
    tokens: &'a T,
}

impl<'a, T> TenantGraphReaders<'a, T> {
    pub fn new(clients: &'a ByCloud<GraphClient>, tokens: &'a T) -> Self {
        Self { clients, tokens }
    }
}

impl<T: TenantTokenSources> crate::import::TenantReaders for TenantGraphReaders<'_, T> {
    type Reader<'r>
        = GraphEntraDirectory<'r, T::Source<'r>>
    where
        Self: 'r;

    fn for_tenant(&self, config: &TenantConfig, deadline: Option<Instant>) -> Self::Reader<'_> {
        // What the tenant's mappings and filters read; unusable ones fail
        // the run before it reads anything.
        let extra = crate::import::flows::ImportFlows::compile(config)
            .map(|flows| flows.extra_select().to_vec())
            .unwrap_or_default();
        GraphEntraDirectory::new(
            super::of_cloud(self.clients, config.cloud),
            self.tokens.for_config(config),
            deadline,
        )
        .selecting(extra)
    }
}

/// A Graph writer per tenant, for the export's batches: the writers of one
/// tenant share a `$batch` queue for the invocation.
pub struct TenantGraphWriters<'a, T> {
    /// One per cloud served: a tenant's requests go to its cloud's Graph.
    clients: &'a ByCloud<GraphClient>,
    tokens: &'a T,
    /// Per cloud: the extension is registered on that cloud's app.
    mark_properties: &'a ByCloud<String>,
    deadline: Option<Instant>,
    batchers: Mutex<HashMap<TenantId, Arc<GraphBatcher>>>,
}

impl<'a, T> TenantGraphWriters<'a, T> {
    pub fn new(
        clients: &'a ByCloud<GraphClient>,
        tokens: &'a T,
        mark_properties: &'a ByCloud<String>,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            clients,
            tokens,
            mark_properties,
            deadline,
            batchers: Mutex::default(),
        }
    }
}

impl<T: TenantTokenSources> crate::export::TenantWriters for TenantGraphWriters<'_, T> {
    type Writer<'w>
        = GraphEntraWriter<'w, T::Source<'w>>
    where
        Self: 'w;

    fn for_tenant(&self, config: &TenantConfig, deadline: Option<Instant>) -> Self::Writer<'_> {
        let batcher = self
            .batchers
            .lock()
            .expect("batchers")
            .entry(config.tenant_id.clone())
            .or_default()
            .clone();
        GraphEntraWriter::new(
            super::of_cloud(self.clients, config.cloud),
            self.tokens.for_config(config),
            super::of_cloud(self.mark_properties, config.cloud).as_str(),
            crate::export::earliest_deadline(deadline, self.deadline),
        )
        .batched(batcher)
    }
}
