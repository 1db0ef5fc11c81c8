//! The Microsoft cloud a tenant lives in (DESIGN 1.3 `cloud`, 2.12): each
//! has its own login and Graph hosts and its own app registration, and a
//! token of one is worthless in another.

use std::collections::BTreeMap;

/// `cloud` on the tenant config; absent = `global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Cloud {
    #[default]
    Global,
    UsGov,
    UsGovDod,
    China,
}

impl Cloud {
    pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::UsGov => "usgov",
            Self::UsGovDod => "usgov_dod",
            Self::China => "china",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == value)
    }

    /// The audience a federated identity credential of this cloud's app
    /// registration expects of an assertion (Microsoft's recommended value
    /// per cloud): what `GetWebIdentityToken` is asked for.
    pub fn federated_audience(self) -> &'static str {
        match self {
            Self::Global => "api://AzureADTokenExchange",
            Self::UsGov | Self::UsGovDod => "api://AzureADTokenExchangeUSGov",
            Self::China => "api://AzureADTokenExchangeChina",
        }
    }
}

impl std::fmt::Display for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `T` per cloud this deployment serves: `global` always, the national
/// ones `ENTRA_CLOUDS` names.
#[derive(Debug, Clone)]
pub struct ByCloud<T> {
    global: T,
    national: BTreeMap<Cloud, T>,
}

impl<T> ByCloud<T> {
    /// `national` entries for `Cloud::Global` are ignored: the global one
    /// comes from its own variables.
    pub fn new(global: T, national: impl IntoIterator<Item = (Cloud, T)>) -> Self {
        let national = national
            .into_iter()
            .filter(|(cloud, _)| *cloud != Cloud::Global)
            .collect();
        Self { global, national }
    }

    pub fn global_only(global: T) -> Self {
        Self::new(global, [])
    }

    /// The cloud's `T`; `None` when the deployment does not serve it.
    pub fn get(&self, cloud: Cloud) -> Option<&T> {
        match cloud {
            Cloud::Global => Some(&self.global),
            national => self.national.get(&national),
        }
    }

    pub fn global(&self) -> &T {
        &self.global
    }

    /// The clouds served, `global` first.
    pub fn iter(&self) -> impl Iterator<Item = (Cloud, &T)> {
        std::iter::once((Cloud::Global, &self.global))
            .chain(self.national.iter().map(|(cloud, t)| (*cloud, t)))
    }

    pub fn map<U>(&self, mut f: impl FnMut(Cloud, &T) -> U) -> ByCloud<U> {
        ByCloud {
            global: f(Cloud::Global, &self.global),
            national: self
                .national
                .iter()
                .map(|(cloud, t)| (*cloud, f(*cloud, t)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TenantConfig;
    use serde_json::{Value, json};

    fn parse_config(item: Value) -> Result<TenantConfig, crate::model::ConfigItemError> {
        TenantConfig::from_attributes(item.as_object().unwrap())
    }

    #[test]
    fn the_cloud_is_global_unless_the_item_names_another_and_an_unknown_one_is_refused() {
        let item = |cloud: Value| json!({"pk": "TENANT#acme", "sk": "ENTRA#CONFIG", "tenant_id": "acme", "cloud": cloud});
        assert_eq!(
            parse_config(item(Value::Null)).unwrap().cloud,
            Cloud::Global
        );
        assert_eq!(
            parse_config(item(json!("global"))).unwrap().cloud,
            Cloud::Global
        );
        assert_eq!(
            parse_config(item(json!("usgov"))).unwrap().cloud,
            Cloud::UsGov
        );
        assert_eq!(
            parse_config(item(json!("usgov_dod"))).unwrap().cloud,
            Cloud::UsGovDod
        );
        assert_eq!(
            parse_config(item(json!("china"))).unwrap().cloud,
            Cloud::China
        );
        let err = parse_config(item(json!("germany"))).unwrap_err();
        assert_eq!(err.attribute, "cloud");
        assert!(err.problem.contains("\"germany\""), "{err}");
    }

    #[test]
    fn every_cloud_reads_back_from_its_name_and_nothing_else_does() {
        for cloud in Cloud::ALL {
            assert_eq!(Cloud::parse(cloud.as_str()), Some(cloud));
        }
        assert_eq!(Cloud::parse("usgov-dod"), None);
        assert_eq!(Cloud::parse("Global"), None);
    }

    #[test]
    fn a_cloud_not_configured_has_nothing_and_global_always_has_its_own() {
        let clouds = ByCloud::new("g", [(Cloud::UsGov, "us"), (Cloud::Global, "ignored")]);
        assert_eq!(clouds.get(Cloud::Global), Some(&"g"));
        assert_eq!(clouds.get(Cloud::UsGov), Some(&"us"));
        assert_eq!(clouds.get(Cloud::China), None);
        assert_eq!(clouds.get(Cloud::UsGovDod), None);
        let lengths = clouds.map(|_, s| s.len());
        assert_eq!(lengths.get(Cloud::UsGov), Some(&2));
        let served: Vec<Cloud> = clouds.iter().map(|(c, _)| c).collect();
        assert_eq!(served, [Cloud::Global, Cloud::UsGov]);
    }
}
