//! A learner's copy of the course (scripts/hub/course_copy.py, run by the image's entrypoint at
//! each container start): new notebooks arrive, unedited ones follow a course update, edited ones
//! are kept with the update beside them.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

/// A notebook with one markdown cell and one code cell, and optionally an output.
fn notebook(code: &str, output: Option<&str>) -> String {
    let outputs = output
        .map(|o| format!(r#"[{{"output_type": "stream", "name": "stdout", "text": "{o}"}}]"#))
        .unwrap_or_else(|| "[]".into());
    format!(
        r#"{{"cells": [{{"cell_type": "markdown", "metadata": {{}}, "source": ["Text"]}},
        {{"cell_type": "code", "metadata": {{}}, "execution_count": null, "outputs": {outputs},
          "source": ["{code}"]}}], "metadata": {{}}, "nbformat": 4, "nbformat_minor": 5}}"#
    )
}

/// Runs one of the class's scripts (scripts/hub/NAME) with two folders; returns what it printed
/// (standard output, then standard error).
fn run_script(name: &str, a: &Path, b: &Path) -> String {
    let out = Command::new(common::python())
        .arg(common::project_root().join("scripts/hub").join(name))
        .args([a, b])
        .output()
        .expect("run the script");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: {err}");
    format!("{}{err}", String::from_utf8_lossy(&out.stdout))
}

/// Runs the copy as a learner's server start does; returns what it said.
fn deliver(course: &Path, learner: &Path) -> String {
    run_script("course_copy.py", course, learner)
}

#[test]
fn updates_reach_learners_without_overwriting_their_edits() {
    let course = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let learner = home.path().join("mnist");
    let nbs = course.path().join("notebooks");
    fs::create_dir_all(&nbs).unwrap();
    for dir in ["helpers", "explore", "docs"] {
        fs::create_dir_all(course.path().join(dir)).unwrap();
    }
    fs::write(nbs.join("01.ipynb"), notebook("let a = 1;", None)).unwrap();
    fs::write(nbs.join("02.ipynb"), notebook("let b = 2;", None)).unwrap();
    fs::write(nbs.join("03.ipynb"), notebook("let c = 3;", None)).unwrap();
    let said = deliver(course.path(), &learner);
    assert_eq!(said.matches("the course's version").count(), 3, "{said}");
    let mine = learner.join("notebooks");
    assert!(learner.join("helpers").is_symlink() && learner.join("artifacts").is_dir());
    // The learner runs 01 (outputs only), edits 02, leaves 03; the course changes all three.
    fs::write(mine.join("01.ipynb"), notebook("let a = 1;", Some("ran"))).unwrap();
    fs::write(mine.join("02.ipynb"), notebook("let b = 20; // mine", None)).unwrap();
    fs::write(nbs.join("01.ipynb"), notebook("let a = 10;", None)).unwrap();
    fs::write(nbs.join("02.ipynb"), notebook("let b = 200;", None)).unwrap();
    fs::write(nbs.join("03.ipynb"), notebook("let c = 300;", None)).unwrap();
    let said = deliver(course.path(), &learner);
    let read = |p: &Path| fs::read_to_string(p).unwrap();
    assert!(
        read(&mine.join("01.ipynb")).contains("let a = 10;"),
        "{said}"
    );
    assert!(
        read(&mine.join("03.ipynb")).contains("let c = 300;"),
        "{said}"
    );
    assert!(read(&mine.join("02.ipynb")).contains("// mine"), "{said}");
    assert!(
        read(&mine.join("02.updated.ipynb")).contains("let b = 200;"),
        "{said}"
    );
    assert!(said.contains("02.ipynb: kept your edits"), "{said}");
    // A notebook the learner broke is left alone; the server still starts.
    fs::write(mine.join("03.ipynb"), "{not json").unwrap();
    fs::write(nbs.join("03.ipynb"), notebook("let c = 3000;", None)).unwrap();
    let said = deliver(course.path(), &learner);
    assert_eq!(read(&mine.join("03.ipynb")), "{not json", "{said}");
    assert!(
        read(&mine.join("03.updated.ipynb")).contains("3000"),
        "{said}"
    );
    // Nothing new: nothing said, nothing touched.
    assert_eq!(
        deliver(course.path(), &learner).matches("course's").count(),
        0
    );
    assert!(read(&mine.join("02.ipynb")).contains("// mine"));
}
