//! The layers' import graph, read from the source: no cycle among top-level modules, and
//! the rules ARCHITECTURE.md states (auth knows neither app nor http; config builds no
//! component; the pure cores import no actor, store or HTTP code).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Source text without comments and without `#[cfg(test)]` items (tests may reach
/// anywhere).
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<i32> = None;
    let mut depth = 0i32;
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let trimmed = code.trim();
        if skip_depth.is_none() && trimmed.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        let opens = code.matches('{').count() as i32;
        let closes = code.matches('}').count() as i32;
        if pending_cfg_test && !trimmed.is_empty() {
            pending_cfg_test = false;
            if opens > closes {
                skip_depth = Some(depth);
            }
            depth += opens - closes;
            continue;
        }
        depth += opens - closes;
        if let Some(at) = skip_depth {
            if depth <= at {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn layer_of(path: &Path, src: &Path) -> String {
    let relative = path.strip_prefix(src).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("a file")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = Graph::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable src") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let layer = layer_of(&path, &src);
            if layer == "main" || layer == "lib" {
                continue;
            }
            let code = production_code(&std::fs::read_to_string(&path).expect("UTF-8"));
            let imports = graph.entry(layer.clone()).or_default();
            for (at, _) in code.match_indices("crate::") {
                let target: String = code[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !target.is_empty() && target != layer {
                    imports.insert(target);
                }
            }
        }
    }
    graph
}

/// A cycle through `from`, if there is one.
fn cycle_from(graph: &Graph, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_owned(), vec![from.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn the_layers_import_each_other_without_a_cycle() {
    let graph = graph();
    assert!(
        graph.contains_key("http") && graph.contains_key("actors"),
        "{graph:?}"
    );
    for layer in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, layer) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn each_layer_imports_only_what_its_place_allows() {
    let graph = graph();
    let forbidden: [(&str, &[&str]); 14] = [
        (
            "notify",
            &[
                "actors", "app", "http", "metrics", "store", "auth", "channels",
            ],
        ),
        // Channel kinds send; they know nothing of where rows are kept or who asked.
        (
            "channels",
            &["actors", "app", "http", "metrics", "store", "auth"],
        ),
        (
            "alerting",
            &["actors", "app", "http", "metrics", "store", "auth"],
        ),
        ("auth", &["app", "http", "metrics"]),
        (
            "config",
            &["actors", "app", "http", "metrics", "store", "auth"],
        ),
        ("actors", &["app", "http", "metrics", "auth"]),
        ("metrics", &["app", "http"]),
        (
            "store",
            &["actors", "app", "http", "metrics", "auth", "channels"],
        ),
        (
            "domain",
            &[
                "actors", "app", "http", "metrics", "store", "auth", "ingest", "promql",
            ],
        ),
        (
            "ingest",
            &["actors", "app", "http", "metrics", "store", "auth"],
        ),
        (
            "promql",
            &["actors", "app", "http", "metrics", "store", "auth"],
        ),
        (
            "tsdb",
            &["actors", "app", "http", "metrics", "store", "auth"],
        ),
        (
            "logquery",
            &["actors", "app", "http", "metrics", "store", "auth", "logs"],
        ),
        ("logs", &["app", "http", "metrics"]),
    ];
    for (layer, never) in forbidden {
        let imports = graph.get(layer).cloned().unwrap_or_default();
        for target in never {
            assert!(
                !imports.contains(*target),
                "{layer} must not import {target}; it imports {imports:?}"
            );
        }
    }
}

#[test]
fn test_code_is_left_out_of_the_graph() {
    let code = production_code(
        "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\nuse crate::c; // crate::d\n",
    );
    assert!(
        code.contains("crate::a") && code.contains("crate::c"),
        "{code}"
    );
    assert!(
        !code.contains("crate::b") && !code.contains("crate::d"),
        "{code}"
    );
}
