//! The exercises' checks. Each exercise cell starts as `your_answer()`, a placeholder of the
//! answer's type (an empty tensor, NaN, `i64::MIN`, `None`, a network without layers, an empty
//! picture), so that a notebook runs top to bottom before any exercise is done. Each check below
//! computes the expected answer with the crate (never from a figure written in a notebook),
//! prints "✓ right", "not done yet", or what is wrong with a hint, and returns whether the answer
//! is right; it never stops a cell. The graded copies assert that value (`solutions/`).

use crate::artifacts::Trained;
use crate::data::Split;
use crate::display::Png;
use crate::metrics::{predict, Predictions};
use crate::train::evaluate;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// A value that stands for "no answer yet": what an exercise cell starts with.
pub trait Placeholder {
    /// The placeholder of this type.
    fn placeholder() -> Self;
}

/// The placeholder an exercise cell starts with, of whatever type the cell asks for.
pub fn your_answer<T: Placeholder>() -> T {
    T::placeholder()
}

impl Placeholder for Tensor {
    fn placeholder() -> Self {
        Tensor::zeros([0], (Kind::Float, Device::Cpu))
    }
}
impl Placeholder for f64 {
    fn placeholder() -> Self {
        f64::NAN
    }
}
impl Placeholder for i64 {
    fn placeholder() -> Self {
        i64::MIN
    }
}
impl<T> Placeholder for Option<T> {
    fn placeholder() -> Self {
        None
    }
}
impl Placeholder for nn::SequentialT {
    fn placeholder() -> Self {
        nn::seq_t()
    }
}
impl Placeholder for Png {
    fn placeholder() -> Self {
        Png(Vec::new())
    }
}

