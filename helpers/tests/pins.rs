//! The setup's pins and environment.yml's cannot drift apart; torch matches what tch expects.

use std::collections::BTreeSet;

fn root_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `name==version` pins in a text, wherever they stand on a line (after `- ` in YAML).
fn pins(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_start_matches("- ")
                .trim()
        })
        .filter(|l| l.contains("==") && !l.contains(' '))
        .map(str::to_string)
        .collect()
}

#[test]
fn environment_yml_pins_match_requirements() {
    let setup = pins(&root_file("requirements.txt"));
    let conda = pins(&root_file("environment.yml"));
    assert!(setup.len() >= 4, "requirements.txt pins: {setup:?}");
    assert_eq!(
        setup, conda,
        "requirements.txt and environment.yml disagree"
    );
}

#[test]
fn torch_pin_is_the_one_tch_expects() {
    assert!(pins(&root_file("requirements.txt")).contains("torch==2.13.0"));
    let manifest = root_file("helpers/Cargo.toml");
    assert!(
        manifest.contains("tch = \"=0.26.0\""),
        "tch 0.26 expects torch 2.13.0; change both together"
    );
}

#[test]
fn evcxr_version_is_pinned_once() {
    let setup = root_file("scripts/setup.sh");
    let line = setup
        .lines()
        .find(|l| l.starts_with("EVCXR_VERSION="))
        .expect("EVCXR_VERSION in setup.sh");
    let version = line.trim_start_matches("EVCXR_VERSION=");
    assert!(
        root_file("environment.yml").contains(&format!("evcxr_jupyter {version}")),
        "environment.yml should name evcxr_jupyter {version}"
    );
}
