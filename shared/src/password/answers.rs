//! What Entra ID's answer to the password grant means (docs/graph.md 5.5): the
//! result, a message of fixed text, and what it does to the reserved
//! attempt.

use super::attempts::Settlement;
use super::{Verification, VerifyResult, answer};
use crate::model::identity::{IdentityError, TokenErrorBody};

/// The verification, and whether the attempt stays counted.
pub(super) fn interpret(result: Result<(), IdentityError>) -> (Verification, Settlement) {
    match result {
        Ok(()) => (
            answer(VerifyResult::Valid, "the password is correct"),
            Settlement::Release,
        ),
        Err(IdentityError::Rejected(body)) => interpret_refusal(&body),
        // The grant may have reached Entra ID and been counted there.
        Err(IdentityError::Transport(_)) => (
            answer(VerifyResult::Unavailable, "Entra ID could not be reached"),
            Settlement::Keep,
        ),
        Err(IdentityError::UnreadableResponse) => (
            answer(
                VerifyResult::Unavailable,
                "Entra ID's answer could not be read",
            ),
            Settlement::Keep,
        ),
        // The app's own credential could not be had: nothing was sent.
        Err(IdentityError::Configuration(_)) => (
            answer(
                VerifyResult::Unavailable,
                "password verification is not available right now",
            ),
            Settlement::Release,
        ),
    }
}

/// A refused password grant: the AADSTS code says most, the OAuth error
/// the rest. The code, when there is one, is appended for support.
fn interpret_refusal(body: &TokenErrorBody) -> (Verification, Settlement) {
    let code = body.error_codes.first().copied().unwrap_or(0);
    let (result, message, settlement) =
        aadsts_meaning(code).unwrap_or_else(|| oauth_error_meaning(&body.error));
    let mut verification = answer(result, message);
    if code != 0 {
        verification.message = format!("{message} (AADSTS{code})");
    }
    (verification, settlement)
}

/// What an answer means: the result, its message, and what it does to the
/// reserved attempt.
type Meaning = (VerifyResult, &'static str, Settlement);

/// What an AADSTS code means whatever OAuth error comes with it; `None`
/// for codes with no meaning of their own.
fn aadsts_meaning(code: u32) -> Option<Meaning> {
    use Settlement::{Keep, Release};
    Some(match code {
        // A second factor or policy demanded after a correct password.
        50076 | 50079 | 50158 | 53003 => (
            VerifyResult::Valid,
            "the password is correct (Entra ID asked for a further check, which the platform does itself)",
            Release,
        ),
        50126 => (
            VerifyResult::Invalid,
            "the user name or password is incorrect",
            Keep,
        ),
        50034 => (VerifyResult::NotFound, "Entra ID has no such user", Keep),
        50053 => (
            VerifyResult::Locked,
            "the account is locked in Entra ID",
            // Released, a locked account could be probed freely and the
            // lockout set off again the moment it lifts.
            Keep,
        ),
        50055 => (
            VerifyResult::Expired,
            "the password has expired and must be changed",
            Release,
        ),
        50056 => (
            VerifyResult::NotSupported,
            "the user has no password in Entra ID",
            Release,
        ),
        50057 => (
            VerifyResult::Disabled,
            "the account is disabled in Entra ID",
            Release,
        ),
        _ => return None,
    })
}

/// What the OAuth `error` means when the AADSTS code says nothing known.
fn oauth_error_meaning(error: &str) -> Meaning {
    match error {
        "invalid_client" | "unauthorized_client" => (
            VerifyResult::Unavailable,
            "the application is not set up for password verification in this tenant",
            Settlement::Release,
        ),
        "temporarily_unavailable" | "server_error" => (
            VerifyResult::Unavailable,
            "Entra ID is temporarily unavailable",
            Settlement::Release,
        ),
        "invalid_grant" => (
            VerifyResult::Invalid,
            "Entra ID refused the credentials",
            Settlement::Keep,
        ),
        _ => (
            VerifyResult::Unavailable,
            "Entra ID refused the request",
            Settlement::Release,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Settlement::{Keep, Release};

    fn rejected(error: &str, code: u32) -> Result<(), IdentityError> {
        Err(IdentityError::Rejected(TokenErrorBody {
            error: error.into(),
            error_description: None,
            error_codes: vec![code],
            suberror: None,
        }))
    }

    #[test]
    fn entra_answers_map_to_results_and_only_wrong_or_unanswered_attempts_stay_counted() {
        let cases = [
            (Ok(()), VerifyResult::Valid, Release),
            (
                rejected("invalid_grant", 50126),
                VerifyResult::Invalid,
                Keep,
            ),
            (
                rejected("invalid_grant", 50034),
                VerifyResult::NotFound,
                Keep,
            ),
            (rejected("invalid_grant", 50053), VerifyResult::Locked, Keep),
            (
                rejected("invalid_grant", 50055),
                VerifyResult::Expired,
                Release,
            ),
            (
                rejected("invalid_grant", 50056),
                VerifyResult::NotSupported,
                Release,
            ),
            (
                rejected("invalid_grant", 50057),
                VerifyResult::Disabled,
                Release,
            ),
            (
                rejected("invalid_grant", 50076),
                VerifyResult::Valid,
                Release,
            ),
            (
                rejected("interaction_required", 50079),
                VerifyResult::Valid,
                Release,
            ),
            (
                rejected("invalid_grant", 53003),
                VerifyResult::Valid,
                Release,
            ),
            (
                rejected("invalid_client", 7000215),
                VerifyResult::Unavailable,
                Release,
            ),
            (
                Err(IdentityError::Transport("timed out".into())),
                VerifyResult::Unavailable,
                Keep,
            ),
            (
                Err(IdentityError::UnreadableResponse),
                VerifyResult::Unavailable,
                Keep,
            ),
            (
                Err(IdentityError::Configuration("no secret".into())),
                VerifyResult::Unavailable,
                Release,
            ),
        ];
        for (input, expected, settlement) in cases {
            let (verification, settled) = interpret(input);
            assert_eq!(verification.result, expected, "{}", verification.message);
            assert_eq!(settled, settlement, "{}", verification.message);
        }
    }

    #[test]
    fn a_refusal_names_its_aadsts_code_when_entra_gives_one() {
        let (verification, _) = interpret(rejected("invalid_grant", 50126));
        assert_eq!(
            verification.message,
            "the user name or password is incorrect (AADSTS50126)"
        );
        let (verification, settlement) = interpret(Err(IdentityError::Rejected(TokenErrorBody {
            error: "invalid_grant".into(),
            error_description: None,
            error_codes: vec![],
            suberror: None,
        })));
        assert_eq!(verification.message, "Entra ID refused the credentials");
        assert_eq!(
            (verification.result, settlement),
            (VerifyResult::Invalid, Keep)
        );
    }

    #[test]
    fn an_error_s_own_text_never_reaches_the_message() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:entra-app-AbCdEf";
        let errors = [
            IdentityError::Configuration(format!(
                "reading the app's client secret failed: AccessDeniedException: User: \
                 arn:aws:sts::123456789012:assumed-role/verify is not authorized on {arn}"
            )),
            IdentityError::Transport(format!("error sending request to {arn}")),
        ];
        for err in errors {
            let (verification, _) = interpret(Err(err));
            assert_eq!(verification.result, VerifyResult::Unavailable);
            assert!(
                !verification.message.contains("arn:")
                    && !verification.message.contains("Exception"),
                "{}",
                verification.message
            );
        }
    }
}
