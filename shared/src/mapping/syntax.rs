//! The expression parser: recursive descent over Microsoft's call syntax,
//! with every limit checked while parsing (WAVE3 §1.4).

use std::collections::BTreeSet;

use regex::Regex;

use super::functions::Function;
use super::{MAX_DEPTH, MAX_EXPRESSION_CHARS, MAX_NODES, compile_regex};

/// A compiled expression's tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Literal(String),
    Attribute(String),
    /// RegexReplace's pattern, compiled once when the expression is.
    Pattern(Regex),
    Call {
        function: Function,
        args: Vec<Node>,
    },
}

#[cfg(test)]
impl Node {
    pub(crate) fn depth(&self) -> usize {
        match self {
            Self::Call { args, .. } => 1 + args.iter().map(Node::depth).max().unwrap_or(0),
            _ => 1,
        }
    }

    pub(crate) fn count(&self) -> usize {
        match self {
            Self::Call { args, .. } => 1 + args.iter().map(Node::count).sum::<usize>(),
            _ => 1,
        }
    }
}

/// Why an expression does not compile, and where (a 1-based character
/// position in the expression).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {position}: {kind}")]
pub struct CompileError {
    pub position: usize,
    pub kind: CompileErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileErrorKind {
    #[error("the expression is empty")]
    Empty,
    #[error("the expression has {chars} characters; at most {MAX_EXPRESSION_CHARS} are allowed")]
    TooLong { chars: usize },
    #[error("calls are nested more than {MAX_DEPTH} deep")]
    TooDeep,
    #[error("the expression has more than {MAX_NODES} parts (calls, attributes, literals)")]
    TooManyNodes,
    #[error("a text literal is not closed with `\"`")]
    UnclosedString,
    #[error("an attribute is not closed with `]`")]
    UnclosedAttribute,
    #[error("an attribute name is empty: write it as [department]")]
    EmptyAttribute,
    #[error("`{character}` cannot appear in an attribute name")]
    BadAttributeCharacter { character: char },
    #[error("a number has too many digits")]
    NumberTooLarge,
    #[error("unknown function `{name}`")]
    UnknownFunction { name: String },
    #[error("`{name}` is not offered: {why}")]
    LeftOutFunction { name: String, why: &'static str },
    #[error("`{name}` must be followed by `(`{hint}")]
    ExpectedCall { name: String, hint: &'static str },
    #[error("{function} takes {expected}; it was given {given}")]
    WrongArity {
        function: &'static str,
        expected: String,
        given: usize,
    },
    #[error("{function}'s argument {argument} must be {expected}, not \"{given}\"")]
    BadNumber {
        function: &'static str,
        argument: usize,
        expected: &'static str,
        given: String,
    },
    #[error("RegexReplace's pattern must be a text literal (\"…\"), so it is checked when saved")]
    PatternNotLiteral,
    #[error("the pattern is not a valid regular expression: {message}")]
    BadPattern { message: String },
    #[error(
        "`{operator}` is not an operator here: use Equals(a, b), And(…), Or(…), Not(x) or Join(…)"
    )]
    InfixOperator { operator: char },
    #[error("expected {expected}, found `{found}`")]
    Unexpected { expected: &'static str, found: char },
    #[error("the expression ends where {expected} was expected")]
    UnexpectedEnd { expected: &'static str },
}

/// What a successful parse gives: the tree and the attributes it reads.
pub(crate) struct Parsed {
    pub root: Node,
    pub sources: BTreeSet<String>,
}

pub(crate) fn parse(text: &str) -> Result<Parsed, CompileError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_EXPRESSION_CHARS {
        return Err(error(
            MAX_EXPRESSION_CHARS + 1,
            CompileErrorKind::TooLong { chars: chars.len() },
        ));
    }
    let mut parser = Parser {
        chars,
        pos: 0,
        nodes: 0,
        sources: BTreeSet::new(),
    };
    parser.skip_spaces();
    if parser.peek().is_none() {
        return Err(error(1, CompileErrorKind::Empty));
    }
    let root = parser.expression(1)?;
    parser.skip_spaces();
    if let Some(found) = parser.peek() {
        return Err(parser.unexpected(found, "the end of the expression"));
    }
    Ok(Parsed {
        root,
        sources: parser.sources,
    })
}

fn error(position: usize, kind: CompileErrorKind) -> CompileError {
    CompileError { position, kind }
}

const INFIX_OPERATORS: &[char] = &['=', '&', '+', '<', '>', '!', '|'];

struct Parser {
    chars: Vec<char>,
    pos: usize,
    nodes: usize,
    sources: BTreeSet<String>,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The 1-based position of the next character.
    fn here(&self) -> usize {
        self.pos + 1
    }

    fn unexpected(&self, found: char, expected: &'static str) -> CompileError {
        let kind = if INFIX_OPERATORS.contains(&found) {
            CompileErrorKind::InfixOperator { operator: found }
        } else {
            CompileErrorKind::Unexpected { expected, found }
        };
        error(self.here(), kind)
    }

    fn expression(&mut self, depth: usize) -> Result<Node, CompileError> {
        self.skip_spaces();
        if depth > MAX_DEPTH {
            return Err(error(self.here(), CompileErrorKind::TooDeep));
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(error(self.here(), CompileErrorKind::TooManyNodes));
        }
        const EXPECTED: &str = "a function call, an [attribute], a \"text\" or a number";
        match self.peek() {
            None => Err(error(
                self.here(),
                CompileErrorKind::UnexpectedEnd { expected: EXPECTED },
            )),
            Some('"') => self.text_literal(),
            Some('[') => self.attribute(),
            Some(c) if c.is_ascii_digit() => self.number(),
            Some(c) if c.is_alphabetic() => self.call(depth),
            Some(found) => Err(self.unexpected(found, EXPECTED)),
        }
    }

    fn text_literal(&mut self) -> Result<Node, CompileError> {
        let start = self.here();
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(error(start, CompileErrorKind::UnclosedString)),
                Some('"') => break,
                // `\"` and `\\` are escapes; any other `\x` stays as written,
                // so regular expressions such as "\d+" read naturally.
                Some('\\') => match self.chars.get(self.pos + 1).copied() {
                    Some(escaped @ ('"' | '\\')) => {
                        text.push(escaped);
                        self.pos += 1;
                    }
                    _ => text.push('\\'),
                },
                Some(c) => text.push(c),
            }
            self.pos += 1;
        }
        self.pos += 1;
        Ok(Node::Literal(text))
    }

