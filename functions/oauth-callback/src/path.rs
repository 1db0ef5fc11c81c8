//! A path segment decoded as RFC 3986 writes it: `%XX` is one byte, `+`
//! is a plus (a space only in a form), and an escape that is not two hex
//! digits is refused rather than guessed at.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathSegmentError {
    #[error("{0:?} is not a valid percent escape (% and two hex digits)")]
    InvalidEscape(String),
    #[error("the decoded path segment is not UTF-8")]
    NotUtf8,
}

pub fn decode_segment(raw: &str) -> Result<String, PathSegmentError> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'%' {
            decoded.push(bytes[at]);
            at += 1;
            continue;
        }
        let escape = bytes
            .get(at + 1..at + 3)
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit));
        let Some(hex) = escape else {
            let shown: String = raw[at..].chars().take(3).collect();
            return Err(PathSegmentError::InvalidEscape(shown));
        };
        let hex = std::str::from_utf8(hex).expect("hex digits are ASCII");
        decoded.push(u8::from_str_radix(hex, 16).expect("two hex digits make a byte"));
        at += 3;
    }
    String::from_utf8(decoded).map_err(|_| PathSegmentError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded_and_a_plus_stays_a_plus() {
        let cases = [
            ("acme", "acme"),
            ("acme%2Dco", "acme-co"),
            ("%61cme", "acme"),
            ("a+b", "a+b"),
            ("a%2Bb", "a+b"),
            ("a%20b", "a b"),
            ("acme&x=1", "acme&x=1"),
            ("a%2fb", "a/b"),
            ("caf%C3%A9", "café"),
            ("", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(decode_segment(raw).as_deref(), Ok(expected), "{raw}");
        }
    }

    #[test]
    fn invalid_escapes_and_bytes_that_are_not_utf8_are_refused() {
        for (raw, shown) in [
            ("a%zz", "%zz"),
            ("a%4", "%4"),
            ("a%", "%"),
            ("%+1b", "%+1"),
            ("%é1", "%é1"),
        ] {
            assert_eq!(
                decode_segment(raw),
                Err(PathSegmentError::InvalidEscape(shown.into())),
                "{raw}"
            );
        }
        assert_eq!(decode_segment("a%FFb"), Err(PathSegmentError::NotUtf8));
    }
}
