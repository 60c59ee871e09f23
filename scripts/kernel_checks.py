"""A learner's path under the real kernel (part of the test command, through run_notebooks.py
--check): the stop button during each stoppable loop (`fit`, evaluation, 07's t-SNE on 10,000
points) keeps every variable; the stop button in a learner's endless loop leaves a usable kernel;
an interrupt between cells changes nothing, also in a kernel that cannot read
/proc/self/task/*/syscall (played by pointing MNIST_STOP_SYSCALL_FILE at a missing file); a child
process started from a cell inherits no descriptor or variable of the stop button's watcher; a
value of the notebook API is stored in a variable without naming its type; a panic prints at most
three lines and the kernel keeps its variables.
"""
import tempfile
import time

from jupyter_client.manager import KernelManager

import kernel_probe

# A run long enough to be interrupted in its first epoch (13,500 batches of 4 images).
LONG_FIT = """let cfg = TrainConfig { epochs: 3, batch_size: 4, ..Default::default() };
tch::manual_seed(1);
let vs = nn::VarStore::new(device());
let net = mlp_model(&vs.root());
let history = fit("interrupted", &net, &vs, &data, &cfg)?;"""
# An evaluation long enough to be interrupted: 240,000 images, one per forward pass.
LONG_EVALUATION = """let many = Split { images: data.train.images.repeat([4, 1, 1, 1]),
                  labels: data.train.labels.repeat([4]) };
println!("evaluating");
let slow = mnist_helpers::metrics::predict_in_batches(&net, &many, 1, device())?;"""
# 07's t-SNE on as many points as the test set has: 10,000 (random 64-d stand-ins for hidden
# layers, moved from a 2-d start as 07 moves its PCA map).
TSNE_POINTS = """let points = Tensor::randn([10000, 64], (Kind::Float, Device::Cpu)); // [10000, 64]
let start = points.narrow(1, 0, 2); // [10000, 2]"""
TSNE = 'println!("mapping");\nlet map = tsne_2d(&points, &start)?;'
# A child process started from a cell: the sockets among its descriptors (the watcher's are
# sockets; a socket reads "socket:[inode]") and whether the watcher's old variable is in its
# environment.
CHILD = """let script = "for fd in /proc/$$/fd/*; do echo \\"$fd $(readlink $fd)\\"; done; env";
let child = std::process::Command::new("sh").args(["-c", script]).output()?;
let seen = String::from_utf8_lossy(&child.stdout).into_owned();
println!("child: {} sockets, wake variable {}", seen.matches("socket:").count(),
         seen.contains("MNIST_STOP_WAKE"));"""
# Values of the notebook API stored without `?` and without naming their types.
UNTYPED_RESULTS = [
    "let r1 = load_data();",
    "let r2 = environment();",
    "let r3 = predict(&net, &data.test, device());",
    "let r4 = sample_grid(&data.train, 4);",
    "let r5 = evaluate(&net, &data.test, device());",
    "let r6 = history_table(&history);",
    "let r7 = training_curves(&history);",
    "let r8 = fit(\"quick\", &net, &vs, &data, &TrainConfig { epochs: 1, train_limit: Some(300), "
    "..Default::default() });",
    "let r9 = load_trained(&artifacts_dir(), \"nothing-here\", mlp_model);",
    "let r10 = data.test.label(20000);",
]
# The rest of the prelude's functions that return a value, on values the checks already have.
UNTYPED_MORE = """let s0 = save_model(&artifacts_dir(), &vs, &history);
let t = load_trained(&artifacts_dir(), "interrupted", mlp_model)?;
let s1 = load_raw();
let s2 = pixel_histogram(&data.train);
let s3 = summary(&vs, "mlp");
let s4 = first_batch(&data.train, 4, device());
let s5 = compare_curves(&[&history]);
let s6 = per_class_table(&p);
let s7 = confusion_heatmap(&p, "mlp");
let s8 = misclassified_grid(&p, &data.test, 4);
let s9 = confused_pairs_table(&p, 3);
let s10 = pick_examples(&data.test, 3, 1);
let s11 = example_digits(&data.test, &s10);
let s12 = probability_chart(&p, &s10);
let s13 = comparison_table(&[(&t, &p)]);
let s14 = save_evaluation(&artifacts_dir(), &[(&t, &p)]);
println!("stored all {}", s0.is_ok() && s8.is_ok() && s13.is_ok());"""


