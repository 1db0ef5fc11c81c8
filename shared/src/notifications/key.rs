//! The notification key (docs/behaviour.md 2.11): an unguessable `key` query
//! parameter of `NOTIFICATION_URL`. The worker gives Graph that URL in
//! every subscription, and Graph calls it as given (appending
//! `validationToken` to validate it), so a request without the key is not
//! from a subscription of ours: it is refused before anything is read.

use sha2::{Digest, Sha256};
use url::Url;

use super::same_digest;

/// A key shorter than this is guessable (the template generates 40
/// letters and digits).
pub const MIN_KEY_CHARS: usize = 16;
const PARAMETER: &str = "key";

/// The key graph-notifications expects, held as its SHA-256 only.
#[derive(Clone)]
pub struct NotificationKey {
    sha256: [u8; 32],
}

impl std::fmt::Debug for NotificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotificationKey([redacted])")
    }
}

impl NotificationKey {
    /// The key of `NOTIFICATION_URL`; the error says what is wrong without
    /// quoting the value.
    pub fn from_url(url: &Url) -> Result<Self, String> {
        let keys: Vec<_> = url
            .query_pairs()
            .filter(|(name, _)| name == PARAMETER)
            .map(|(_, value)| value)
            .collect();
        match keys.as_slice() {
            [] => Err(format!(
                "it has no `{PARAMETER}` query parameter; graph-notifications is a public endpoint and answers only requests that carry the key the subscriptions were given"
            )),
            [key] if key.chars().count() >= MIN_KEY_CHARS => Ok(Self {
                sha256: Sha256::digest(key.as_bytes()).into(),
            }),
            [_] => Err(format!(
                "its `{PARAMETER}` query parameter is shorter than {MIN_KEY_CHARS} characters: it must be unguessable"
            )),
            _ => Err(format!(
                "it has more than one `{PARAMETER}` query parameter"
            )),
        }
    }

    /// Whether a request's query string (as received, URL-encoded)
    /// carries exactly one `key`, equal to this one; compared in constant
    /// time.
    pub fn admits(&self, query: &str) -> bool {
        let mut offered = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == PARAMETER)
            .map(|(_, value)| -> [u8; 32] { Sha256::digest(value.as_bytes()).into() });
        match (offered.next(), offered.next()) {
            (Some(key), None) => same_digest(&key, &self.sha256),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Q7rVb2mX9kLp4TzW8nYc3HdF6sJa1GeU5oRi0KwN";

    fn key_of(url: &str) -> Result<NotificationKey, String> {
        NotificationKey::from_url(&Url::parse(url).unwrap())
    }

    #[test]
    fn given_the_key_of_notification_url_then_only_requests_carrying_it_are_admitted() {
        let key = key_of(&format!(
            "https://api.example.com/entra/notifications?key={KEY}"
        ))
        .unwrap();

        assert!(key.admits(&format!("key={KEY}")));
        assert!(key.admits(&format!("key={KEY}&validationToken=Validation%3A+x")));
        assert!(key.admits(&format!("validationToken=abc&key={KEY}")));
        assert!(!key.admits(""));
        assert!(!key.admits("validationToken=abc"));
        assert!(!key.admits(&format!("key={}", &KEY[1..])));
        assert!(!key.admits(&format!("key={}", KEY.to_lowercase())));
        assert!(!key.admits(&format!("key={KEY}&key={KEY}")), "ambiguous");
        assert!(!key.admits(&format!("Key={KEY}")));
    }

    #[test]
    fn given_a_notification_url_without_a_usable_key_then_it_is_refused_without_quoting_it() {
        for url in [
            "https://api.example.com/entra/notifications".to_owned(),
            "https://api.example.com/entra/notifications?tenant=acme".to_owned(),
            "https://api.example.com/entra/notifications?key=".to_owned(),
            "https://api.example.com/entra/notifications?key=short-secret".to_owned(),
            format!("https://api.example.com/entra/notifications?key={KEY}&key=other"),
        ] {
            let reason = key_of(&url).unwrap_err();
            assert!(!reason.contains("short-secret"), "{reason}");
            assert!(!reason.contains(KEY), "{reason}");
        }
        let debug = format!(
            "{:?}",
            key_of(&format!("https://a.example/?key={KEY}")).unwrap()
        );
        assert!(!debug.contains(KEY), "{debug}");
    }

    #[test]
    fn an_encoded_key_is_compared_decoded() {
        let key = key_of("https://a.example/n?key=abc%2Bdef+ghi%26jklmnopq").unwrap();
        assert!(key.admits("key=abc%2Bdef%20ghi%26jklmnopq"));
        assert!(!key.admits("key=abc+def+ghi&jklmnopq"));
    }
}