/// What a check found: right (with a note), not done, or wrong (what, and a hint).
enum Verdict {
    Right(String),
    NotDone,
    Wrong(String, &'static str),
}

/// Prints the verdict on exercise `id`; true when the answer is right.
fn report(id: &str, verdict: Verdict) -> bool {
    let text = match &verdict {
        Verdict::Right(note) => format!("{id} ✓ right{note}"),
        Verdict::NotDone => format!("{id}: not done yet"),
        Verdict::Wrong(what, hint) => format!("{id} ✗ {what}\n     hint: {hint}"),
    };
    println!("{text}");
    #[cfg(test)]
    tests::LAST.with(|last| *last.borrow_mut() = text);
    matches!(verdict, Verdict::Right(_))
}

/// A whole-number answer against the crate's count.
fn count(answer: i64, expected: i64, hint: &'static str) -> Verdict {
    match answer {
        i64::MIN => Verdict::NotDone,
        a if a == expected => Verdict::Right(format!(": {a}")),
        a if (a - expected).abs() == 1 => Verdict::Wrong(format!("{a} is off by one"), hint),
        a => Verdict::Wrong(format!("{a} is not the count"), hint),
    }
}

/// A percentage against the crate's, to 0.01; a fraction (0-1) is named as the wrong unit.
fn percent(answer: f64, expected: f64, hint: &'static str) -> Verdict {
    if answer.is_nan() {
        return Verdict::NotDone;
    }
    if (answer * 100.0 - expected).abs() < 0.01 && expected > 1.0 {
        let what = format!("{answer:.4} is a fraction; the answer is in percent");
        return Verdict::Wrong(what, "multiply by 100");
    }
    match (answer - expected).abs() < 0.01 {
        true => Verdict::Right(format!(": {answer:.2}%")),
        false => Verdict::Wrong(format!("{answer:.2}% is not it"), hint),
    }
}

/// A tensor against the crate's: shape first, then values to `tol`, naming the first that differs.
fn same_tensor(answer: &Tensor, expected: &Tensor, tol: f64, hint: &'static str) -> Verdict {
    let answer = answer.detach().to_device(Device::Cpu).to_kind(Kind::Float);
    if answer.numel() == 0 {
        return Verdict::NotDone;
    }
    if answer.size() != expected.size() {
        let what = format!("shape {:?}, expected {:?}", answer.size(), expected.size());
        return Verdict::Wrong(
            what,
            "keep one value per input value: no transpose, no reduction",
        );
    }
    let far = (&answer - expected).abs().gt(tol).flatten(0, -1); // [numel], true where it differs
    let wrong = far.sum(Kind::Int64).int64_value(&[]);
    if wrong == 0 {
        return Verdict::Right(format!(": {:?}", answer.size()));
    }
    let first = far.to_kind(Kind::Int64).argmax(0, false).int64_value(&[]);
    let (a, e) = (answer.flatten(0, -1), expected.flatten(0, -1));
    let (a, e) = (a.double_value(&[first]), e.double_value(&[first]));
    Verdict::Wrong(
        format!(
            "{wrong} values differ; the first, at flat index {first}, is {a:.4} (expected {e:.4})"
        ),
        hint,
    )
}

/// 02.1: the training images standardised with their own mean and standard deviation.
pub fn standardised(answer: &Tensor, train_images: &Tensor) -> bool {
    let x = train_images.to_kind(Kind::Float);
    let expected = (&x - x.mean(Kind::Float)) / x.std(true); // [n, 1, 28, 28]
    let hint = "subtract the training images' mean, then divide by their standard deviation (std)";
    report("02.1", same_tensor(answer, &expected, 1e-4, hint))
}

/// 02.2: how many images of `split` show the digit `digit`.
pub fn digit_count(answer: i64, split: &Split, digit: i64) -> bool {
    let expected = split.labels.eq(digit).sum(Kind::Int64).int64_value(&[]);
    let hint = "compare the labels with the digit (`eq`) and add up the matches (`sum`)";
    report("02.2", count(answer, expected, hint))
}

/// 02.3: the share of pixels (percent) that are exactly 0, the background, in `images`.
pub fn background_share(answer: f64, images: &Tensor) -> bool {
    let zeros = images
        .eq(0.0)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    let hint = "mark the pixels equal to 0 (`eq(0.0)`), make them numbers, take the mean, x100";
    report("02.3", percent(answer, 100.0 * zeros, hint))
}

/// Trainable parameters of the network that `build` makes, and its output for two images.
fn built(build: impl FnOnce(&nn::Path) -> nn::SequentialT) -> (i64, Vec<i64>) {
    let vs = nn::VarStore::new(Device::Cpu);
    let net = build(&vs.root());
    let params = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    let images = Tensor::rand([2, 1, 28, 28], (Kind::Float, Device::Cpu)); // [2, 1, 28, 28]
    let out = crate::panics::quietly(|| net.forward_t(&images, false).size());
    (params, out.unwrap_or_default())
}

/// 03.1: the course MLP's trainable parameters, counted from its layer sizes.
pub fn mlp_parameters(answer: i64) -> bool {
    let (expected, _) = built(crate::model::mlp_model);
    let hint = "each dense layer has inputs x outputs weights, plus one bias per output";
    report("03.1", count(answer, expected, hint))
}

/// 03.2: `build` makes an MLP with two hidden layers of 64 units (ReLU) and ten outputs.
pub fn two_hidden_layers(build: impl FnOnce(&nn::Path) -> nn::SequentialT) -> bool {
    let (params, out) = built(build);
    let expected = 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10;
    let verdict = match (params, out.as_slice()) {
        (0, _) => Verdict::NotDone,
        (_, [2, 10]) if params == expected => Verdict::Right(format!(": {params} parameters")),
        (_, [2, 10]) => Verdict::Wrong(
            format!("{params} parameters; 784 -> 64 -> 64 -> 10 has {expected}"),
            "check each nn::linear's inputs and outputs",
        ),
        (_, shape) => Verdict::Wrong(
            format!("two images give shape {shape:?}, expected [2, 10]"),
            "flatten the images first and end with a layer of 10 outputs",
        ),
    };
    report("03.2", verdict)
}

/// 04.1: the untrained `net`'s mean loss on the first 1,000 training images, without dropout.
pub fn untrained_loss(answer: f64, net: &impl ModuleT, train: &Split, device: Device) -> bool {
    let verdict = match evaluate(net, &train.head(1000), device) {
        _ if answer.is_nan() => Verdict::NotDone,
        Ok((loss, _)) if (answer - loss).abs() < 1e-4 => Verdict::Right(format!(
            ": {answer:.4}, near ln 10 = {:.4}, as a guess over ten digits gives",
            10f64.ln()
        )),
        Ok(_) => Verdict::Wrong(
            format!("{answer:.4} is not that loss"),
            "the first 1,000 images, train flag false, cross_entropy_for_logits, double_value",
        ),
        Err(e) => Verdict::Wrong(format!("the network did not run: {e:#}"), "see the error"),
    };
    report("04.1", verdict)
}

/// 04.2: an MLP of another hidden width trained with `fit` as `cfg` says, against `base` (the
/// 128-unit MLP's history): its last validation accuracy is measured again.
pub fn other_width(
    run: &Option<(nn::VarStore, nn::SequentialT, crate::history::History)>,
    base: &crate::history::History,
    data: &crate::data::Mnist,
) -> bool {
    let Some((vs, net, history)) = run else {
        return report("04.2", Verdict::NotDone);
    };
    let width = vs.variables().get("fc1.weight").map(|w| w.size()[0]);
    let last = |h: &crate::history::History| h.epochs.last().map_or(f64::NAN, |e| e.val_accuracy);
    let (_, val) = match data
        .train
        .train_validation(base.config.validation_fraction, base.config.seed)
    {
        Ok(split) => split,
        Err(e) => return report("04.2", Verdict::Wrong(format!("{e:#}"), "see the error")),
    };
    let measured = evaluate(net, &val, vs.device()).map_or(f64::NAN, |m| m.1);
    let verdict = match width {
        None => Verdict::Wrong(
            "the network has no layer named fc1".into(),
            "name its first layer fc1 (p / \"fc1\"), as mlp_model does",
        ),
        Some(128) => Verdict::Wrong(
            "the first layer fc1 has 128 units, as the course's MLP".into(),
            "give fc1 another width than 128",
        ),
        _ if !history.finished() || (measured - last(history)).abs() > 0.01 => Verdict::Wrong(
            "the history is not of this network's finished run".into(),
            "train the network you return with fit, as the MLP was, and return its history",
        ),
        Some(w) => Verdict::Right(format!(
            ": {w} units reach {:.2}% validation accuracy, 128 units {:.2}%",
            last(history),
            last(base)
        )),
    };
    report("04.2", verdict)
}

/// The crate's predictions of `net` on `test`, handed to `verdict`; an error is reported as such.
fn with_predictions(
    id: &str,
    net: &Trained,
    test: &Split,
    verdict: impl FnOnce(&Predictions) -> Verdict,
) -> bool {
    match predict(net, test, net.device()) {
        Ok(p) => report(id, verdict(&p)),
        Err(e) => report(
            id,
            Verdict::Wrong(format!("{e:#}"), "the check could not predict"),
        ),
    }
}

/// 05.1: `net`'s top-2 accuracy on `test` (percent): how often the label is one of its two
/// highest logits.
pub fn top2_accuracy(answer: f64, net: &Trained, test: &Split) -> bool {
    with_predictions("05.1", net, test, |p| top2_verdict(answer, p))
}

fn top2_verdict(answer: f64, preds: &Predictions) -> Verdict {
    let top2 = preds.probabilities.topk(2, -1, true, true).1; // [n, 2]
    let labels = Tensor::from_slice(&preds.labels).unsqueeze(1); // [n, 1]
    let hit = top2
        .eq_tensor(&labels)
        .any_dim(1, false)
        .to_kind(Kind::Float); // [n]
    let expected = 100.0 * hit.mean(Kind::Float).double_value(&[]);
    let hint = "topk(2, -1, true, true) gives the two best digits; compare them with the labels";
    percent(answer, expected, hint)
}

/// 05.2: how many test images of digit `truth` `net` read as `read_as`.
pub fn confusion_entry(answer: i64, net: &Trained, test: &Split, truth: i64, read_as: i64) -> bool {
    with_predictions("05.2", net, test, |p| {
        confusion_verdict(answer, p, truth, read_as)
    })
}

fn confusion_verdict(answer: i64, p: &Predictions, truth: i64, read_as: i64) -> Verdict {
    let expected = p.confusion_matrix().counts[truth as usize][read_as as usize] as i64;
    let hint = "count the images whose label is the one digit and whose prediction the other";
    count(answer, expected, hint)
}

/// 05.3: `net`'s F1 score (percent) for `digit`: the harmonic mean of precision and recall.
pub fn f1_score(answer: f64, net: &Trained, test: &Split, digit: i64) -> bool {
    with_predictions("05.3", net, test, |p| f1_verdict(answer, p, digit))
}

fn f1_verdict(answer: f64, p: &Predictions, digit: i64) -> Verdict {
    let expected = 100.0 * p.confusion_matrix().per_class()[digit as usize].f1;
    let hint = "2 x precision x recall / (precision + recall), from the digit's entries";
    percent(answer, expected, hint)
}

/// 06.1: the test image the network answered right with the lowest confidence.
pub fn least_confident_right(answer: i64, preds: &Predictions) -> bool {
    let right = (0..preds.len()).filter(|&i| preds.labels[i] == preds.predicted[i]);
    let expected = right.min_by(|&a, &b| preds.confidence[a].total_cmp(&preds.confidence[b]));
    let hint = "keep the right answers, then take the position of the smallest confidence";
    report(
        "06.1",
        count(answer, expected.map_or(-1, |i| i as i64), hint),
    )
}

/// 06.3: how many test images both networks get wrong.
pub fn both_wrong(answer: i64, first: &Predictions, second: &Predictions) -> bool {
    let wrong = |p: &Predictions, i: usize| p.labels[i] != p.predicted[i];
    let expected = (0..first.len())
        .filter(|&i| wrong(first, i) && wrong(second, i))
        .count();
    let hint = "mark each network's mistakes, and count the images marked twice (`logical_and`)";
    report("06.3", count(answer, expected as i64, hint))
}

/// 06.2: the digit the network gives most often as a wrong answer.
pub fn most_wrongly_predicted(answer: i64, preds: &Predictions) -> bool {
    let counts = preds.confusion_matrix().counts;
    let wrongly = |d: usize| {
        (0..10)
            .filter(|&t| t != d)
            .map(|t| counts[t][d])
            .sum::<u64>()
    };
    let expected = (0..10)
        .max_by_key(|&d| (wrongly(d), std::cmp::Reverse(d)))
        .unwrap_or(0);
    let hint = "in the confusion matrix, add up each column without its diagonal entry";
    report("06.2", count(answer, expected as i64, hint))
}

/// 06.4: a chart of your own, drawn with plotters: a picture that is not blank.
pub fn own_chart(answer: &Png) -> bool {
    let verdict = match png_size_and_colours(&answer.0) {
        None if answer.0.is_empty() => Verdict::NotDone,
        None => Verdict::Wrong("not a PNG picture".into(), "return what render(...) gives"),
        Some((w, h, colours)) if colours > 1 => Verdict::Right(format!(": {w}x{h} pixels")),
        Some(_) => Verdict::Wrong("the picture is one colour".into(), "draw a series on it"),
    };
    report("06.4", verdict)
}

/// Width, height and whether more than one colour appears (1 or 2) of a PNG, or None.
fn png_size_and_colours(bytes: &[u8]) -> Option<(u32, u32, usize)> {
    let mut reader = ::png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .ok()?;
    let mut buf = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut buf).ok()?;
    let pixels = &buf[..info.buffer_size()];
    let varied = pixels.chunks(3).any(|p| p != &pixels[..3]);
    Some((info.width, info.height, 1 + usize::from(varied)))
}

