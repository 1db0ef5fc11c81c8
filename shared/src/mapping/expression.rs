//! A compiled expression: what a mapping of `source_type: expression` holds.

use super::MAX_OUTPUT_CHARS;
use super::eval::{self, EvalError};
use super::syntax::{self, CompileError, Node};
use super::value::{SourceObject, Value};

/// An expression that compiled: its tree, and the attributes it reads.
#[derive(Debug, Clone)]
pub struct Expression {
    text: String,
    root: Node,
    sources: Vec<String>,
}

impl Expression {
    /// Parses and checks `text` (syntax, function names and arities,
    /// literal numbers, regular expressions, and the size limits).
    pub fn compile(text: &str) -> Result<Self, CompileError> {
        let parsed = syntax::parse(text)?;
        Ok(Self {
            text: text.to_string(),
            root: parsed.root,
            sources: parsed.sources.into_iter().collect(),
        })
    }

    /// The attribute names the expression reads, sorted, each once, as
    /// written between `[` and `]`: the caller checks them against the
    /// known sources and adds them to `$select`.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many regular expressions it holds (RegexReplace's patterns).
    pub fn patterns(&self) -> usize {
        fn count(node: &Node) -> usize {
            match node {
                Node::Pattern(_) => 1,
                Node::Call { args, .. } => args.iter().map(count).sum(),
                Node::Literal(_) | Node::Attribute(_) => 0,
            }
        }
        count(&self.root)
    }

    /// The value for one object, which must be the whole stored object.
    /// Deterministic: the same object gives the same value.
    pub fn evaluate(&self, object: &dyn SourceObject) -> Result<Value, EvalError> {
        let value = eval::evaluate(&self.root, object)?;
        let chars = value.char_count();
        if chars > MAX_OUTPUT_CHARS {
            return Err(EvalError::OutputTooLong {
                chars,
                limit: MAX_OUTPUT_CHARS,
            });
        }
        Ok(value)
    }

    #[cfg(test)]
    pub(crate) fn depth(&self) -> usize {
        self.root.depth()
    }

    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.root.count()
    }
}
