//! Admin consent: who may grant the app's application permissions, and
//! what comes back to the redirect URI.

use super::REQUIRED_APP_ROLES;
use super::test_support::*;
use crate::emulator::app_only::GRAPH_DEFAULT_SCOPE;
use crate::emulator::{Browser, Knobs};
use crate::stack::{CONTOSO, CONTOSO_ADMIN, CONTOSO_USER, FABRIKAM_ADMIN};

#[tokio::test]
async fn given_a_global_admin_when_consenting_then_the_app_is_consented_with_the_required_roles() {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    let url = admin_consent_url(&emulator, "organizations", GRAPH_DEFAULT_SCOPE);
    let back = redirect_query(emulator.browse(&url).await.unwrap());
    assert_eq!(back["admin_consent"], "True");
    assert_eq!(back["tenant"], CONTOSO);
    assert_eq!(back["state"], STATE);
    assert!(!back.contains_key("error"));
    let granted: Vec<&str> = back["scope"].split(' ').collect();
    let expected: Vec<String> = REQUIRED_APP_ROLES
        .iter()
        .map(|r| format!("https://graph.microsoft.com/{r}"))
        .collect();
    assert_eq!(granted, expected);
    let consent = emulator.app_consent(CONTOSO);
    assert!(consent.consented);
    assert_eq!(consent.granted_roles, REQUIRED_APP_ROLES);
    assert!(consent.service_principal_id.is_some());
}

#[tokio::test]
async fn given_the_tenant_id_as_authority_when_its_admin_consents_then_that_tenant_is_consented() {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    let url = admin_consent_url(&emulator, CONTOSO, GRAPH_DEFAULT_SCOPE);
    let back = redirect_query(emulator.browse(&url).await.unwrap());
    assert_eq!(back["tenant"], CONTOSO);
    assert!(emulator.app_consent(CONTOSO).consented);
}

#[tokio::test]
async fn given_a_privileged_role_administrator_when_consenting_then_the_app_is_consented() {
    let emulator = emulator_as(Some(CONTOSO_USER)).await;
    let megan = "a1b2c3d4-0000-4000-8000-000000000002";
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(megan, |u| u.is_privileged_role_admin = true)
    });
    let url = admin_consent_url(&emulator, CONTOSO, GRAPH_DEFAULT_SCOPE);
    let back = redirect_query(emulator.browse(&url).await.unwrap());
    assert_eq!(back["tenant"], CONTOSO);
    assert!(emulator.app_consent(CONTOSO).consented);
}

#[tokio::test]
async fn given_the_admin_declines_when_consenting_then_consent_required_comes_back_with_admin_consent_true()
 {
    let emulator = emulator_as(None).await;
    emulator.set_browser(Browser {
        user_principal_name: Some(CONTOSO_ADMIN.into()),
        declines_consent: true,
        interactive: false,
    });
    let url = admin_consent_url(&emulator, "organizations", GRAPH_DEFAULT_SCOPE);
    let back = redirect_query(emulator.browse(&url).await.unwrap());
    assert_eq!(back["admin_consent"], "True");
    assert_eq!(back["error"], "consent_required");
    assert!(back["error_description"].starts_with("AADSTS65004: "));
    assert_eq!(back["state"], STATE);
    assert!(!back.contains_key("tenant"));
    assert!(!emulator.app_consent(CONTOSO).consented);
}

#[tokio::test]
async fn given_a_user_who_is_not_an_administrator_when_consenting_then_an_error_page_and_no_redirect()
 {
    let emulator = emulator_as(Some(CONTOSO_USER)).await;
    let url = admin_consent_url(&emulator, "organizations", GRAPH_DEFAULT_SCOPE);
    let (status, body) = error_page_status(emulator.browse(&url).await.unwrap());
    assert_eq!(status, 400);
    assert!(body.contains("AADSTS90094"), "{body}");
    assert!(!emulator.app_consent(CONTOSO).consented);
}

#[tokio::test]
async fn given_an_admin_of_another_tenant_when_consenting_for_a_tenant_id_then_an_error_page() {
    let emulator = emulator_as(Some(FABRIKAM_ADMIN)).await;
    let url = admin_consent_url(&emulator, CONTOSO, GRAPH_DEFAULT_SCOPE);
    let (_, body) = error_page_status(emulator.browse(&url).await.unwrap());
    assert!(body.contains("AADSTS50020"), "{body}");
    assert!(!emulator.app_consent(CONTOSO).consented);
}

