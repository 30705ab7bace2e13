//! The layers of `node/src` (drawn at the top of `lib.rs`) point down: this
//! test reads every `crate::…` path in the code of each module and fails when
//! one reaches a layer above its own, when a module below `app` names `Node`,
//! or when anything but `app` uses `api`. A restructuring that lets a cycle
//! back in fails here, not in review.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module of `node/src` and its layer, lowest first. Modules
/// of one layer may use each other only where `peers_may_meet` says so.
const LAYERS: &[(&str, u8)] = &[
    ("clock", 0),
    ("shutdown", 0),
    ("address", 0),
    ("acting", 0),
    ("home", 1),
    ("storage", 2),
    ("net", 2),
    ("directory", 3),
    ("exchange", 3),
    ("audit", 3),
    ("terms", 3),
    ("tracking", 3),
    ("attachments", 3),
    ("reports", 3),
    ("publications", 3),
    ("backup", 3),
    ("mail", 3),
    ("accounts", 3),
    ("peer", 4),
    ("app", 5),
    ("api", 6),
];

/// Domain services may use one another (terms sends through exchange);
/// storage and the network know nothing of each other.
fn peers_may_meet(layer: u8) -> bool {
    layer == 3
}

fn layer_of(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// The code of a file without its comments and string literals (where the
/// names of modules may appear in prose).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
                continue;
            }
            if c == '"' {
                in_string = true;
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

fn name_at(text: &str) -> String {
    text.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The top-level modules a file's code names as `crate::module`, in a
/// group (`crate::{a, b::C}`), or through `super::super::` from a file two
/// levels down.
fn modules_used(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (prefix, depth) in [("crate::", 0), ("super::super::", 2)] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            // `veim_crate::…`, `$crate::…` and `super::super::super::…` are
            // not paths from this crate's root as written.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || (depth > 0 && c == ':')) {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                let mut level = 0;
                let mut start = 0;
                for (j, c) in group[..end].char_indices() {
                    match c {
                        '{' => level += 1,
                        '}' => level -= 1,
                        ',' if level == 0 => {
                            used.insert(name_at(&group[start..j]));
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                used.insert(name_at(&group[start..end]));
            } else {
                used.insert(name_at(rest));
            }
        }
    }
    used.remove("");
    used.remove("self");
    used
}

/// External crates only one module may use: the storage engine and the
/// HTTP server stay where they can be replaced.
const CONFINED: &[(&str, &str)] = &[("sled", "storage"), ("axum", "api")];

/// Whether the code names the type `Node` (not `Actor::Node`, `NodeKeys`, …).
fn names_node(code: &str) -> bool {
    let bytes = code.as_bytes();
    code.match_indices("Node").any(|(i, _)| {
        let before = if i == 0 { b' ' } else { bytes[i - 1] };
        let after = bytes.get(i + 4).copied().unwrap_or(b' ');
        let part_of_a_path_or_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        !(part_of_a_path_or_name(before) || before == b':' || part_of_a_path_or_name(after))
    })
}

/// What breaks the layering in one file of `module`.
fn violations(module: &str, code: &str) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return vec![format!("module {module} has no layer: add it to LAYERS (and to the diagram in lib.rs)")];
    };
    let mut found = Vec::new();
    for used in modules_used(code) {
        if used == module {
            continue;
        }
        let Some(theirs) = layer_of(&used) else { continue };
        let app_starts_api = module == "app" && used == "api";
        if used == "api" && !app_starts_api {
            found.push(format!("{module} uses api: only app starts the API"));
        } else if theirs > own && !app_starts_api {
            found.push(format!("{module} (layer {own}) uses {used} (layer {theirs}), a layer above it"));
        } else if theirs == own && !peers_may_meet(own) {
            found.push(format!("{module} uses {used}: modules of layer {own} know nothing of each other"));
        }
    }
    for (krate, home) in CONFINED {
        let named = code
            .match_indices(&format!("{krate}::"))
            .any(|(i, _)| !code[..i].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':'));
        if named && module != *home {
            found.push(format!("{module} uses {krate}: only {home} does"));
        }
    }
    if own < layer_of("app").unwrap_or(u8::MAX) && names_node(code) {
        found.push(format!("{module} names Node: below app, take the services needed, never the node"));
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read node/src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The cycles of the module graph (each found once, from its smallest
/// module): within a layer too, a cycle makes two services one.
fn cycles(graph: &std::collections::BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn walk(
        graph: &std::collections::BTreeMap<String, BTreeSet<String>>,
        start: &str,
        path: &mut Vec<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        let Some(next) = graph.get(path.last().map(String::as_str).unwrap_or(start)) else { return };
        for m in next {
            if m == start {
                let mut cycle = path.clone();
                cycle.push(m.clone());
                found.push(cycle);
            } else if m.as_str() > start && !path.contains(m) {
                path.push(m.clone());
                walk(graph, start, path, found);
                path.pop();
            }
        }
    }
    let mut found = Vec::new();
    for start in graph.keys() {
        walk(graph, start, &mut vec![start.clone()], &mut found);
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut found = Vec::new();
    let mut checked = 0;
    let mut graph: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for path in &files {
        let relative = path.strip_prefix(&src).expect("under src");
        let first = relative.components().next().expect("a component").as_os_str().to_string_lossy().to_string();
        let module = first.trim_end_matches(".rs");
        // The crate root wires the modules together and is the daemon's entry.
        if module == "lib" || module == "main" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(path).expect("read a source file"));
        found.extend(violations(module, &code).into_iter().map(|v| format!("{}: {v}", relative.display())));
        // app starts the API whose handlers hold the node: the one pair
        // allowed to use each other (see `violations`).
        let uses = graph.entry(module.to_string()).or_default();
        uses.extend(
            modules_used(&code)
                .into_iter()
                .filter(|m| m != module && layer_of(m).is_some() && !(module == "app" && m == "api")),
        );
        checked += 1;
    }
    found.extend(cycles(&graph).into_iter().map(|c| format!("an import cycle: {}", c.join(" -> "))));
    assert!(checked >= LAYERS.len(), "only {checked} files read under {}", src.display());
    assert!(found.is_empty(), "the layers of node/src are broken:\n{}", found.join("\n"));
}

#[test]
fn an_import_from_a_layer_above_is_caught() {
    // Each of these is what a careless change would add; each must fail.
    let cases = [
        ("storage", "use crate::audit::record;", "storage (layer 2) uses audit (layer 3)"),
        ("net", "use crate::storage::Store;", "net uses storage"),
        ("home", "use crate::storage::Store;", "home (layer 1) uses storage (layer 2)"),
        ("exchange", "fn f(node: &crate::app::Node) {}", "exchange (layer 3) uses app"),
        ("terms", "fn f(node: &Node) {}", "terms names Node"),
        ("peer", "use crate::api::types::StatusView;", "peer uses api"),
        ("clock", "use crate::shutdown::Shutdown;", "clock uses shutdown"),
    ];
    for (module, code, expected) in cases {
        let found = violations(module, &code_of(code));
        assert!(found.iter().any(|v| v.contains(expected)), "{module}: {code} gave {found:?}");
    }
    let grouped = violations("storage", &code_of("use crate::{home::write_file, terms::Terms};"));
    assert!(grouped.iter().any(|v| v.contains("storage (layer 2) uses terms")), "{grouped:?}");
    let sled = violations("exchange", &code_of("fn f(t: &sled::Tree) {}"));
    assert!(sled.iter().any(|v| v.contains("exchange uses sled")), "{sled:?}");
    let mut graph: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    graph.entry("audit".into()).or_default().insert("directory".into());
    graph.entry("directory".into()).or_default().insert("audit".into());
    assert_eq!(cycles(&graph), vec![vec!["audit".to_string(), "directory".into(), "audit".into()]]);
    // And what is allowed is not reported.
    let allowed = [
        ("terms", "use crate::exchange::Outgoing; // crate::app::Node in a comment"),
        ("app", "use crate::api::serve; use crate::peer::Peers;"),
        ("api", "use crate::app::Node;"),
        ("audit", "let a = Actor::Node; let k: NodeKeys; let s = \"crate::app\";"),
    ];
    for (module, code) in allowed {
        assert_eq!(violations(module, &code_of(code)), Vec::<String>::new(), "{module}: {code}");
    }
}
