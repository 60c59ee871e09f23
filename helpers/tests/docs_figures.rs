//! The measured figures in README.md and docs/ agree with docs/figures.json, which a maintainer
//! fills from the scripts' latest outputs (`python scripts/docs_figures.py --update`): a figure
//! changed by hand, or a run's new figures not yet written into the text, fails here.

use std::process::Command;

mod common;
use common::{project_root, python};

#[test]
fn the_docs_quote_the_figures_file() {
    let out = Command::new(python())
        .arg(project_root().join("scripts/docs_figures.py"))
        .arg("--check")
        .output()
        .expect("run scripts/docs_figures.py --check");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_figure_marker_is_closed_and_known() {
    let figures = std::fs::read_to_string(project_root().join("docs/figures.json")).unwrap();
    let mut texts = vec![project_root().join("README.md")];
    for entry in std::fs::read_dir(project_root().join("docs"))
        .unwrap()
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "md") {
            texts.push(entry.path());
        }
    }
    for path in texts {
        let text = std::fs::read_to_string(&path).unwrap();
        let opened = text.matches("<!-- figure: ").count();
        let closed = text.matches("<!-- /figure -->").count();
        assert_eq!(
            opened,
            closed,
            "{}: unclosed figure markers",
            path.display()
        );
        for key in text.split("<!-- figure: ").skip(1) {
            let key = key.split([' ', '|', '.']).next().unwrap_or("");
            assert!(
                figures.contains(&format!("\"{key}\"")),
                "{}: figure {key} is not in docs/figures.json",
                path.display()
            );
        }
    }
}
