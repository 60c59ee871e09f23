//! What the notebooks compile stays small and plain, and what 04 spells out is the recipe the
//! `mnist` command uses.

use mnist_helpers::config::{Schedule, TrainConfig};
use std::path::{Path, PathBuf};

mod notebook_cells;
use notebook_cells::code_cells;

/// The most lines of code the notebooks' crate may have (issue: a kernel compiles all of it).
/// 2,500 until the stop button (`stop.rs`) and the two-line panic report (`panics.rs`) came in,
/// about 250 lines; 2,800 until subnormal flushing (`subnormals.rs`) and the device probe
/// (`shapes::device_of`) came in, about 50 lines; 2,850 until the workspace's one epoch loop
/// (`train::Step`, `train::Run`, `progress::Report`, which the engine's step runs in too) and
/// legends placed clear of the lines, about 70; 2,950 until the stop button's one rule and its
/// watcher found without the environment, devices given instead of found by trial, and training
/// totals kept on the device, about 190; 3,100 until the lesson moved into the notebooks' cells
/// (`lesson.rs`: tables, bars and pictures of the tensors a cell computed, the checks that a
/// cell's result is the crate's, and `load_raw`), about 150; 3,340 until the stop watcher took
/// only its own process's presses on a shared machine (a socket pair found among the process's
/// descriptors, the sender's credentials checked), about 25; 3,160 once the functions that no
/// notebook, engine or command called were removed (about 180 lines); 3,520 once the exercises'
/// checks came in (`check.rs`, about 330 lines, and the charts' smaller PNGs). The crate
/// recompiles in about 13 s on the 2-core Intel Xeon (2026-12-05). The small-crate issue's
/// target, 2,600 for this crate and 07's together, is not reached: see docs/project.md.
const MAX_CODE_LINES: usize = 3_520;
/// The most for notebook 07's own crate (`explore`), which only 07's kernel compiles (470 until
/// the draw-a-digit page's weights travelled as int8).
const MAX_EXPLORE_LINES: usize = 500;
/// The most for both together: what 07's kernel compiles.
const MAX_KERNEL_LINES: usize = 4_010;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Lines of code in a Rust file: not blank, not a comment, not inside a `#[cfg(test)]` module.
fn code_lines(text: &str) -> usize {
    let (mut count, mut depth, mut skip_from, mut after_cfg_test) = (0, 0i64, None, false);
    for line in text.lines() {
        let s = line.trim();
        let opened = depth;
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        if let Some(start) = skip_from {
            if depth <= start {
                skip_from = None;
            }
            continue;
        }
        if after_cfg_test && s.starts_with("mod ") {
            after_cfg_test = false;
            skip_from = (depth > opened).then_some(opened);
            continue;
        }
        after_cfg_test = s == "#[cfg(test)]";
        if !(s.is_empty() || s.starts_with("//") || after_cfg_test) {
            count += 1;
        }
    }
    count
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn code_line_counter_skips_comments_blanks_and_tests() {
    let text =
        "//! doc\nfn a() {\n    1;\n}\n\n#[cfg(test)]\nmod tests {\n    fn b() {}\n}\nfn c() {}\n";
    assert_eq!(code_lines(text), 4);
}

/// Counts the code lines under `src` and checks them against `max` (and a floor that proves the
/// counter found the files).
fn assert_small(name: &str, src: &str, floor: usize, max: usize) {
    let total: usize = rust_files(&crate_dir().join(src))
        .iter()
        .map(|f| code_lines(&std::fs::read_to_string(f).unwrap()))
        .sum();
    println!("{name}: {total} lines of code");
    assert!(total > floor, "the counter found too little: {total}");
    assert!(total <= max, "{name}: {total} lines of code, at most {max}");
}

#[test]
fn the_notebook_crate_stays_small() {
    assert_small("mnist_helpers", "src", 1_000, MAX_CODE_LINES);
}

#[test]
fn notebook_07s_crate_stays_small() {
    assert_small("mnist_explore", "../explore/src", 100, MAX_EXPLORE_LINES);
}

#[test]
fn what_07s_kernel_compiles_stays_small() {
    let total: usize = ["src", "../explore/src"]
        .iter()
        .flat_map(|src| rust_files(&crate_dir().join(src)))
        .map(|f| code_lines(&std::fs::read_to_string(f).unwrap()))
        .sum();
    println!("mnist_helpers and mnist_explore: {total} lines of code");
    assert!(
        total <= MAX_KERNEL_LINES,
        "{total} lines of code, at most {MAX_KERNEL_LINES}"
    );
}

#[test]
fn docs_project_states_the_limits_checked_here() {
    let text = std::fs::read_to_string(crate_dir().join("../docs/project.md")).unwrap();
    let with_commas = |n: usize| match n >= 1000 {
        true => format!("{},{:03}", n / 1000, n % 1000),
        false => n.to_string(),
    };
    for max in [MAX_CODE_LINES, MAX_EXPLORE_LINES, MAX_KERNEL_LINES] {
        let stated = format!("at most {} lines of code", with_commas(max));
        assert!(
            text.contains(&stated),
            "docs/project.md does not say {stated:?}"
        );
    }
}

#[test]
fn the_notebook_crates_never_depend_on_the_engine() {
    // helpers/ is the bottom layer: it names neither crate built on it; explore/ never the engine.
    let forbidden: [(&str, &[&str]); 2] = [
        ("Cargo.toml", &["mnist_engine", "mnist_explore"]),
        ("../explore/Cargo.toml", &["mnist_engine"]),
    ];
    for (manifest, names) in forbidden {
        let text = std::fs::read_to_string(crate_dir().join(manifest)).unwrap();
        for name in names {
            assert!(!text.contains(name), "{manifest} names {name}");
        }
    }
}

/// The value of `field: VALUE,` in the `TrainConfig { ... }` literal that binds `name` in 04.
fn notebook_value(source: &str, name: &str, field: &str) -> Option<String> {
    let start = source.find(&format!("let {name} = TrainConfig {{"))?;
    let block = &source[start..start + source[start..].find('}')?];
    let line = block
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{field}:")))?;
    Some(
        line[field.len() + 1..]
            .trim()
            .trim_end_matches(',')
            .to_string(),
    )
}

#[test]
fn the_settings_04_shows_are_the_recipes() {
    let source = code_cells("04_training.ipynb").join("\n");
    for (name, recipe) in [
        ("mlp_config", TrainConfig::mlp_recipe()),
        ("cnn_config", TrainConfig::cnn_recipe()),
    ] {
        let value = |field| notebook_value(&source, name, field);
        let number = |field| value(field).and_then(|v| v.parse::<f64>().ok());
        let shown = TrainConfig {
            epochs: number("epochs").map_or(recipe.epochs, |v| v as usize),
            batch_size: number("batch_size").map_or(recipe.batch_size, |v| v as usize),
            learning_rate: number("learning_rate").unwrap_or(recipe.learning_rate),
            validation_fraction: number("validation_fraction")
                .unwrap_or(recipe.validation_fraction),
            seed: number("seed").map_or(recipe.seed, |v| v as u64),
            schedule: match value("schedule").as_deref() {
                Some("Schedule::OneCycle") => Schedule::OneCycle,
                Some(_) => Schedule::Constant,
                None => recipe.schedule,
            },
            ..recipe.clone()
        };
        assert!(
            value("epochs").is_some(),
            "04 should spell out {name}'s epochs"
        );
        assert_eq!(shown, recipe, "04's {name} and the crate's recipe disagree");
    }
}
