//! `mnist-bench`, our side of `./scripts/bench.sh`: each task prints one JSON object with the
//! figures the comparison needs, and `chart` draws the ratios. Short runs (a few seconds).

use serde_json::Value;
use std::process::Command;

/// Runs `mnist-bench` with `args` on one thread and returns the JSON of its last stdout line.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mnist-bench"))
        .args(args)
        .env("BENCH_THREADS", "1")
        .output()
        .expect("run mnist-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("valid JSON")
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn seed_task_reports_epochs_accuracy_and_memory() {
    let r = bench(&["seed", "--epochs", "1"]);
    assert_eq!(
        (r["framework"].as_str(), r["threads"].as_i64()),
        (Some("ours"), Some(1))
    );
    let seconds = r["epoch_seconds"].as_array().unwrap();
    assert_eq!(seconds.len(), 1);
    assert!(seconds[0].as_f64().unwrap() > 0.0);
    let accuracy = r["test_accuracy"].as_f64().unwrap();
    assert!(
        (90.0..100.0).contains(&accuracy),
        "one epoch of the seed recipe: {accuracy}%"
    );
    assert!(
        r["peak_rss_mib"].as_f64().unwrap() > 100.0,
        "holds MNIST in memory"
    );
}

#[test]
#[ignore = "full tier: real MNIST (./scripts/test.sh)"]
fn load_and_eval_tasks_report_times() {
    let load = bench(&["load", "--repeats", "1"]);
    assert!(load["load_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(load["images"], 70_000);
    let eval = bench(&["eval", "--repeats", "1"]);
    assert!(eval["eval_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn chart_draws_a_png_and_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let (ratios, png) = (dir.path().join("r.json"), dir.path().join("r.png"));
    std::fs::write(
        &ratios,
        r#"[{"label": "a", "ratio": 0.3}, {"label": "b", "ratio": 0.8}]"#,
    )
    .unwrap();
    let run = |input: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_mnist-bench"))
            .args(["chart", input.to_str().unwrap(), png.to_str().unwrap()])
            .output()
            .unwrap()
    };
    assert!(run(&ratios).status.success());
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    std::fs::write(&ratios, "not json").unwrap();
    let bad = run(&ratios);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a JSON list"));
}
