//! `mnist`: fetch and verify the data, train, evaluate and predict from the command line.

use anyhow::{bail, Context, Result};
use lexopt::prelude::*;
use mnist_engine::digit::load_digit_png;
use mnist_engine::load::load_mnist;
use mnist_engine::recipe::Recipe;
use mnist_engine::run::train_and_save;
use mnist_engine::weights::load_network;
use mnist_engine::{fetch, ModelKind};
use mnist_helpers::artifacts::artifacts_dir;
use mnist_helpers::checksum::verify;
use mnist_helpers::config::project_path;
use mnist_helpers::data::DEFAULT_DATA_DIR;
use mnist_helpers::metrics::{predict_in_batches, Predictions};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  mnist fetch    [--data-dir DIR]
  mnist verify   [--data-dir DIR]
  mnist train    --model mlp|cnn|deep-cnn [--epochs N] [--batch-size B] [--lr LR] [--seed S]
                 [--train-limit N] [--data-dir DIR] [--out DIR] [--json]
  mnist evaluate --weights FILE [--data-dir DIR] [--json]
  mnist predict  --weights FILE IMAGE.png...";

/// Asked for help: print the usage and succeed.
#[derive(Debug)]
struct HelpRequested;

impl std::fmt::Display for HelpRequested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(USAGE)
    }
}

impl std::error::Error for HelpRequested {}

/// Options shared by the subcommands, filled from the command line.
#[derive(Debug, Default)]
struct Options {
    data_dir: Option<PathBuf>,
    out: Option<PathBuf>,
    weights: Option<PathBuf>,
    model: Option<ModelKind>,
    epochs: Option<usize>,
    batch_size: Option<usize>,
    lr: Option<f64>,
    seed: Option<u64>,
    train_limit: Option<usize>,
    json: bool,
    images: Vec<PathBuf>,
}

/// Parses the value of `--flag` into `T`, naming the flag when it is not valid.
fn value<T: std::str::FromStr>(parser: &mut lexopt::Parser, flag: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let raw = parser
        .value()
        .with_context(|| format!("{flag} needs a value"))?;
    let text = raw
        .string()
        .map_err(|_| anyhow::anyhow!("{flag}: value is not valid text"))?;
    text.parse()
        .map_err(|e| anyhow::anyhow!("{flag} {text:?}: {e}"))
}

/// Parses everything after the subcommand.
fn parse_options(parser: &mut lexopt::Parser) -> Result<Options> {
    let mut o = Options::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("data-dir") => o.data_dir = Some(value(parser, "--data-dir")?),
            Long("out") => o.out = Some(value(parser, "--out")?),
            Long("weights") => o.weights = Some(value(parser, "--weights")?),
            Long("model") => o.model = Some(value(parser, "--model")?),
            Long("epochs") => o.epochs = Some(value(parser, "--epochs")?),
            Long("batch-size") => o.batch_size = Some(value(parser, "--batch-size")?),
            Long("lr") => o.lr = Some(value(parser, "--lr")?),
            Long("seed") => o.seed = Some(value(parser, "--seed")?),
            Long("train-limit") => o.train_limit = Some(value(parser, "--train-limit")?),
            Long("json") => o.json = true,
            Long("help") | Short('h') => return Err(HelpRequested.into()),
            Value(v) => o.images.push(PathBuf::from(v)),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(o)
}

impl Options {
    /// The data directory, defaulting to `data/mnist`.
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| project_path(DEFAULT_DATA_DIR))
    }

    /// Refuses positional arguments where a command takes none.
    fn no_images(&self, command: &str) -> Result<()> {
        match self.images.first() {
            Some(extra) => bail!(
                "{command}: unexpected argument {:?}",
                extra.display().to_string()
            ),
            None => Ok(()),
        }
    }

    /// The training recipe: defaults, then environment, then flags.
    fn recipe(&self) -> Result<Recipe> {
        let model = self
            .model
            .context("train needs --model mlp, cnn or deep-cnn")?;
        let mut recipe = Recipe::from_env(model)?;
        let cfg = &mut recipe.train;
        cfg.epochs = self.epochs.unwrap_or(cfg.epochs);
        cfg.batch_size = self.batch_size.unwrap_or(cfg.batch_size);
        cfg.learning_rate = self.lr.unwrap_or(cfg.learning_rate);
        cfg.seed = self.seed.unwrap_or(cfg.seed);
        cfg.train_limit = self.train_limit.or(cfg.train_limit);
        cfg.validate()?;
        Ok(recipe)
    }
}

/// The network's predictions on the test set, in its own evaluation batches.
fn test_predictions(
    net: &mnist_engine::Network,
    data: &mnist_helpers::Mnist,
) -> Result<Predictions> {
    predict_in_batches(net, &data.test, net.eval_batch(), net.vs.device())
}

/// `mnist fetch`: download (if needed) and verify.
fn cmd_fetch(o: &Options) -> Result<()> {
    let dir = o.data_dir();
    let downloaded = fetch::fetch(&dir)?;
    let what = if downloaded {
        "fetched and verified"
    } else {
        "already present and verified"
    };
    println!("MNIST {what} in {}", dir.display());
    Ok(())
}

