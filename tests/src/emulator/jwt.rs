//! RS256 id tokens signed with the emulator's fixed test key, and the JWKS
//! that publishes it. The key is a test fixture, used nowhere else.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

const SIGNING_KEY_PEM: &[u8] = include_bytes!("../../fixtures/emulator-signing-key.pem");
const SIGNING_JWK: &str = include_str!("../../fixtures/emulator-signing-jwk.json");
pub const KEY_ID: &str = "entra-emulator-1";

pub fn sign(claims: &Value) -> String {
    sign_with(SIGNING_KEY_PEM, KEY_ID, claims)
}

/// RS256 with a fixture key (`pem`) named `kid` in the header.
pub fn sign_with(pem: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_pem(pem).expect("the fixture key is a valid RSA PEM");
    jsonwebtoken::encode(&header, claims, &key).expect("claims serialise")
}

pub fn jwks() -> Value {
    let jwk: Value = serde_json::from_str(SIGNING_JWK).expect("the fixture JWK is JSON");
    serde_json::json!({ "keys": [jwk] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_against_the_published_key() {
        let token = sign(&serde_json::json!({"aud": "app", "exp": 4_000_000_000u64, "tid": "t"}));
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(jwks()["keys"][0].clone()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["app"]);
        let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims["tid"], "t");
        assert_eq!(data.header.kid.as_deref(), Some(KEY_ID));
    }
}
