//! The claims we read from an id token (docs/graph.md 5.7). The proof of
//! who consented (DESIGN 2.12) checks its signature first
//! (`IdentityClient::verify_id_token`); `decode` reads one unverified.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::model::{EntraTenantId, Guid};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimsError {
    #[error("the token response carried no id token (was `openid` requested?)")]
    Missing,
    #[error("the id token is not a JWT: {0}")]
    NotAJwt(&'static str),
    #[error("the id token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    #[error("the id token's `{claim}` claim is invalid: {reason}")]
    Invalid { claim: &'static str, reason: String },
    #[error("the tenant's signing keys could not be read: {0}")]
    KeysUnavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub tenant_id: EntraTenantId,
    pub object_id: Guid,
    pub preferred_username: Option<String>,
    pub audience: String,
    pub issuer: String,
    pub expires_at: i64,
    pub nonce: Option<String>,
    /// The directory role templates the user holds actively.
    pub wids: Vec<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    nonce: Option<String>,
    #[serde(default)]
    wids: Vec<String>,
    tid: Option<String>,
    oid: Option<String>,
    preferred_username: Option<String>,
    aud: Option<serde_json::Value>,
    iss: Option<String>,
    exp: Option<i64>,
}

impl IdTokenClaims {
    /// Decodes the payload of a compact JWT (no signature check; see above).
    pub fn decode(jwt: &str) -> Result<Self, ClaimsError> {
        let mut parts = jwt.split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ClaimsError::NotAJwt("expected three dot-separated parts"));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| ClaimsError::NotAJwt("payload is not base64url"))?;
        let payload = serde_json::from_slice(&bytes)
            .map_err(|_| ClaimsError::NotAJwt("payload is not a JSON object of claims"))?;
        Self::from_payload(payload)
    }

    /// The claims of a JWT payload.
    pub fn from_payload(payload: serde_json::Value) -> Result<Self, ClaimsError> {
        let raw: RawClaims = serde_json::from_value(payload)
            .map_err(|_| ClaimsError::NotAJwt("payload is not a JSON object of claims"))?;

        let tid = raw.tid.ok_or(ClaimsError::MissingClaim("tid"))?;
        let oid = raw.oid.ok_or(ClaimsError::MissingClaim("oid"))?;
        let audience = match raw.aud.ok_or(ClaimsError::MissingClaim("aud"))? {
            serde_json::Value::String(s) => s,
            _ => {
                return Err(ClaimsError::Invalid {
                    claim: "aud",
                    reason: "expected a single audience".into(),
                });
            }
        };
        Ok(Self {
            tenant_id: Guid::parse(&tid).map_err(|e| ClaimsError::Invalid {
                claim: "tid",
                reason: e.to_string(),
            })?,
            object_id: Guid::parse(&oid).map_err(|e| ClaimsError::Invalid {
                claim: "oid",
                reason: e.to_string(),
            })?,
            preferred_username: raw.preferred_username,
            audience,
            issuer: raw.iss.ok_or(ClaimsError::MissingClaim("iss"))?,
            expires_at: raw.exp.ok_or(ClaimsError::MissingClaim("exp"))?,
            nonce: raw.nonce,
            wids: raw.wids,
        })
    }

    /// Checks that the token was issued to us, by the tenant it names, and is
    /// still valid (with five minutes' clock skew).
    pub fn validate(
        &self,
        client_id: &str,
        login_base_url: &url::Url,
        now_epoch: i64,
    ) -> Result<(), ClaimsError> {
        if self.audience != client_id {
            return Err(ClaimsError::Invalid {
                claim: "aud",
                reason: "issued to another application".into(),
            });
        }
        let expected_issuer = format!(
            "{}/{}/v2.0",
            login_base_url.as_str().trim_end_matches('/'),
            self.tenant_id
        );
        if self.issuer != expected_issuer {
            return Err(ClaimsError::Invalid {
                claim: "iss",
                reason: format!("expected {expected_issuer}"),
            });
        }
        if self.expires_at + 300 < now_epoch {
            return Err(ClaimsError::Invalid {
                claim: "exp",
                reason: "the token has expired".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(claims: serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.c2lnbmF0dXJl")
    }

    const TID: &str = "6a2d4e1f-0000-4000-8000-00000000abcd";
    const OID: &str = "00000000-0000-4000-8000-000000000001";

    fn good() -> serde_json::Value {
        json!({"tid": TID, "oid": OID, "aud": "app", "exp": 2_000,
               "iss": format!("https://login.microsoftonline.com/{TID}/v2.0"),
               "preferred_username": "admin@contoso.com"})
    }

    fn base() -> url::Url {
        url::Url::parse("https://login.microsoftonline.com").unwrap()
    }

    #[test]
    fn given_a_valid_id_token_then_the_claims_are_read_and_accepted() {
        let claims = IdTokenClaims::decode(&jwt(good())).unwrap();
        assert_eq!(claims.tenant_id.as_str(), TID);
        assert_eq!(
            claims.preferred_username.as_deref(),
            Some("admin@contoso.com")
        );
        claims.validate("app", &base(), 1_000).unwrap();
    }

    #[test]
    fn given_a_token_for_another_app_or_issuer_or_too_old_then_it_is_refused() {
        let claims = IdTokenClaims::decode(&jwt(good())).unwrap();
        assert!(matches!(
            claims.validate("other", &base(), 1_000),
            Err(ClaimsError::Invalid { claim: "aud", .. })
        ));
        assert!(matches!(
            claims.validate("app", &base(), 9_000),
            Err(ClaimsError::Invalid { claim: "exp", .. })
        ));
        let mut foreign = good();
        foreign["iss"] = json!("https://evil.example/v2.0");
        let claims = IdTokenClaims::decode(&jwt(foreign)).unwrap();
        assert!(matches!(
            claims.validate("app", &base(), 1_000),
            Err(ClaimsError::Invalid { claim: "iss", .. })
        ));
    }

    #[test]
    fn given_garbage_then_the_error_says_what_is_wrong() {
        assert!(matches!(
            IdTokenClaims::decode("abc"),
            Err(ClaimsError::NotAJwt(_))
        ));
        assert!(matches!(
            IdTokenClaims::decode("a.!!!.c"),
            Err(ClaimsError::NotAJwt(_))
        ));
        let mut no_tid = good();
        no_tid.as_object_mut().unwrap().remove("tid");
        assert_eq!(
            IdTokenClaims::decode(&jwt(no_tid)),
            Err(ClaimsError::MissingClaim("tid"))
        );
    }
}