/// 07.1: `saliency` keeps the gradient's sign: d score / d pixel of the predicted digit.
pub fn signed_saliency(
    saliency: impl Fn(&Trained, &Tensor) -> Tensor,
    net: &Trained,
    images: &Tensor,
) -> bool {
    let answer = saliency(net, images);
    let x = images
        .to_device(net.device())
        .detach()
        .set_requires_grad(true); // [n, 1, 28, 28]
    let logits = net.forward_t(&x, false); // [n, 10]
    let best = logits.argmax(-1, false).unsqueeze(1); // [n, 1]
    let score = logits.gather(1, &best, false).sum(Kind::Float); // []
    let expected = Tensor::run_backward(&[score], &[&x], false, false).remove(0); // [n, 1, 28, 28]
    let expected = expected.to_device(Device::Cpu);
    let verdict = match same_tensor(&answer, &expected, 1e-5, "the gradient of the score") {
        Verdict::Wrong(..) if answer.numel() > 0 && answer.min().double_value(&[]) >= 0.0 => {
            Verdict::Wrong(
                "no value is negative".into(),
                "keep the sign: leave out abs()",
            )
        }
        other => other,
    };
    report("07.1", verdict)
}

/// 07.2: the share of the variance (percent) of `points` ([n, d]) along its two main directions.
pub fn explained_variance(answer: f64, points: &Tensor) -> bool {
    let centred = points - points.mean_dim(0, true, Kind::Float); // [n, d]
    let s2 = centred.svd(true, true).1.square(); // [k]: variance along each direction, x (n - 1)
    let share = s2.narrow(0, 0, 2).sum(Kind::Float) / s2.sum(Kind::Float);
    let hint = "square the singular values; the first two's sum over the sum of all";
    report(
        "07.2",
        percent(answer, 100.0 * share.double_value(&[]), hint),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// The last verdict printed on this thread.
        pub(super) static LAST: RefCell<String> = const { RefCell::new(String::new()) };
    }

    /// Runs a check; returns whether it said right, and what it printed.
    fn said(check: impl FnOnce() -> bool) -> (bool, String) {
        let right = check();
        (right, LAST.with(|l| l.borrow().clone()))
    }

    /// Asserts that `check` says wrong and that its message contains `words`.
    fn wrong(check: impl FnOnce() -> bool, words: &str) {
        let (right, text) = said(check);
        assert!(
            !right && text.contains('✗') && text.contains(words),
            "{text}"
        );
    }

    /// Asserts that `check` says right.
    fn right(check: impl FnOnce() -> bool) {
        let (right, text) = said(check);
        assert!(right && text.contains("✓ right"), "{text}");
    }

    /// Asserts that `check` says "not done yet".
    fn not_done(check: impl FnOnce() -> bool) {
        let (right, text) = said(check);
        assert!(!right && text.ends_with("not done yet"), "{text}");
    }

    /// Predictions for 12 images: labels 0..=9, 4, 4; the network reads both extra 4s as 9
    /// (confidence 0.6 and 0.9) and 7 as 1; every other answer right (confidence 0.8, 0 at 0.5).
    fn preds() -> Predictions {
        let labels: Vec<i64> = (0..10).chain([4, 4]).collect();
        let mut predicted = labels.clone();
        predicted[7] = 1;
        predicted[10] = 9;
        predicted[11] = 9;
        let mut confidence = vec![0.8f32; 12];
        confidence[0] = 0.5;
        confidence[10] = 0.6;
        confidence[11] = 0.9;
        let mut probs = vec![0.0f32; 120];
        for (i, &p) in predicted.iter().enumerate() {
            probs[i * 10 + p as usize] = confidence[i];
            probs[i * 10 + (p as usize + 1) % 10] = 1.0 - confidence[i]; // second best
        }
        Predictions {
            labels,
            predicted,
            confidence,
            probabilities: Tensor::from_slice(&probs).view([12, 10]),
        }
    }

    fn images() -> Tensor {
        Tensor::rand([6, 1, 28, 28], (Kind::Float, Device::Cpu))
            * (Tensor::rand([6, 1, 28, 28], (Kind::Float, Device::Cpu)).gt(0.5))
    }

    #[test]
    fn standardised_names_a_transposed_tensor_and_a_missing_step() {
        let x = images();
        let good = (&x - x.mean(Kind::Float)) / x.std(true);
        right(|| standardised(&good, &x));
        not_done(|| standardised(&your_answer(), &x));
        wrong(|| standardised(&good.transpose(2, 3), &x), "values differ");
        wrong(
            || standardised(&(&x - x.mean(Kind::Float)), &x),
            "values differ",
        );
        wrong(|| standardised(&good.view([6, 784]), &x), "shape [6, 784]");
    }

    #[test]
    fn counts_name_an_off_by_one() {
        let split = Split {
            images: images(),
            labels: Tensor::from_slice(&[7i64, 1, 7, 2, 7, 0]),
        };
        right(|| digit_count(3, &split, 7));
        not_done(|| digit_count(your_answer(), &split, 7));
        wrong(|| digit_count(4, &split, 7), "off by one");
        wrong(|| digit_count(6, &split, 7), "not the count");
    }

    #[test]
    fn background_share_names_a_fraction() {
        let x = Tensor::from_slice(&[0.0f32, 0.0, 0.5, 1.0]);
        right(|| background_share(50.0, &x));
        not_done(|| background_share(your_answer(), &x));
        wrong(|| background_share(0.5, &x), "fraction");
        wrong(|| background_share(25.0, &x), "not it");
    }

    #[test]
    fn mlp_parameters_without_biases_are_wrong() {
        right(|| mlp_parameters(101_770));
        wrong(|| mlp_parameters(784 * 128 + 128 * 10), "not the count");
    }

    #[test]
    fn two_hidden_layers_names_the_wrong_sizes() {
        let layer = |p: &nn::Path, name: &str, i: i64, o: i64| {
            nn::linear(p / name, i, o, Default::default())
        };
        right(|| {
            two_hidden_layers(|p| {
                nn::seq_t()
                    .add_fn(|x| x.flatten(1, -1))
                    .add(layer(p, "a", 784, 64))
                    .add_fn(|x| x.relu())
                    .add(layer(p, "b", 64, 64))
                    .add_fn(|x| x.relu())
                    .add(layer(p, "c", 64, 10))
            })
        });
        not_done(|| two_hidden_layers(|_| your_answer()));
        wrong(
            || {
                two_hidden_layers(|p| {
                    nn::seq_t()
                        .add_fn(|x| x.flatten(1, -1))
                        .add(layer(p, "a", 784, 128))
                        .add(layer(p, "c", 128, 10))
                })
            },
            "parameters",
        );
        wrong(
            || two_hidden_layers(|p| nn::seq_t().add(layer(p, "a", 28, 10))),
            "shape [2, 1, 28, 10]",
        );
    }

    #[test]
    fn untrained_loss_names_another_number() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = crate::model::mlp_model(&vs.root());
        let train = Split {
            images: images(),
            labels: Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6]),
        };
        let loss = evaluate(&net, &train, Device::Cpu).unwrap().0;
        right(|| untrained_loss(loss, &net, &train, Device::Cpu));
        not_done(|| untrained_loss(your_answer(), &net, &train, Device::Cpu));
        wrong(
            || untrained_loss(10f64.ln(), &net, &train, Device::Cpu),
            "not that loss",
        );
    }

    #[test]
    fn other_width_names_the_unchanged_width_and_a_foreign_history() {
        let data = crate::data::Mnist {
            train: Split {
                images: images().repeat([10, 1, 1, 1]),
                labels: Tensor::arange(60, (Kind::Int64, Device::Cpu)).remainder(10),
            },
            test: Split {
                images: images(),
                labels: Tensor::zeros([6], (Kind::Int64, Device::Cpu)),
            },
        };
        let cfg = crate::config::TrainConfig {
            epochs: 1,
            ..Default::default()
        };
        let train = |width: i64| {
            let vs = nn::VarStore::new(Device::Cpu);
            let p = vs.root();
            let net = nn::seq_t()
                .add_fn(|x| x.flatten(1, -1))
                .add(nn::linear(&p / "fc1", 784, width, Default::default()))
                .add_fn(|x| x.relu())
                .add(nn::linear(&p / "fc2", width, 10, Default::default()));
            let history = crate::train::fit("w", &net, &vs, &data, &cfg).unwrap();
            (vs, net, history)
        };
        let base = train(128).2;
        right(|| other_width(&Some(train(32)), &base, &data));
        not_done(|| other_width(&your_answer(), &base, &data));
        wrong(
            || other_width(&Some(train(128)), &base, &data),
            "has 128 units",
        );
        let (vs, net, mut foreign) = train(16);
        foreign.epochs[0].val_accuracy += 50.0; // what another network's run would say
        wrong(
            || other_width(&Some((vs, net, foreign)), &base, &data),
            "not of this network",
        );
    }

    #[test]
    fn prediction_checks_name_wrong_answers() {
        let p = preds();
        // The 7 read as 1 and both 4s read as 9 have the label outside their two best digits.
        right(|| report("05.1", top2_verdict(100.0 * 9.0 / 12.0, &p)));
        wrong(|| report("05.1", top2_verdict(9.0 / 12.0, &p)), "fraction");
        right(|| report("05.2", confusion_verdict(2, &p, 4, 9)));
        wrong(
            || report("05.2", confusion_verdict(2, &p, 9, 4)),
            "not the count",
        );
        wrong(
            || report("05.2", confusion_verdict(3, &p, 4, 9)),
            "off by one",
        );
        // Digit 9: precision 1/3 (one right of three answers 9), recall 1: F1 = 50%.
        right(|| report("05.3", f1_verdict(50.0, &p, 9)));
        wrong(|| report("05.3", f1_verdict(100.0 / 3.0, &p, 9)), "not it");
        right(|| least_confident_right(0, &p));
        wrong(|| least_confident_right(10, &p), "not the count");
        right(|| most_wrongly_predicted(9, &p));
        wrong(|| most_wrongly_predicted(1, &p), "not the count");
        not_done(|| most_wrongly_predicted(your_answer(), &p));
        let mut other = preds();
        other.predicted[10] = 4;
        right(|| both_wrong(2, &p, &other));
        wrong(|| both_wrong(3, &p, &other), "off by one");
    }

    #[test]
    fn own_chart_names_a_blank_picture() {
        let chart = crate::plot::render(40, 30, |area| {
            area.draw_pixel((3, 4), &plotters::style::BLACK)
                .map_err(crate::plot::plot_err)
        });
        right(|| own_chart(&chart.unwrap()));
        not_done(|| own_chart(&your_answer()));
        wrong(
            || own_chart(&crate::plot::render(40, 30, |_| Ok(())).unwrap()),
            "one colour",
        );
        wrong(|| own_chart(&Png(vec![1, 2, 3])), "not a PNG");
    }

    #[test]
    fn explained_variance_names_a_fraction() {
        let points = Tensor::randn([50, 6], (Kind::Float, Device::Cpu)); // [50, 6]
        let s2 = (&points - points.mean_dim(0, true, Kind::Float))
            .svd(true, true)
            .1
            .square();
        let share =
            100.0 * (s2.narrow(0, 0, 2).sum(Kind::Float) / s2.sum(Kind::Float)).double_value(&[]);
        right(|| explained_variance(share, &points));
        wrong(|| explained_variance(share / 100.0, &points), "fraction");
        not_done(|| explained_variance(your_answer(), &points));
    }

    #[test]
    fn signed_saliency_names_a_map_without_its_sign() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = crate::artifacts::Trained {
            name: "mlp".into(),
            net: Box::new(crate::model::mlp_model(&vs.root())),
            vs,
            history: crate::history::History {
                name: "mlp".into(),
                config: Default::default(),
                epochs: Vec::new(),
            },
        };
        let gradient = |net: &crate::artifacts::Trained, images: &Tensor| {
            let x = images.detach().set_requires_grad(true); // [n, 1, 28, 28]
            let logits = net.forward_t(&x, false); // [n, 10]
            let best = logits.argmax(-1, false).unsqueeze(1); // [n, 1]
            let score = logits.gather(1, &best, false).sum(Kind::Float);
            Tensor::run_backward(&[score], &[&x], false, false).remove(0)
        };
        let x = images();
        right(|| signed_saliency(gradient, &net, &x));
        wrong(
            || signed_saliency(|n, i| gradient(n, i).abs(), &net, &x),
            "no value is negative",
        );
        not_done(|| signed_saliency(|_, _| your_answer(), &net, &x));
    }
}
