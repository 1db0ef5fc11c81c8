//! The functions an expression may call: names, arities, and the ones left
//! out on purpose (WAVE3 §1.4).

/// A function of the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Append,
    And,
    Coalesce,
    Equals,
    Iif,
    IsNullOrEmpty,
    IsPresent,
    Item,
    Join,
    Left,
    Mid,
    NormalizeDiacritics,
    Not,
    Or,
    RegexReplace,
    Replace,
    Split,
    StripSpaces,
    Switch,
    SwitchI,
    ToLower,
    ToUpper,
    Trim,
    Word,
}

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy)]
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
    /// Switch: source, default, then key/value pairs.
    SourceDefaultPairs,
}

impl Arity {
    pub fn accepts(self, count: usize) -> bool {
        match self {
            Self::Exactly(n) => count == n,
            Self::AtLeast(n) => count >= n,
            Self::SourceDefaultPairs => count >= 4 && count.is_multiple_of(2),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Self::Exactly(1) => "1 argument".to_string(),
            Self::Exactly(n) => format!("{n} arguments"),
            Self::AtLeast(n) => format!("at least {n} arguments"),
            Self::SourceDefaultPairs => {
                "a source, a default and at least one key/value pair (an even number of arguments, 4 or more)"
                    .to_string()
            }
        }
    }
}

/// Each function's name as the reference spells it, and its arity.
const CATALOGUE: &[(Function, &str, Arity)] = &[
    (Function::Append, "Append", Arity::Exactly(2)),
    (Function::And, "And", Arity::AtLeast(2)),
    (Function::Coalesce, "Coalesce", Arity::AtLeast(1)),
    (Function::Equals, "Equals", Arity::Exactly(2)),
    (Function::Iif, "IIF", Arity::Exactly(3)),
    (Function::IsNullOrEmpty, "IsNullOrEmpty", Arity::Exactly(1)),
    (Function::IsPresent, "IsPresent", Arity::Exactly(1)),
    (Function::Item, "Item", Arity::Exactly(2)),
    (Function::Join, "Join", Arity::AtLeast(2)),
    (Function::Left, "Left", Arity::Exactly(2)),
    (Function::Mid, "Mid", Arity::Exactly(3)),
    (
        Function::NormalizeDiacritics,
        "NormalizeDiacritics",
        Arity::Exactly(1),
    ),
    (Function::Not, "Not", Arity::Exactly(1)),
    (Function::Or, "Or", Arity::AtLeast(2)),
    (Function::RegexReplace, "RegexReplace", Arity::Exactly(3)),
    (Function::Replace, "Replace", Arity::Exactly(3)),
    (Function::Split, "Split", Arity::Exactly(2)),
    (Function::StripSpaces, "StripSpaces", Arity::Exactly(1)),
    (Function::Switch, "Switch", Arity::SourceDefaultPairs),
    (Function::SwitchI, "SwitchI", Arity::SourceDefaultPairs),
    (Function::ToLower, "ToLower", Arity::Exactly(1)),
    (Function::ToUpper, "ToUpper", Arity::Exactly(1)),
    (Function::Trim, "Trim", Arity::Exactly(1)),
    (Function::Word, "Word", Arity::Exactly(3)),
];

/// Microsoft's functions this language leaves out, and why (said in the
/// compile error, so the admin is not left guessing).
const LEFT_OUT: &[(&str, &str)] = &[
    (
        "Guid",
        "it is not deterministic: every run would rewrite every object",
    ),
    (
        "Now",
        "it is not deterministic: every run would rewrite every object",
    ),
    (
        "RandomString",
        "it is not deterministic: every run would rewrite every object",
    ),
    (
        "SelectUniqueValue",
        "it needs a lookup in the target directory",
    ),
    (
        "FormatDateTime",
        "it takes .NET date formats; no mapped source is a date yet",
    ),
    (
        "IgnoreFlowIfNullOrEmpty",
        "an empty result never clears an Entra value on export anyway",
    ),
    ("Redact", "values never reach a log"),
    (
        "AppRoleAssignmentsComplex",
        "app roles are not synchronised",
    ),
    ("SingleAppRoleAssignment", "app roles are not synchronised"),
    (
        "BitAnd",
        "it serves on-premises AD flags, not this connector",
    ),
    ("DateFromNum", "it serves HR sources, not this connector"),
    ("NumFromDate", "it serves HR sources, not this connector"),
];

impl Function {
    /// The function named `name`, in any case (unlike Microsoft's).
    pub fn lookup(name: &str) -> Option<Self> {
        CATALOGUE
            .iter()
            .find(|(_, spelled, _)| spelled.eq_ignore_ascii_case(name))
            .map(|(function, _, _)| *function)
    }

    /// Why a Microsoft function is not offered, when `name` is one.
    pub fn left_out(name: &str) -> Option<&'static str> {
        LEFT_OUT
            .iter()
            .find(|(spelled, _)| spelled.eq_ignore_ascii_case(name))
            .map(|(_, why)| *why)
    }

    pub fn name(self) -> &'static str {
        self.entry().1
    }

    pub fn arity(self) -> Arity {
        self.entry().2
    }

    fn entry(self) -> &'static (Function, &'static str, Arity) {
        CATALOGUE
            .iter()
            .find(|(function, _, _)| *function == self)
            .unwrap_or(&CATALOGUE[0])
    }

    /// Every function of the allow-list (the reference and the tests).
    pub fn all() -> impl Iterator<Item = Self> {
        CATALOGUE.iter().map(|(function, _, _)| *function)
    }

    /// Arguments that must be whole numbers (1-based positions in the
    /// call), checked when they are literals.
    pub fn number_arguments(self) -> &'static [(usize, NumberRule)] {
        match self {
            Self::Left => &[(2, NumberRule::ZeroOrMore)],
            Self::Mid => &[(2, NumberRule::OneOrMore), (3, NumberRule::ZeroOrMore)],
            Self::Word | Self::Item => &[(2, NumberRule::OneOrMore)],
            _ => &[],
        }
    }
}

/// What a numeric argument must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberRule {
    ZeroOrMore,
    OneOrMore,
}

impl NumberRule {
    /// The number `text` holds, when it is one this rule accepts.
    pub fn parse(self, text: &str) -> Option<usize> {
        let number: usize = text.trim().parse().ok()?;
        (self == Self::ZeroOrMore || number >= 1).then_some(number)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::ZeroOrMore => "a whole number (0 or more)",
            Self::OneOrMore => "a whole number from 1",
        }
    }
}
