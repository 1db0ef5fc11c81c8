//! Checks of the crate as a whole: no import cycle between its top modules
//! (engines name ports and the model; adapters and the wiring name engines,
//! never the reverse).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type ModuleGraph = BTreeMap<String, BTreeSet<String>>;

/// Modules outside the library's layers: the crate root and test support.
const OUTSIDE: &[&str] = &["lib", "sim", "testing", "tests"];

/// The code of a file without its comments and its in-file test module.
fn code_of(source: &str) -> String {
    let source = match source.find("#[cfg(test)]\nmod tests {") {
        Some(tests) => &source[..tests],
        None => source,
    };
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top modules a piece of code names as `crate::<module>`.
fn named_modules(code: &str) -> BTreeSet<String> {
    code.split("crate::")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with("tests.rs") || path.components().any(|c| c.as_os_str() == "tests")
}

/// Every non-test file below `dir`, with its path relative to `root`.
fn source_files(root: &Path, dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("a folder entry").path();
        let relative = path.strip_prefix(root).expect("below the root").to_owned();
        if path.is_dir() {
            source_files(root, &path, found);
        } else if path.extension().is_some_and(|e| e == "rs") && !is_test_file(&relative) {
            found.push(relative);
        }
    }
}

/// Which top modules each top module's code names, outside tests.
fn module_graph(root: &Path) -> ModuleGraph {
    let mut files = Vec::new();
    source_files(root, root, &mut files);
    let mut graph = ModuleGraph::new();
    for file in files {
        let first = file.components().next().expect("a path");
        let top = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if OUTSIDE.contains(&top.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(root.join(&file)).expect("a source file");
        let named = named_modules(&code_of(&source));
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(named.into_iter().filter(|m| *m != top));
    }
    graph
}

/// A cycle of the graph, as the modules along it, if there is one.
fn cycle(graph: &ModuleGraph) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        graph: &ModuleGraph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut found = path[start..].to_vec();
            found.push(module.to_owned());
            return Some(found);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_top_module_reaches_itself_through_the_modules_it_names() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.contains_key("graph") && graph.contains_key("tokens"));
    if let Some(found) = cycle(&graph) {
        panic!("an import cycle: {}", found.join(" -> "));
    }
}

#[test]
fn a_cycle_is_found_through_any_number_of_modules_and_comments_do_not_count() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph = ModuleGraph::new();
        for (from, to) in edges {
            graph
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
        }
        graph
    };
    assert_eq!(
        cycle(&graph(&[("graph", "model"), ("tokens", "model")])),
        None
    );
    let found = cycle(&graph(&[
        ("graph", "tokens"),
        ("tokens", "identity"),
        ("identity", "graph"),
    ]));
    assert_eq!(
        found.map(|f| f.join(" -> ")),
        Some("graph -> tokens -> identity -> graph".to_owned())
    );
    let code = code_of("use crate::model::X; // crate::store\n/// `crate::graph`\nfn f() {}");
    assert_eq!(named_modules(&code), BTreeSet::from(["model".to_owned()]));
}