/// `mnist verify`: check the four files' MD5s.
fn cmd_verify(o: &Options) -> Result<()> {
    for path in verify(&o.data_dir())? {
        println!("ok  {}", path.display());
    }
    Ok(())
}

/// `mnist train`: train, report test accuracy, save weights and history.
fn cmd_train(o: &Options) -> Result<()> {
    let cfg = o.recipe()?;
    let data = load_mnist(&o.data_dir())?;
    let out = o.out.clone().unwrap_or_else(artifacts_dir);
    let run = train_and_save(&cfg, &data, &out)?;
    let test_accuracy = test_predictions(&run.net, &data)?.accuracy();
    let seconds = run.history.train_seconds();
    println!(
        "test accuracy {test_accuracy:.2}% after {} epochs ({seconds:.1} s); saved {}",
        cfg.train.epochs,
        run.weights.display()
    );
    if o.json {
        let report = json!({
            "model": cfg.model, "test_accuracy": test_accuracy, "epochs": cfg.train.epochs,
            "train_seconds": seconds, "history": run.history.epochs,
            "config": cfg, "weights": run.weights, "history_file": run.history_file,
        });
        println!("{report}");
    }
    Ok(())
}

/// `mnist evaluate`: accuracy and per-class scores of saved weights on the test set.
fn cmd_evaluate(o: &Options) -> Result<()> {
    o.no_images("evaluate")?;
    let weights = o.weights.clone().context("evaluate needs --weights FILE")?;
    let net = load_network(&weights, mnist_helpers::device())?;
    let data = load_mnist(&o.data_dir())?;
    let preds = test_predictions(&net, &data)?;
    let per_class = preds.confusion_matrix().per_class();
    println!(
        "{} test accuracy {:.2}% on {} images",
        net.kind(),
        preds.accuracy(),
        preds.len()
    );
    for m in &per_class {
        println!(
            "  digit {}: precision {:.4} recall {:.4} f1 {:.4} support {}",
            m.digit, m.precision, m.recall, m.f1, m.support
        );
    }
    if o.json {
        let cm = preds.confusion_matrix().counts;
        println!(
            "{}",
            json!({"model": net.kind(), "test_accuracy": preds.accuracy(), "per_class": per_class, "confusion_matrix": cm})
        );
    }
    Ok(())
}

/// `mnist predict`: the digit in each PNG. Reports every image, fails if any could not be read.
fn cmd_predict(o: &Options) -> Result<()> {
    let weights = o.weights.clone().context("predict needs --weights FILE")?;
    if o.images.is_empty() {
        bail!("predict needs at least one IMAGE.png");
    }
    let net = load_network(&weights, mnist_helpers::device())?;
    let mut failures = 0;
    for path in &o.images {
        match load_digit_png(path).map(|x| net.probabilities(&x).squeeze_dim(0)) {
            Ok(p) => {
                let digit = p.argmax(0, false).int64_value(&[]);
                println!(
                    "{}: {digit} (p={:.3})",
                    path.display(),
                    p.double_value(&[digit])
                );
            }
            Err(e) => {
                failures += 1;
                eprintln!("error: {}", one_line(&e));
            }
        }
    }
    if failures > 0 {
        bail!("{failures} of {} images could not be read", o.images.len());
    }
    Ok(())
}

/// An error chain on one line (libtorch messages can carry a C++ backtrace after the first line).
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or("unknown error")
        .to_string()
}

/// Dispatches the subcommand.
fn run() -> Result<()> {
    let mut parser = lexopt::Parser::from_env();
    let command = match parser.next()? {
        Some(Value(v)) => v
            .string()
            .map_err(|_| anyhow::anyhow!("command is not valid text"))?,
        Some(Long("help") | Short('h')) => return Err(HelpRequested.into()),
        None => bail!(
            "no command given: expected fetch, verify, train, evaluate or predict (see --help)"
        ),
        Some(other) => return Err(other.unexpected().into()),
    };
    let options = parse_options(&mut parser)?;
    match command.as_str() {
        "fetch" => options.no_images("fetch").and_then(|_| cmd_fetch(&options)),
        "verify" => options
            .no_images("verify")
            .and_then(|_| cmd_verify(&options)),
        "train" => options.no_images("train").and_then(|_| cmd_train(&options)),
        "evaluate" => cmd_evaluate(&options),
        "predict" => cmd_predict(&options),
        other => {
            bail!("unknown command {other:?}: expected fetch, verify, train, evaluate or predict")
        }
    }
}

fn main() -> ExitCode {
    // Piped into `head`, end quietly like other command-line tools instead of failing to print.
    // SAFETY: restoring the default action of one signal before any thread starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    mnist_engine::raw::keep_freed_memory();
    std::panic::set_hook(Box::new(|info| {
        eprintln!("internal error: {}", info.to_string().replace('\n', " "))
    }));
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<HelpRequested>() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
