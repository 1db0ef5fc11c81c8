//! What Graph requires of new objects: strong temporary passwords and valid
//! mail nicknames (docs/graph.md 3.1, 3.4).

use rand::Rng;
use rand::seq::SliceRandom;
use secrecy::SecretString;

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!#%+=?@^~-";

/// A random 20-character password with every character class, from the OS
/// random source. Wrapped at once: it goes into one request and nowhere else.
pub fn temporary_password() -> SecretString {
    let mut rng = rand::rng();
    let mut chars: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS]
        .iter()
        .map(|set| set[rng.random_range(0..set.len())])
        .collect();
    let all: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
    while chars.len() < 20 {
        chars.push(all[rng.random_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    SecretString::from(String::from_utf8(chars).expect("ASCII"))
}

/// A `mailNickname`: ASCII without `@ ( ) \ [ ] " ; : . < > ,` or spaces,
/// at most 64 characters, never empty.
pub fn mail_nickname(source: &str, fallback: &str) -> String {
    let cleaned: String = source
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control() && !"@()\\[]\";:.<>, ".contains(*c))
        .take(64)
        .collect();
    if cleaned.is_empty() {
        fallback.chars().take(64).collect()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn passwords_are_long_mixed_and_different_each_time() {
        let a = temporary_password();
        let b = temporary_password();
        let p = a.expose_secret();
        assert_eq!(p.len(), 20);
        assert!(
            p.chars().any(|c| c.is_ascii_lowercase()) && p.chars().any(|c| c.is_ascii_uppercase())
        );
        assert!(
            p.chars().any(|c| c.is_ascii_digit()) && p.chars().any(|c| !c.is_ascii_alphanumeric())
        );
        assert_ne!(p, b.expose_secret());
    }

    #[test]
    fn nicknames_drop_forbidden_characters() {
        assert_eq!(mail_nickname("ann.o'neil", "x"), "anno'neil");
        assert_eq!(mail_nickname("Sales (EMEA)", "x"), "SalesEMEA");
        assert_eq!(mail_nickname("Ærø", "user-1"), "r");
        assert_eq!(mail_nickname("Ææ (.)", "user-1"), "user-1");
        assert_eq!(mail_nickname(&"a".repeat(80), "x").len(), 64);
    }
}
