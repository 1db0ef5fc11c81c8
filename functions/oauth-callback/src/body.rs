//! The JSON bodies of the platform's two POST routes (DESIGN 1.4), read
//! with bounded size and errors that name what is wrong.

use lambda_http::Body;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Far above any valid body: a binding is at most 512 characters.
const MAX_BODY_BYTES: usize = 4096;

#[derive(Debug, Deserialize)]
pub struct AuthorizeBody {
    pub session_binding: String,
}

#[derive(Debug, Deserialize)]
pub struct ConfirmBody {
    pub result: String,
    pub session_binding: String,
}

/// The body as `T`, or what is wrong with it (never quoting it: a binding
/// is a credential of the admin's session).
pub fn parse<T: DeserializeOwned>(body: &Body) -> Result<T, String> {
    let bytes: &[u8] = match body {
        Body::Empty => return Err("the body is empty; a JSON object is expected".into()),
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => return Err("the body cannot be read".into()),
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(format!("the body is larger than {MAX_BODY_BYTES} bytes"));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            // Serde names the field, never the value, for a missing field
            // or a wrong type.
            format!("the body is not the expected object: {}", field_problem(&e))
        }
        _ => "the body is not JSON".into(),
    })
}

fn field_problem(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_without_the_binding_or_not_json_is_named_so() {
        let missing = parse::<AuthorizeBody>(&Body::Text("{}".into())).unwrap_err();
        assert!(missing.contains("session_binding"), "{missing}");
        let garbage = parse::<AuthorizeBody>(&Body::Text("{nope".into())).unwrap_err();
        assert_eq!(garbage, "the body is not JSON");
        let empty = parse::<ConfirmBody>(&Body::Empty).unwrap_err();
        assert!(empty.contains("empty"));
        let huge = format!("{{\"session_binding\": \"{}\"}}", "x".repeat(5000));
        assert!(
            parse::<AuthorizeBody>(&Body::Text(huge))
                .unwrap_err()
                .contains("larger")
        );
    }

    #[test]
    fn a_wrong_type_names_the_field_not_the_value() {
        let body = Body::Text(r#"{"result": 42, "session_binding": "secret-binding"}"#.into());
        let message = parse::<ConfirmBody>(&body).unwrap_err();
        assert!(!message.contains("secret-binding"), "{message}");
        let ok: ConfirmBody = parse(&Body::Text(
            r#"{"result": "r", "session_binding": "b"}"#.into(),
        ))
        .unwrap();
        assert_eq!(
            (ok.result.as_str(), ok.session_binding.as_str()),
            ("r", "b")
        );
    }
}
