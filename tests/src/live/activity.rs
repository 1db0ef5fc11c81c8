//! What the live stack did, line by line: printed as it happens and shown
//! on the console.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

const KEPT: usize = 200;

#[derive(Clone, Default)]
pub struct Activity(Arc<Mutex<VecDeque<String>>>);

impl Activity {
    pub fn note(&self, part: &str, what: &str) {
        let line = format!("{} {part}: {what}", chrono::Utc::now().format("%H:%M:%S"));
        println!("{line}");
        let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == KEPT {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The latest lines, newest first.
    pub fn latest(&self, n: usize) -> Vec<String> {
        let lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().rev().take(n).cloned().collect()
    }
}
