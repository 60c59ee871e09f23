//! How a panic reads. In the project's kernel a panic in a cell (libtorch refusing a shape inside
//! `view`, a learner's `unwrap`) prints two lines, the message's first line and where it happened,
//! instead of libtorch's C++ frames and a Rust backtrace; evcxr keeps the kernel's variables.
//! [`quietly`] runs code whose panic the caller turns into an error of its own (the shape check),
//! printing nothing. The hook is installed once per loaded library and is the same for all
//! threads, so nothing swaps it back and forth.

use std::cell::Cell;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// True while this thread runs inside [`quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

/// Installs the hook (once): silent inside [`quietly`]; otherwise the two-line report when
/// `compact`, else whatever hook was there before (the default one in programs and tests).
pub fn install(compact: bool) {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                return;
            }
            if compact {
                // On stdout, in one write: evcxr forwards stderr on a thread of its own, and a
                // line that arrives after the cell's end is lost; stdout reaches the cell in order.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", report(info));
                let _ = out.flush();
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic without printing anything; the payload's text is the error.
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install(false);
    let was = QUIET.with(|q| q.replace(true));
    let out = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    out.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// The two lines printed for a panic in the kernel.
fn report(info: &PanicHookInfo) -> String {
    let text = info
        .payload()
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| info.payload().downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    let frames = frame_names(&std::backtrace::Backtrace::force_capture().to_string());
    let mut place = place(&frames);
    // tch's code instantiated inside a cell's library can show no symbol (`<unknown>`): then
    // the panic's location, a line of tch's source, still names the function.
    let unnamed = frames
        .iter()
        .find(|f| !is_machinery(f))
        .is_some_and(|f| f == "<unknown>");
    if let Some(function) = info
        .location()
        .and_then(|l| tch_function_at(l.file(), l.line()))
    {
        if unnamed {
            place = format!("in {}, called from this cell", short_name(&function));
        }
    }
    let source = if text.contains("Torch(\"") {
        "libtorch: "
    } else {
        ""
    };
    format!("error: {source}{}\n  {place}", first_line(text))
}

/// `tch::Tensor::view` for a line inside `pub fn view` of tch's generated tensor code.
fn tch_function_at(file: &str, line: u32) -> Option<String> {
    if !file.contains("tch-") || !file.contains("tensor") {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let name = text
        .lines()
        .take(line as usize)
        .filter_map(|l| l.trim_start().strip_prefix("pub fn "))
        .last()?
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()?
        .to_string();
    Some(format!("tch::Tensor::{name}"))
}

/// The first line of a panic's text; for tch's `Torch("...")` errors, libtorch's first line
/// (without the C++ frames that follow it).
pub(crate) fn first_line(panic_text: &str) -> String {
    let (text, torch) = match panic_text.find("Torch(\"") {
        Some(i) => (&panic_text[i + 7..], true),
        None => (panic_text, false),
    };
    let mut stops = vec!["\\n", "\n"];
    if torch {
        stops.push("\")");
    }
    let end = stops
        .iter()
        .filter_map(|stop| text.find(stop))
        .min()
        .unwrap_or(text.len());
    text[..end].trim().to_string()
}

/// The function names of a formatted backtrace, innermost first.
fn frame_names(backtrace: &str) -> Vec<String> {
    backtrace
        .lines()
        .filter_map(|line| {
            let (number, name) = line.trim_start().split_once(": ")?;
            number
                .chars()
                .all(|c| c.is_ascii_digit())
                .then(|| name.trim().to_string())
        })
        .collect()
}

/// Frames that belong to the panic machinery or to this hook.
fn is_machinery(name: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "std::",
        "core::",
        "alloc::",
        "<std::",
        "<core::",
        "<alloc::",
        "rust_",
        "__rust",
        "mnist_helpers::panics",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || name.contains("backtrace")
}

/// Frames of a library the cell called (tch and this crate).
fn is_library(name: &str) -> bool {
    [
        "tch::",
        "<tch::",
        "torch_sys::",
        "mnist_helpers::",
        "<mnist_helpers::",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// "in Tensor::view, called from this cell" from the frames, innermost first.
pub fn place(frames: &[String]) -> String {
    let frames = frames.iter().skip_while(|f| is_machinery(f));
    let mut library = None;
    for frame in frames {
        if !is_library(frame) {
            let caller = caller_name(frame);
            return match library {
                Some(lib) => format!("in {lib}, called from {caller}"),
                None => format!("in {caller}"),
            };
        }
        library = Some(short_name(frame));
    }
    match library {
        Some(lib) => format!("in {lib}"),
        None => "in this cell".to_string(),
    }
}

/// A cell's own frame as a learner would name it.
fn caller_name(frame: &str) -> String {
    // A cell's own functions may have no symbol left (evcxr strips the cells' libraries).
    if frame.contains("run_user_code") || frame == "<unknown>" {
        "this cell".to_string()
    } else if frame.starts_with("ctx::") || frame.starts_with("<ctx::") {
        format!("{} (defined in a cell)", short_name(frame))
    } else {
        short_name(frame)
    }
}

/// `Tensor::view` for `tch::wrappers::tensor_generated::<impl tch::wrappers::tensor::Tensor>::view`,
/// `Linear::forward` for `<tch::nn::linear::Linear as tch::nn::module::Module>::forward`.
pub(crate) fn short_name(frame: &str) -> String {
    let name = strip_hash(frame);
    let (owner, rest) = if let Some(inner) = name.strip_prefix('<') {
        match split_at_close(inner) {
            Some((ty, rest)) => (ty.split(" as ").next().unwrap_or(ty), rest),
            None => return name.to_string(),
        }
    } else if let Some(i) = name.find("<impl ") {
        match split_at_close(&name[i + 6..]) {
            Some((ty, rest)) => (ty, rest),
            None => return name.to_string(),
        }
    } else {
        let mut parts = name.rsplitn(3, "::");
        let last = parts.next().unwrap_or(name);
        return match parts.next() {
            Some(owner) => format!("{owner}::{last}"),
            None => last.to_string(),
        };
    };
    let owner = owner.rsplit("::").next().unwrap_or(owner);
    format!("{owner}{}", rest.split("::{{").next().unwrap_or(rest))
}

/// The text up to the `>` that closes an already-opened `<`, and what follows it.
fn split_at_close(text: &str) -> Option<(&str, &str)> {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&text[..i], &text[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// A symbol without its `::h0123456789abcdef` suffix.
fn strip_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_messages_keep_their_first_line() {
        let text = "called `Result::unwrap()` on an `Err` value: Torch(\"shape '[-1, 100]' is \
                    invalid for input of size 1568\\nException raised from infer_size_impl\\n\
                    frame #0: c10::Error::Error\")";
        assert_eq!(
            first_line(text),
            "shape '[-1, 100]' is invalid for input of size 1568"
        );
        assert_eq!(
            first_line("index 12 out of range\nmore"),
            "index 12 out of range"
        );
    }

    #[test]
    fn names_the_library_call_and_the_cell() {
        let frames: Vec<String> = [
            "std::panicking::begin_panic_handler",
            "core::result::unwrap_failed",
            "tch::wrappers::tensor_generated::<impl tch::wrappers::tensor::Tensor>::view::h0123456789abcdef",
            "<ctx::Net as tch::nn::module::ModuleT>::forward_t",
            "run_user_code_7",
            "evcxr::runtime::Runtime::run_loop",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            place(&frames),
            "in Tensor::view, called from Net::forward_t (defined in a cell)"
        );
        assert_eq!(place(&frames[..3]), "in Tensor::view");
        assert_eq!(place(&frames[4..]), "in this cell");
        let unnamed = ["core::panicking::panic_bounds_check", "<unknown>"].map(String::from);
        assert_eq!(place(&unnamed), "in this cell");
    }

    #[test]
    fn shortens_trait_methods() {
        assert_eq!(
            short_name("<tch::nn::linear::Linear as tch::nn::module::Module>::forward"),
            "Linear::forward"
        );
        assert_eq!(
            short_name("mnist_helpers::data::Split::label"),
            "Split::label"
        );
    }

    #[test]
    fn quietly_returns_the_panic_text() {
        let err = quietly(|| -> i32 { panic!("boom {}", 7) }).unwrap_err();
        assert_eq!(err, "boom 7");
        assert_eq!(quietly(|| 3), Ok(3));
    }
}
