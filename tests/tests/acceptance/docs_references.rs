//! Every reference the code makes to the project's documents resolves
//! inside the repository: `docs/<file>.md <section>` names a heading of
//! that file.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("target") {
            sources(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "rs" || e == "yaml" || e == "sh" || e == "py")
        {
            out.push(path);
        }
    }
}

/// Section numbers of a document's headings (`## 1.3 Data` → `1.3`).
fn sections(document: &str) -> Vec<String> {
    std::fs::read_to_string(root().join("docs").join(document))
        .unwrap_or_else(|e| panic!("docs/{document}: {e}"))
        .lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| {
            l.trim_start_matches('#')
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .map(|n| n.trim_end_matches('.').to_owned())
        .collect()
}

#[test]
fn every_docs_reference_in_the_code_names_a_section_that_exists() {
    let mut files = Vec::new();
    for dir in ["shared", "functions", "tests"] {
        sources(&root().join(dir), &mut files);
    }
    files.push(root().join("template.yaml"));
    files.push(root().join("README.md"));
    let mut unresolved = Vec::new();
    let mut checked = 0;
    for file in &files {
        // A comment may wrap between the file name and the number.
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let flat: String = text
            .split('\n')
            .map(|l| {
                l.trim_start()
                    .trim_start_matches("//!")
                    .trim_start_matches("///")
                    .trim_start_matches("//")
                    .trim_start_matches('#')
            })
            .collect::<Vec<_>>()
            .join(" ");
        for (start, _) in flat.match_indices("docs/") {
            let rest = &flat[start + 5..];
            let Some((document, after)) = rest.split_once(".md") else {
                continue;
            };
            if document.is_empty() || !document.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            {
                continue;
            }
            let known = sections(&format!("{document}.md"));
            let number: String = after
                .trim_start()
                .trim_start_matches('§')
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let number = number.trim_end_matches('.');
            checked += 1;
            if !number.is_empty() && !known.iter().any(|k| k == number) {
                unresolved.push(format!("{}: docs/{document}.md {number}", file.display()));
            }
        }
    }
    assert!(checked > 50, "only {checked} references found");
    assert!(
        unresolved.is_empty(),
        "references without a section:\n{}",
        unresolved.join("\n")
    );
}