    fn attribute(&mut self) -> Result<Node, CompileError> {
        let start = self.here();
        self.pos += 1;
        let mut name = String::new();
        loop {
            match self.peek() {
                None => return Err(error(start, CompileErrorKind::UnclosedAttribute)),
                Some(']') => break,
                Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '.' => name.push(c),
                // `[department)`: no `]` follows, so the name is unclosed.
                Some(_) if !self.chars[self.pos..].contains(&']') => {
                    return Err(error(start, CompileErrorKind::UnclosedAttribute));
                }
                Some(character) => {
                    return Err(error(
                        self.here(),
                        CompileErrorKind::BadAttributeCharacter { character },
                    ));
                }
            }
            self.pos += 1;
        }
        self.pos += 1;
        if name.is_empty() {
            return Err(error(start, CompileErrorKind::EmptyAttribute));
        }
        self.sources.insert(name.clone());
        Ok(Node::Attribute(name))
    }

    fn number(&mut self) -> Result<Node, CompileError> {
        let start = self.here();
        let mut digits = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            digits.push(c);
            self.pos += 1;
        }
        if digits.len() > 9 {
            return Err(error(start, CompileErrorKind::NumberTooLarge));
        }
        Ok(Node::Literal(digits))
    }

    fn call(&mut self, depth: usize) -> Result<Node, CompileError> {
        let start = self.here();
        let mut name = String::new();
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
            self.pos += 1;
        }
        self.skip_spaces();
        if self.peek() != Some('(') {
            let hint = if ["true", "false"]
                .iter()
                .any(|b| b.eq_ignore_ascii_case(&name))
            {
                " (write a flag as the text \"true\" or \"false\")"
            } else {
                ""
            };
            return Err(error(start, CompileErrorKind::ExpectedCall { name, hint }));
        }
        let function = lookup(&name).map_err(|kind| error(start, kind))?;
        self.pos += 1;
        let args = self.arguments(depth)?;
        let arity = function.arity();
        if !arity.accepts(args.len()) {
            let kind = CompileErrorKind::WrongArity {
                function: function.name(),
                expected: arity.describe(),
                given: args.len(),
            };
            return Err(error(start, kind));
        }
        let args = check_arguments(function, args).map_err(|kind| error(start, kind))?;
        Ok(Node::Call { function, args })
    }

    /// The arguments after `(`, through the closing `)`.
    fn arguments(&mut self, depth: usize) -> Result<Vec<Node>, CompileError> {
        let mut args = Vec::new();
        self.skip_spaces();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expression(depth + 1)?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(args);
                }
                Some(found) => return Err(self.unexpected(found, "`,` or `)`")),
                None => {
                    let expected = "`,` or `)`";
                    return Err(error(
                        self.here(),
                        CompileErrorKind::UnexpectedEnd { expected },
                    ));
                }
            }
        }
    }
}

fn lookup(name: &str) -> Result<Function, CompileErrorKind> {
    if let Some(function) = Function::lookup(name) {
        return Ok(function);
    }
    Err(match Function::left_out(name) {
        Some(why) => CompileErrorKind::LeftOutFunction {
            name: name.to_string(),
            why,
        },
        None => CompileErrorKind::UnknownFunction {
            name: name.to_string(),
        },
    })
}

/// Checks what can be checked before any object is seen: literal numbers,
/// and RegexReplace's pattern, which is compiled here once.
fn check_arguments(function: Function, mut args: Vec<Node>) -> Result<Vec<Node>, CompileErrorKind> {
    for (argument, rule) in function.number_arguments() {
        if let Some(Node::Literal(given)) = args.get(argument - 1)
            && rule.parse(given).is_none()
        {
            return Err(CompileErrorKind::BadNumber {
                function: function.name(),
                argument: *argument,
                expected: rule.describe(),
                given: given.clone(),
            });
        }
    }
    if function == Function::RegexReplace {
        let Node::Literal(pattern) = &args[1] else {
            return Err(CompileErrorKind::PatternNotLiteral);
        };
        let regex = compile_regex(pattern, false)
            .map_err(|message| CompileErrorKind::BadPattern { message })?;
        args[1] = Node::Pattern(regex);
    }
    Ok(args)
}
