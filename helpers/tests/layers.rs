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

/// The modules of this crate that `source` names as `crate::name`, outside its test module and
/// its comments.
fn uses(source: &str, modules: &[String]) -> Vec<String> {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap();
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found: Vec<String> = modules
        .iter()
        .filter(|m| {
            let direct =
                code.contains(&format!("crate::{m}::")) || code.contains(&format!("crate::{m};"));
            let grouped = code.split("use crate::{").skip(1).any(|g| {
                let group = g.split('}').next().unwrap_or("");
                group
                    .split([',', ' ', '\n'])
                    .any(|w| w.trim() == m.as_str() || w.starts_with(&format!("{m}::")))
            });
            direct || grouped
        })
        .cloned()
        .collect();
    found.sort();
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
        for (i, module) in order.iter().enumerate() {
            let source = std::fs::read_to_string(dir.join(format!("{module}.rs"))).unwrap();
            for used in uses(&source, &order) {
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
    let modules = ["train".to_string(), "model".to_string(), "data".to_string()];
    let source = "use crate::{data::Split, model};\nfn f() { crate::train::fit(); }\n// crate::x\n";
    assert_eq!(uses(source, &modules), ["data", "model", "train"]);
    let tests_only = "fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::train::fit;\n}\n";
    assert!(uses(tests_only, &modules).is_empty());
}