class Kernel:
    """A fresh kernel of the project, with cells run one at a time and their text collected."""

    def __init__(self, env: dict):
        self.manager = KernelManager(kernel_name=kernel_probe.KERNEL)
        self.manager.start_kernel(cwd=str(kernel_probe.NOTEBOOK_DIR), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=600)

    def run(self, code: str, timeout: float = 600) -> tuple:
        """(status, text) of one cell: its stdout, stderr and error text together."""
        out = []
        reply = self.client.execute_interactive(code, timeout=timeout,
                                                output_hook=lambda msg: out.append(text_of(msg)))
        return reply["content"]["status"], "".join(out)

    def run_and_interrupt(self, code: str, marker: str, wait: float) -> tuple:
        """Starts a cell, interrupts the kernel `wait` seconds after `marker` appears in its
        output; returns (status, text, seconds from the interrupt to the reply)."""
        msg_id = self.client.execute(code)
        out, interrupted_at = [], None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if interrupted_at is None and marker in "".join(out):
                time.sleep(wait)
                self.manager.interrupt_kernel()
                interrupted_at = time.monotonic()
            try:
                msg = self.client.get_iopub_msg(timeout=0.2)
            except Exception:  # queue.Empty: nothing new yet
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            out.append(text_of(msg))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        reply = self.client.get_shell_msg(timeout=60)
        took = time.monotonic() - interrupted_at if interrupted_at else None
        return reply["content"]["status"], "".join(out), took

    def close(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def text_of(msg) -> str:
    """The text an iopub message carries (stream, error or plain-text result)."""
    content = msg.get("content", {})
    if msg["msg_type"] == "stream":
        return content.get("text", "")
    if msg["msg_type"] == "error":
        return content.get("evalue", "") + "\n" + "\n".join(content.get("traceback", []))
    if msg["msg_type"] in ("execute_result", "display_data"):
        return content.get("data", {}).get("text/plain", "")
    return ""


def expect(problems: list, ok: bool, what: str, said: str) -> None:
    """Records a problem unless `ok`, with what the kernel said."""
    if ok:
        print(f"   ok: {what}", flush=True)
    else:
        problems.append(f"{what}: the kernel said {said.strip()[:400]!r}")


def panic_lines(said: str) -> list:
    """The non-empty lines a panicking cell printed."""
    return [line for line in said.splitlines() if line.strip()]


def check_stop_and_mistakes(env: dict) -> list:
    """Runs the checks in one fresh kernel, then those without /proc in another; returns the
    problems found."""
    print("== the stop button, a learner's mistakes (fresh kernel)", flush=True)
    problems = []
    with tempfile.TemporaryDirectory() as scratch:
        for checks, extra in ((run_checks, {}), (run_checks_without_proc, WITHOUT_PROC)):
            kernel = Kernel({**env, "MNIST_ARTIFACTS": scratch, **extra})
            try:
                checks(kernel, problems)
            finally:
                kernel.close()
    return problems


# What a kernel sees where /proc/self/task/*/syscall cannot be read.
WITHOUT_PROC = {"MNIST_STOP_SYSCALL_FILE": "/nonexistent/syscall"}


def run_checks_without_proc(kernel: Kernel, problems: list) -> None:
    """Where the kernel cannot tell a running cell from the time between cells: a press between
    cells changes nothing, and the stoppable loops still stop."""
    print("== the stop button where /proc/self/task/*/syscall cannot be read (fresh kernel)",
          flush=True)
    status, said = kernel.run(kernel_probe.setup_cell("07_explore"))
    if status != "ok":
        problems.append(f"setup cell failed: {said.strip()[:300]}")
        return
    kernel.run("let keep = 41;\n" + TSNE_POINTS)
    kernel.manager.interrupt_kernel()
    time.sleep(1)
    status, said = kernel.run('println!("idle {}", keep + 1);')
    expect(problems, "idle 42" in said, "without /proc, an interrupt between cells changes nothing",
           said)
    status, said, took = kernel.run_and_interrupt(TSNE, "mapping", wait=2)
    stopped = "stopped by the stop button: t-SNE ended after batch" in said
    expect(problems, stopped, f"without /proc, the stop button still ends t-SNE "
           f"({took and round(took, 1)} s after the interrupt)", said)
    status, said = kernel.run('println!("kept {} {:?}", keep + 1, points.size());')
    expect(problems, "kept 42 [10000, 64]" in said, "and the variables are there", said)


def run_checks(kernel: Kernel, problems: list) -> None:
    """The checks, in order: each cell depends on the ones before."""
    status, said = kernel.run(kernel_probe.setup_cell("07_explore"))
    if status != "ok":
        problems.append(f"setup cell failed: {said.strip()[:300]}")
        return
    kernel.run("let data = load_data()?;\nlet keep = 41;\n" + TSNE_POINTS)
    status, said, took = kernel.run_and_interrupt(LONG_FIT, "training interrupted:", wait=1)
    expect(problems, status == "ok" and "stopped in epoch 1 of 3" in said,
           f"stop during fit: fit returned its history ({took and round(took, 1)} s after the "
           f"interrupt)", said)
    status, said = kernel.run('println!("epochs {}, keep {}", history.epochs.len(), keep + 1);\n'
                              'let p = predict(&net, &data.test, device())?;\n'
                              'println!("partial model: {:.1}%", p.accuracy());')
    expect(problems, status == "ok" and "epochs 0, keep 42" in said and "partial model" in said,
           "after the stop, the history, an earlier variable and the partial model are there",
           said)
    status, said, took = kernel.run_and_interrupt(LONG_EVALUATION, "evaluating", wait=1)
    expect(problems, "stopped by the stop button: evaluation ended after batch" in said,
           f"stop during an evaluation ({took and round(took, 1)} s after the interrupt)", said)
    status, said, took = kernel.run_and_interrupt(TSNE, "mapping", wait=4)
    expect(problems, "stopped by the stop button: t-SNE ended after batch" in said,
           f"stop during t-SNE on 10,000 points ({took and round(took, 1)} s after the "
           f"interrupt)", said)
    status, said = kernel.run('println!("kept {} {:?} {}", keep + 1, points.size(), '
                              'history.epochs.len());')
    expect(problems, "kept 42 [10000, 64] 0" in said,
           "after those stops, the variables defined before are there", said)
    status, said = kernel.run(CHILD)
    expect(problems, "child: 0 sockets, wake variable false" in said,
           "a child process started from a cell inherits nothing of the stop button", said)
    status, said = kernel.run("\n".join(UNTYPED_RESULTS) + "\nprintln!(\"stored {} {}\", "
                              "r1.is_ok(), r10.is_err());")
    expect(problems, status == "ok" and "stored true true" in said,
           "values of the notebook API stored without `?` or a type", said)
    status, said = kernel.run(UNTYPED_MORE)
    expect(problems, status == "ok" and "stored all true" in said,
           "every other value of the prelude stored without `?` or a type", said)
    status, said = kernel.run("let t = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));\n"
                              "let bad = t.view([5]);")
    lines = panic_lines(said)
    expect(problems, 1 <= len(lines) <= 3 and "Tensor::view" in said and "frame #" not in said,
           f"a panic in a cell prints {len(lines)} lines", said)
    status, said = kernel.run("let empty: Vec<i32> = Vec::new();\nlet first = empty[3];")
    lines = panic_lines(said)
    expect(problems, len(lines) == 2 and "in this cell" in said and "backtrace" not in said,
           f"a panic in the cell's own code prints {len(lines)} lines, saying where", said)
    status, said = kernel.run('println!("still {}", keep + 1);')
    expect(problems, "still 42" in said, "the kernel keeps its variables after the panic", said)
    kernel.manager.interrupt_kernel()
    time.sleep(1)
    status, said = kernel.run('println!("idle {}", keep + 1);')
    expect(problems, "idle 42" in said, "an interrupt between cells changes nothing", said)
    status, said, took = kernel.run_and_interrupt(
        'println!("looping");\nloop { std::hint::spin_loop(); }', "looping", wait=1)
    expect(problems, status != "ok" and took is not None and took < 30,
           f"the stop button ends a learner's endless loop ({took and round(took, 1)} s)", said)
    status, said = kernel.run('let fresh = 7;\nprintln!("usable {}", fresh * 6);')
    expect(problems, "usable 42" in said, "the kernel is usable after that", said)
    status, said, took = kernel.run_and_interrupt(
        'println!("again");\nloop { std::hint::spin_loop(); }', "again", wait=1)
    expect(problems, status != "ok" and took is not None and took < 30,
           f"the stop button ends a loop in the restarted process too ({took and round(took, 1)} s)",
           said)
