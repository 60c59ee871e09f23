//! The recipes' promises, through the `mnist` command and its JSON: MLP >= 97.5% after the seed
//! recipe's 5 epochs, CNN >= 99.0% with its defaults. Full training runs: about a minute and a half.

mod common;

use common::{assert_one_line_error, data_dir, mnist, mnist_with_env};
use serde_json::Value;

/// Trains `model` with its defaults into a temp dir; returns the JSON report.
fn train(model: &str) -> Value {
    let out = tempfile::tempdir().unwrap();
    let data = data_dir();
    let args = [
        "train",
        "--model",
        model,
        "--json",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ];
    let run = mnist(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    let report: Value =
        serde_json::from_str(stdout.lines().last().unwrap()).expect("JSON on the last line");
    assert!(out.path().join(format!("{model}.safetensors")).is_file());
    report
}

/// Checks the JSON report's shape.
fn check_report(report: &Value, epochs: u64) {
    assert_eq!(report["epochs"], epochs);
    assert!(report["train_seconds"].as_f64().unwrap() > 0.0);
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len() as u64, epochs);
    for key in [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
    ] {
        assert!(history[0][key].is_number(), "history entries need {key}");
    }
}

#[test]
#[ignore = "full tier: the mnist command on real MNIST (./scripts/test.sh)"]
fn mlp_seed_recipe_reaches_97_5_percent() {
    let report = train("mlp");
    check_report(&report, 5);
    let acc = report["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 97.5, "MLP test accuracy {acc}%");
}

#[test]
#[ignore = "full tier: the mnist command on real MNIST (./scripts/test.sh)"]
fn cnn_defaults_reach_99_percent() {
    let report = train("cnn");
    let acc = report["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 99.0, "CNN test accuracy {acc}%");
}

#[test]
#[ignore = "full tier: the mnist command on real MNIST (./scripts/test.sh)"]
fn bad_flags_fail_in_one_line() {
    let cases: [(&[&str], &str); 6] = [
        (&["train", "--model", "resnet"], "unknown model"),
        (
            &["train", "--model", "mlp", "--epochs", "0"],
            "epochs must be",
        ),
        (
            &["train", "--model", "mlp", "--batch-size", "0"],
            "batch size must be",
        ),
        (
            &["train", "--model", "mlp", "--lr", "NaN"],
            "learning rate must be",
        ),
        (
            &["train", "--model", "mlp", "--lr", "-1"],
            "learning rate must be",
        ),
        (&["frobnicate"], "unknown command"),
    ];
    for (args, needle) in cases {
        assert_one_line_error(&mnist(args), needle);
    }
    assert_one_line_error(
        &mnist(&["evaluate", "--weights", "/nonexistent/w.safetensors"]),
        "missing",
    );
    assert_one_line_error(&mnist(&["train"]), "--model");
}

#[test]
#[ignore = "full tier: the mnist command on real MNIST (./scripts/test.sh)"]
fn deep_cnn_trains_in_the_precision_asked_for_and_refuses_a_bad_one() {
    let data = data_dir();
    for (precision, said) in [("bf16", "bfloat16"), ("f32", "float32")] {
        let out = tempfile::tempdir().unwrap();
        let args = [
            "train",
            "--model",
            "deep-cnn",
            "--epochs",
            "2",
            "--train-limit",
            "3000",
            "--json",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ];
        let run = mnist_with_env(&args, &[("MNIST_PRECISION", precision)]);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(
            stdout.contains(&format!("training pass in {said}")),
            "{stdout}"
        );
        let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        let acc = report["test_accuracy"].as_f64().unwrap();
        assert!(acc > 90.0, "{precision}: 3,000 images, two epochs: {acc}%");
    }
    let bad = mnist_with_env(
        &["train", "--model", "deep-cnn"],
        &[("MNIST_PRECISION", "half")],
    );
    assert_one_line_error(&bad, "MNIST_PRECISION=\"half\"");
}

#[test]
#[ignore = "full tier: the mnist command on real MNIST (./scripts/test.sh)"]
fn auto_precision_measures_once_and_prints_both_step_times() {
    // auto: both step times measured and printed (into a cache of the test's own), then read back
    let data = data_dir();
    let cache = tempfile::tempdir().unwrap();
    let cache_file = cache.path().join("precision.json");
    let env = [("MNIST_PRECISION_CACHE", cache_file.to_str().unwrap())];
    let out = tempfile::tempdir().unwrap();
    let args = [
        "train",
        "--model",
        "deep-cnn",
        "--epochs",
        "1",
        "--train-limit",
        "600",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ];
    for when in ["measured now", "measured earlier on this machine"] {
        let run = mnist_with_env(&args, &env);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{stdout}");
        let line = stdout.lines().find(|l| l.contains("training pass in"));
        let line = line.unwrap_or_else(|| panic!("no precision line: {stdout}"));
        if line.contains("no native bfloat16") {
            return; // this CPU: float32 without measuring
        }
        for part in ["float32 ", "bfloat16 ", " ms per training step", when] {
            assert!(line.contains(part), "{part:?} missing: {line}");
        }
    }
    assert!(cache_file.is_file());
}
