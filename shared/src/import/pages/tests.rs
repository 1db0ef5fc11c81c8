use super::*;
use crate::model::directory::UserAttributes;

#[test]
fn the_last_item_per_id_wins() {
    let items = vec![
        DeltaItem::Upsert(EntraUser {
            guest: false,
            properties: Default::default(),
            id: "a".into(),
            attributes: UserAttributes {
                display_name: Some("old".into()),
                ..Default::default()
            },
        }),
        DeltaItem::Removed {
            id: "b".into(),
            permanent: false,
        },
        DeltaItem::Upsert(EntraUser {
            guest: false,
            properties: Default::default(),
            id: "a".into(),
            attributes: UserAttributes {
                display_name: Some("new".into()),
                ..Default::default()
            },
        }),
    ];
    let kept = last_per_id(&items, |u| u.id.as_str());
    assert_eq!(kept.len(), 2);
    assert!(
        matches!(kept[1], DeltaItem::Upsert(u) if u.attributes.display_name.as_deref() == Some("new"))
    );
}

#[test]
fn managed_domains_verify_with_entra_others_get_temporary_passwords() {
    let domains = vec![
        DomainInfo {
            name: "contoso.com".into(),
            federated: false,
            verified: true,
        },
        DomainInfo {
            name: "fed.contoso.com".into(),
            federated: true,
            verified: true,
        },
    ];
    let user = |upn: &str| EntraUser {
        guest: false,
        properties: Default::default(),
        id: "u1".into(),
        attributes: UserAttributes {
            user_name: upn.into(),
            ..Default::default()
        },
    };
    assert_eq!(
        password_mode(&user("a@Contoso.com"), &domains),
        PasswordMode::Entra
    );
    assert_eq!(
        password_mode(&user("a@fed.contoso.com"), &domains),
        PasswordMode::Temporary
    );
    assert_eq!(
        password_mode(&user("a@elsewhere.org"), &domains),
        PasswordMode::Temporary
    );
}
