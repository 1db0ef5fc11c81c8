//! The text functions' work, each bounded: no result grows past
//! [`MAX_VALUE_CHARS`] before it is refused.

use icu_normalizer::DecomposingNormalizerBorrowed;
use regex::Regex;

use super::{MAX_REPLACEMENTS, MAX_VALUE_CHARS};

/// Why a bounded text operation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    TooLong,
    TooManyMatches,
}

/// A UTF-8 string of more than 4 bytes per allowed character surely has
/// too many characters: a cheap check while a result is being built.
const MAX_VALUE_BYTES: usize = MAX_VALUE_CHARS * 4;

fn guard(out: &str) -> Result<(), Overflow> {
    if out.len() > MAX_VALUE_BYTES {
        Err(Overflow::TooLong)
    } else {
        Ok(())
    }
}

/// Every occurrence of `old` replaced by `new`, case-sensitively; an empty
/// `old` changes nothing.
pub(crate) fn replace_plain(source: &str, old: &str, new: &str) -> Result<String, Overflow> {
    if old.is_empty() {
        return Ok(source.to_string());
    }
    let mut out = String::with_capacity(source.len());
    let mut last = 0;
    for (start, found) in source.match_indices(old) {
        out.push_str(&source[last..start]);
        out.push_str(new);
        last = start + found.len();
        guard(&out)?;
    }
    out.push_str(&source[last..]);
    Ok(out)
}

/// Every match of `pattern` replaced by `replacement`, where `$1` or
/// `${name}` stand for a captured group. The number of matches is capped
/// too, so the work stays linear in the input whatever the pattern.
pub(crate) fn replace_regex(
    source: &str,
    pattern: &Regex,
    replacement: &str,
) -> Result<String, Overflow> {
    let references = replacement.matches('$').count();
    let mut out = String::with_capacity(source.len());
    let mut last = 0;
    for (count, captures) in pattern.captures_iter(source).enumerate() {
        if count >= MAX_REPLACEMENTS {
            return Err(Overflow::TooManyMatches);
        }
        let Some(whole) = captures.get(0) else {
            continue;
        };
        out.push_str(&source[last..whole.start()]);
        // The expansion is bounded before it is written: each `$`
        // reference adds at most the match (a group lies within it).
        let at_most = replacement
            .len()
            .saturating_add(references.saturating_mul(whole.len()));
        if out.len().saturating_add(at_most) > MAX_VALUE_BYTES {
            return Err(Overflow::TooLong);
        }
        captures.expand(replacement, &mut out);
        last = whole.end();
        guard(&out)?;
    }
    out.push_str(&source[last..]);
    Ok(out)
}

/// The first `count` characters.
pub(crate) fn left(source: &str, count: usize) -> String {
    source.chars().take(count).collect()
}

/// `length` characters from the 1-based position `start`.
pub(crate) fn mid(source: &str, start: usize, length: usize) -> String {
    source
        .chars()
        .skip(start.saturating_sub(1))
        .take(length)
        .collect()
}

/// The `number`th (1-based) word, words being separated by runs of any of
/// the `delimiters`' characters; empty when there are fewer words.
pub(crate) fn word(source: &str, number: usize, delimiters: &str) -> String {
    let is_delimiter = |c: char| delimiters.contains(c);
    source
        .split(is_delimiter)
        .filter(|word| !word.is_empty())
        .nth(number.saturating_sub(1))
        .unwrap_or("")
        .to_string()
}

/// The values between `delimiter`s; an empty delimiter leaves the text whole.
pub(crate) fn split(source: &str, delimiter: &str) -> Vec<String> {
    if delimiter.is_empty() {
        return vec![source.to_string()];
    }
    source.split(delimiter).map(str::to_string).collect()
}

/// Every whitespace character removed (spaces, tabs, no-break spaces).
pub(crate) fn strip_spaces(source: &str) -> String {
    source.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Letters without their accents: canonical decomposition (NFD), marks
/// dropped, and the Latin letters that have no decomposition spelled out
/// (ø → o, ł → l, ß → ss, æ → ae …), so the result suits a login name.
pub(crate) fn normalize_diacritics(source: &str) -> String {
    let decomposed = DecomposingNormalizerBorrowed::new_nfd().normalize(source);
    let mut out = String::with_capacity(decomposed.len());
    for c in decomposed.chars() {
        if is_combining_mark(c) {
            continue;
        }
        match undecomposable_letter(c) {
            Some(spelled) => out.push_str(spelled),
            None => out.push(c),
        }
    }
    out
}

fn is_combining_mark(c: char) -> bool {
    matches!(
        u32::from(c),
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
    )
}

fn undecomposable_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'ø' => "o",
        'Ø' => "O",
        'ł' => "l",
        'Ł' => "L",
        'đ' | 'ð' => "d",
        'Đ' | 'Ð' => "D",
        'ħ' => "h",
        'Ħ' => "H",
        'ı' => "i",
        'ß' => "ss",
        'æ' => "ae",
        'Æ' => "AE",
        'œ' => "oe",
        'Œ' => "OE",
        'þ' => "th",
        'Þ' => "TH",
        _ => return None,
    })
}
