//! Fixtures both engines' tests read the same way.

use crate::model::entra::DomainInfo;

/// The Entra tenant's domains: `contoso.com` (managed), `fed.contoso.com`
/// (federated) and `pending.contoso.com` (not verified yet).
pub(crate) fn tenant_domains() -> Vec<DomainInfo> {
    let domain = |name: &str, federated, verified| DomainInfo {
        name: name.into(),
        federated,
        verified,
    };
    vec![
        domain("contoso.com", false, true),
        domain("fed.contoso.com", true, true),
        domain("pending.contoso.com", false, false),
    ]
}
