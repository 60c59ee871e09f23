//! Each crate's modules form layers: the order in its lib.rs doc ("Module order: a, b, ...") lists
//! every module, and each uses (`crate::name`, outside its tests) only modules after it, so that
//! no two modules depend on each other.

use std::path::{Path, PathBuf};

/// The crates of the workspace, by their source folders.
fn source_dirs() -> [PathBuf; 3] {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("src"),
        root.join("../engine/src"),
        root.join("../explore/src"),
    ]
}

/// The module names listed after "Module order:" in a lib.rs doc, up to the opening parenthesis.
fn declared_order(lib: &str) -> Vec<String> {
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ");
    let list = doc
        .split_once("Module order:")
        .expect("a Module order line")
        .1;
    let list = list.split('(').next().unwrap();
    list.split(',').map(|m| m.trim().to_string()).collect()
}

/// The names lib.rs re-exports at the crate root from one of its modules (`pub use data::Mnist;`,
/// `pub use data::{load_mnist, Split};`), each with its module.
fn root_exports(lib: &str) -> Vec<(String, String)> {
    let mut exports = Vec::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("pub use ")) {
        let Some((module, names)) = line.trim_end_matches(';').split_once("::") else {
            continue;
        };
        for name in names.trim_matches(['{', '}']).split(',') {
            exports.push((name.trim().to_string(), module.to_string()));
        }
    }
    exports
}

/// The text of each `use crate::{...}` group, to its matching brace (groups nest).
fn use_groups(code: &str) -> Vec<&str> {
    code.split("use crate::{")
        .skip(1)
        .map(|rest| {
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            &rest[..end]
        })
        .collect()
}

/// The first path segment of each item of a group, at its top level (`data` in `data::{A, B}`).
fn group_heads(group: &str) -> Vec<&str> {
    let (mut heads, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices().chain([(group.len(), ',')]) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(group[start..i].split("::").next().unwrap_or("").trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    heads
}

/// The modules of this crate that `source` names, outside its test module and its comments: as
/// `crate::name`, in a `use crate::{...}` group, or through a name the crate root re-exports
/// from it (`exports`, as [`root_exports`] reads them: `crate::device()` names `device`).
fn uses(source: &str, modules: &[String], exports: &[(String, String)]) -> Vec<String> {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap();
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut heads: Vec<&str> = code
        .split("crate::")
        .skip(1)
        .map(|rest| &rest[..rest.find(|c| !is_ident(c)).unwrap_or(rest.len())])
        .collect();
    heads.extend(use_groups(&code).into_iter().flat_map(group_heads));
    let module_of = |head: &str| -> Option<String> {
        let exported = exports.iter().find(|(name, _)| name == head);
        let module = exported.map_or(head, |(_, module)| module.as_str());
        modules.iter().find(|m| *m == module).cloned()
    };
    let mut found: Vec<String> = heads.into_iter().filter_map(module_of).collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn modules_use_only_the_modules_after_them() {
    for dir in source_dirs() {
        let lib = std::fs::read_to_string(dir.join("lib.rs")).unwrap();
        let order = declared_order(&lib);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".rs")
                    .map(str::to_string)
            })
            .filter(|m| m != "lib")
            .collect();
        files.sort();
        let mut listed = order.clone();
        listed.sort();
        assert_eq!(
            listed,
            files,
            "{}: the order must list every module",
            dir.display()
        );
        let exports = root_exports(&lib);
        for (i, module) in order.iter().enumerate() {
            let source = std::fs::read_to_string(dir.join(format!("{module}.rs"))).unwrap();
            for used in uses(&source, &order, &exports) {
                let at = order.iter().position(|m| *m == used).unwrap();
                assert!(
                    at > i,
                    "{}: {module} uses {used}, which comes before it in the module order",
                    dir.display()
                );
            }
        }
    }
}

#[test]
fn a_use_of_an_earlier_module_is_found() {
    let modules = ["train", "model", "data", "device", "config"].map(String::from);
    let exports = root_exports("pub use device::device;\npub use data::{load_mnist, Split};\n");
    let source =
        "use crate::{data::{Split, Mnist}, model};\nfn f() { crate::train::fit(); }\n// crate::x\n";
    assert_eq!(uses(source, &modules, &exports), ["data", "model", "train"]);
    let through_the_root =
        "use crate::{load_mnist, x::{y::{Z}}, config};\nfn g() { crate::device(); }";
    assert_eq!(
        uses(through_the_root, &modules, &exports),
        ["config", "data", "device"]
    );
    let tests_only = "fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::train::fit;\n}\n";
    assert!(uses(tests_only, &modules, &exports).is_empty());
}