#[tokio::test]
async fn given_common_or_an_unknown_tenant_as_authority_when_consenting_then_an_error_page() {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    for (authority, code) in [
        ("common", "AADSTS90130"),
        ("0b8a7c6d-0000-4000-8000-00000000dead", "AADSTS90002"),
    ] {
        let url = admin_consent_url(&emulator, authority, GRAPH_DEFAULT_SCOPE);
        let (_, body) = error_page_status(emulator.browse(&url).await.unwrap());
        assert!(body.contains(code), "{authority}: {body}");
    }
    assert!(!emulator.app_consent(CONTOSO).consented);
}

#[tokio::test]
async fn given_a_scope_without_graph_default_when_consenting_then_invalid_request_at_the_redirect_uri()
 {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    let url = admin_consent_url(&emulator, "organizations", "openid profile");
    let back = redirect_query(emulator.browse(&url).await.unwrap());
    assert_eq!(back["error"], "invalid_request");
    assert_eq!(back["admin_consent"], "True");
    assert_eq!(back["state"], STATE);
    assert!(!emulator.app_consent(CONTOSO).consented);
}

#[tokio::test]
async fn given_another_client_id_or_redirect_uri_when_consenting_then_an_error_page() {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    let base = format!("{}/organizations/v2.0/adminconsent", emulator.base_url);
    let foreign_client = url_with(
        &base,
        "",
        &[
            ("client_id", "00000000-0000-4000-8000-000000000000"),
            ("scope", GRAPH_DEFAULT_SCOPE),
            ("redirect_uri", crate::stack::REDIRECT_URI),
        ],
    );
    let foreign_redirect = url_with(
        &base,
        "",
        &[
            ("client_id", crate::stack::CLIENT_ID),
            ("scope", GRAPH_DEFAULT_SCOPE),
            ("redirect_uri", "https://evil.example.com/callback"),
        ],
    );
    for (url, code) in [(foreign_client, "700016"), (foreign_redirect, "50011")] {
        let (_, body) = error_page_status(emulator.browse(&url).await.unwrap());
        assert!(body.contains(code), "{body}");
    }
    assert!(!emulator.app_consent(CONTOSO).consented);
}

#[tokio::test]
async fn given_the_knob_for_fewer_roles_when_consenting_then_only_those_are_granted() {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    emulator.set_knobs(Knobs {
        consent_grants_roles: Some(vec!["User.Read.All".into()]),
        ..Knobs::default()
    });
    let url = admin_consent_url(&emulator, "organizations", GRAPH_DEFAULT_SCOPE);
    let back = redirect_query(emulator.browse(&url).await.unwrap());
    assert_eq!(back["scope"], "https://graph.microsoft.com/User.Read.All");
    assert_eq!(
        emulator.app_consent(CONTOSO).granted_roles,
        ["User.Read.All"]
    );
}

#[tokio::test]
async fn given_an_interactive_browser_when_the_account_is_picked_then_it_consents_and_stays_signed_in()
 {
    let emulator = emulator_as(None).await;
    emulator.set_browser(Browser {
        interactive: true,
        ..Browser::default()
    });
    let url = admin_consent_url(&emulator, "organizations", GRAPH_DEFAULT_SCOPE);
    let (status, page) = match emulator.browse(&url).await.unwrap() {
        crate::emulator::BrowserResult::ErrorPage { status, body } => (status, body),
        other => panic!("expected the sign-in page, got {other:?}"),
    };
    assert_eq!(status, 200);
    assert!(page.contains(r#"action="/organizations/v2.0/adminconsent""#));
    let posted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!(
            "{}/organizations/v2.0/adminconsent",
            emulator.base_url
        ))
        .form(&[
            ("client_id", crate::stack::CLIENT_ID),
            ("scope", GRAPH_DEFAULT_SCOPE),
            ("redirect_uri", crate::stack::REDIRECT_URI),
            ("state", STATE),
            ("login_hint", CONTOSO_ADMIN),
            ("consent", "accept"),
        ])
        .send()
        .await
        .unwrap();
    let location = posted.headers()["location"].to_str().unwrap().to_owned();
    let back = redirect_query(crate::emulator::BrowserResult::Redirected(location));
    assert_eq!(back["tenant"], CONTOSO);
    assert!(emulator.app_consent(CONTOSO).consented);
    assert_eq!(
        emulator.state().browser.user_principal_name.as_deref(),
        Some(CONTOSO_ADMIN)
    );
}
