//! A tenant's domains (name, federated, verified) change rarely and are
//! asked for on every export create and every password check: one cache
//! per process, each entry reused for a while.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{DomainInfo, GraphError};
use crate::model::TenantId;

/// How long a tenant's domain list is reused.
pub const DOMAIN_CACHE_TTL: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub struct TenantDomains {
    ttl: Duration,
    entries: Mutex<HashMap<TenantId, (Instant, Vec<DomainInfo>)>>,
}

impl Default for TenantDomains {
    fn default() -> Self {
        Self::new(DOMAIN_CACHE_TTL)
    }
}

impl TenantDomains {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's domains, if read within the TTL.
    pub fn fresh(&self, tenant: &TenantId) -> Option<Vec<DomainInfo>> {
        let entries = self.entries.lock().expect("domain cache");
        let (at, domains) = entries.get(tenant)?;
        (at.elapsed() < self.ttl).then(|| domains.clone())
    }

    pub fn remember(&self, tenant: &TenantId, domains: Vec<DomainInfo>) {
        self.entries
            .lock()
            .expect("domain cache")
            .insert(tenant.clone(), (Instant::now(), domains));
    }

    /// The cached list, or `fetch`'s answer (then cached).
    pub async fn get_or_fetch<F>(
        &self,
        tenant: &TenantId,
        fetch: impl FnOnce() -> F,
    ) -> Result<Vec<DomainInfo>, GraphError>
    where
        F: Future<Output = Result<Vec<DomainInfo>, GraphError>>,
    {
        if let Some(domains) = self.fresh(tenant) {
            return Ok(domains);
        }
        let domains = fetch().await?;
        self.remember(tenant, domains.clone());
        Ok(domains)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contoso() -> Vec<DomainInfo> {
        vec![DomainInfo {
            name: "contoso.com".into(),
            federated: false,
            verified: true,
        }]
    }

    #[tokio::test]
    async fn a_fresh_entry_is_reused_and_a_stale_one_fetched_again() {
        let tenant = TenantId::parse("acme").unwrap();
        let cache = TenantDomains::new(Duration::from_millis(50));
        let fetched = std::sync::atomic::AtomicU32::new(0);
        let fetch = || async {
            fetched.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(contoso())
        };
        assert_eq!(cache.get_or_fetch(&tenant, fetch).await.unwrap(), contoso());
        cache.get_or_fetch(&tenant, fetch).await.unwrap();
        assert_eq!(fetched.load(std::sync::atomic::Ordering::Relaxed), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        cache.get_or_fetch(&tenant, fetch).await.unwrap();
        assert_eq!(fetched.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert!(cache.fresh(&TenantId::parse("other").unwrap()).is_none());
    }
}
