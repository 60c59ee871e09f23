//! Each fact of the project is written in one place, which the rest reads (issue 35): MNIST's
//! MD5s (helpers/src/mnist.md5), the kernel's name and display name (scripts/course.py), the list
//! of notebooks (the notebooks/ folder itself). Searched in the tracked files (`git ls-files`):
//! a copy that is not a git checkout cannot decide, and says "skipped" (see `common::skip`).

use std::path::Path;

mod common;

/// A one-line fact, where it is written, and the files that may quote it besides, with why.
struct Fact {
    text: String,
    source: &'static str,
    quoted_in: fn(&str) -> bool,
}

/// The value of `NAME = "..."` in scripts/course.py.
fn course_constant(root: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(root.join("scripts/course.py")).unwrap();
    let prefix = format!("{name} = \"");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("scripts/course.py has no {name}"));
    line[prefix.len()..].trim_end_matches('"').to_string()
}

/// Notebooks (the learner's, and the exercises' sources in solutions/) name their kernel in their
/// metadata, as Jupyter requires (checked equal below).
fn notebook(file: &str) -> bool {
    (file.starts_with("notebooks/") || file.starts_with("solutions/")) && file.ends_with(".ipynb")
}

/// Notebooks, and the readers' prose that says which kernel to pick.
fn notebook_or_prose(file: &str) -> bool {
    notebook(file) || file.ends_with(".md")
}

fn nowhere(_: &str) -> bool {
    false
}

fn facts(root: &Path) -> Vec<Fact> {
    let mut facts: Vec<Fact> = mnist_helpers::checksum::expected_md5s()
        .map(|(_, md5)| Fact {
            text: md5.to_string(),
            source: "helpers/src/mnist.md5",
            quoted_in: nowhere,
        })
        .collect();
    facts.push(Fact {
        text: format!("\"{}\"", course_constant(root, "KERNEL")),
        source: "scripts/course.py",
        quoted_in: notebook,
    });
    facts.push(Fact {
        text: course_constant(root, "KERNEL_DISPLAY_NAME"),
        source: "scripts/course.py",
        quoted_in: notebook_or_prose,
    });
    facts
}

/// The text of a tracked file, None for binary files (pictures) and files the checkout lacks.
fn text_of(root: &Path, file: &str) -> Option<String> {
    String::from_utf8(std::fs::read(root.join(file)).ok()?).ok()
}

/// The files that hold `text`, besides those it may be quoted in.
fn holders(root: &Path, files: &[String], fact: &Fact) -> Vec<String> {
    files
        .iter()
        .filter(|f| !(fact.quoted_in)(f))
        .filter(|f| text_of(root, f).is_some_and(|t| t.contains(&fact.text)))
        .cloned()
        .collect()
}

/// Files that hold a table with a row per notebook (a fact of each notebook, not the list), with
/// why they cannot drift from the folder.
const PER_NOTEBOOK: [(&str, &str); 3] = [
    (
        "scripts/run_notebooks.py",
        "OUTPUTS: a notebook without a row is reported",
    ),
    (
        "scripts/notebook_figures.py",
        "STATED: figures each notebook states",
    ),
    (
        "docs/figures.json",
        "measured per notebook, written by scripts/docs_figures.py",
    ),
];

mod git_tracked {
    use super::*;

    /// The tracked files, or None (and "skipped" said) where they cannot be listed.
    fn tracked(root: &Path) -> Option<Vec<String>> {
        match common::tracked_files(root) {
            Ok(files) => Some(files),
            Err(why) => {
                common::skip(&why);
                None
            }
        }
    }

    #[test]
    fn each_fact_is_written_in_one_file() {
        let root = common::project_root();
        let Some(files) = tracked(&root) else { return };
        let mut wrong = Vec::new();
        for fact in facts(&root) {
            let found = holders(&root, &files, &fact);
            if found != [fact.source] {
                wrong.push(format!(
                    "{:?} should be written only in {}, found in {found:?}",
                    fact.text, fact.source
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn notebooks_name_the_courses_kernel() {
        let root = common::project_root();
        let Some(files) = tracked(&root) else { return };
        let (name, display) = (
            course_constant(&root, "KERNEL"),
            course_constant(&root, "KERNEL_DISPLAY_NAME"),
        );
        for file in files.iter().filter(|f| notebook(f)) {
            let book: serde_json::Value =
                serde_json::from_str(&text_of(&root, file).unwrap()).unwrap();
            let spec = &book["metadata"]["kernelspec"];
            assert_eq!(spec["name"], name.as_str(), "{file}");
            assert_eq!(spec["display_name"], display.as_str(), "{file}");
        }
    }

    /// The list of notebooks is the notebooks/ folder: no other file names them all, but for
    /// tables with a row per notebook ([`PER_NOTEBOOK`]) and the readers' prose.
    #[test]
    fn no_file_lists_the_notebooks() {
        let root = common::project_root();
        let Some(files) = tracked(&root) else { return };
        let stems: Vec<String> = files
            .iter()
            .filter(|f| notebook(f) && f.starts_with("notebooks/"))
            .map(|f| {
                f["notebooks/".len()..]
                    .trim_end_matches(".ipynb")
                    .to_string()
            })
            .collect();
        assert!(stems.len() >= 2, "notebooks: {stems:?}");
        let listing: Vec<&String> = files
            .iter()
            .filter(|f| !notebook(f) && !f.ends_with(".md"))
            .filter(|f| !PER_NOTEBOOK.iter().any(|(p, _)| p == f))
            .filter(|f| text_of(&root, f).is_some_and(|t| stems.iter().all(|s| t.contains(s))))
            .collect();
        assert!(
            listing.is_empty(),
            "these files list every notebook; read the notebooks/ folder instead \
             (scripts/course.py's notebooks(), or the tests' notebook_cells::notebooks()): {listing:?}"
        );
    }
}
