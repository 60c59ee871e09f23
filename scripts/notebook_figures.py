"""The figures in the notebooks' markdown, checked against the run: every number a markdown cell
states must be printed by one of the notebook's cells in this run, be written in its code, or be
one of the facts listed below with the reason it cannot drift. A sentence whose figure the run no
longer prints (a count, an accuracy, a timing) fails the test command until it follows.

  python scripts/notebook_figures.py REPORT_DIR   checks the executed notebooks in REPORT_DIR
"""
import json
import math
import os
import re
import sys
from pathlib import Path

import nbformat

# A number as prose writes it: 60,000 or 0.2 or 28 (not part of a word, an identifier or a path).
NUMBER = re.compile(r"(?<![\w.#/,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w,]*\w|-bit)")
# Inline code and links' targets in markdown: code quoted in prose, not figures.
QUOTED = re.compile(r"`[^`]*`|\]\([^)]*\)")
# Fixed facts any notebook may state: MNIST's sizes and the shapes that follow from them.
FACTS = {
    "0": "pixel range and digit range", "1": "pixel range, one channel",
    "9": "the digits 0-9", "10": "ten digits", "28": "image side", "784": "28 x 28 pixels",
    "255": "the byte range", "70000": "MNIST's images", "60000": "MNIST's training images",
    "10000": "MNIST's test images", "0.1": "one in ten digits", "2": "stride 2 halves the side",
}
# Small whole numbers up to this one name notebooks, layers, steps and counts of things in prose.
SMALL = 8
# Figures a notebook states that no cell of it prints, with the reason each cannot drift.
STATED = {
    "01_imports": {},
    "02_data_preparation": {"6000": "an even share: 60,000 / 10 (printed as such)",
                            "1000": "pixel_histogram draws the first 1,000 (its title says so)",
                            "59999": "the last index of 60,000 images"},
    "03_model_architecture": {"100480": "784 x 128 + 128, shown in the summary's rows",
                              "0.8": "1 - 0.2, dropout's keep probability",
                              "1290": "128 x 10 + 10", "14": "28 / 2", "3136": "64 x 7 x 7"},
    "04_training": {"0.00024": "6e-3 / 25, the one-cycle start (config.rs)",
                    "1000": "exercise 04.1's images, as many as check::untrained_loss takes"},
    "05_evaluation": {"98": "the course's reported accuracy (a citation)",
                      "49": "an example of label * 10 + prediction"},
    "06_visualization": {},
    "07_explore": {"500": "tsne.rs's step count", "3136": "64 x 7 x 7"},
}


FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures.json"


def expectations(name: str) -> list:
    """What a notebook's markdown tells a learner to expect, checked against the run: (what, a
    pattern whose group is the measured number, lowest, highest, the figures the markdown states
    for it, whether only a run with the full settings can be held to it). The MLP's test accuracy
    over seeds comes from docs/figures.json (examples/mlp_seeds.rs measures it)."""
    seeds = json.loads(FIGURES.read_text())["mlp_seeds"]
    low, high = seeds["test_accuracy_low"], seeds["test_accuracy_high"]
    ln10 = math.log(10)
    return {
        "04_training": [
            ("the untrained loss, near ln 10", r"loss on this batch: ([\d.]+) before",
             ln10 - 0.3, ln10 + 0.3, [], False),
            ("the first epoch's validation accuracy",
             r"epoch 1/\d+: .*?validation loss [\d.]+, accuracy ([\d.]+)%", 85.0, 98.0,
             ["85", "98"], False),
        ],
        "05_evaluation": [
            ("the MLP's test accuracy over seeds", r"MLP: test accuracy ([\d.]+)%",
             float(low) - 0.3, float(high) + 0.3, [low, high], True),
        ],
    }.get(name, [])


def expectation_problems(name: str, nb, text: str) -> tuple:
    """The stated expectations that the markdown or the run does not meet, and their figures."""
    prose = " ".join(QUOTED.sub(" ", c.source) for c in nb.cells if c.cell_type == "markdown")
    quick = bool(os.environ.get("MNIST_TRAIN_LIMIT") or os.environ.get("MNIST_EPOCHS"))
    found, stated = [], set()
    for what, pattern, low, high, figures, full_only in expectations(name):
        stated |= {key(value(f)) for f in figures}
        found += [f"{name}: the markdown no longer states {f} for {what}"
                  for f in figures if f not in NUMBER.findall(prose)]
        match = re.search(pattern, text)
        if match is None:
            found.append(f"{name}: no cell printed {what}")
        elif not (quick and full_only) and not low <= float(match.group(1)) <= high:
            found.append(f"{name}: {what} is {match.group(1)}, expected {low:.2f} to {high:.2f}")
    return found, stated


def value(text: str) -> float:
    """The number a figure writes (commas dropped)."""
    return float(text.replace(",", ""))


def key(number: float) -> str:
    """A number as the keys above write it: 60000, 0.1, 3136."""
    return f"{number:g}" if number < 1e6 else str(int(number))


def numbers(text: str) -> set:
    """Every number written in a text, as floats."""
    return {value(m) for m in NUMBER.findall(text)}


def output_text(nb) -> str:
    """Everything the executed notebook's cells printed or displayed as text or HTML."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for mime in ("text/plain", "text/html", "text/markdown"):
                parts.append("".join(out.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def printed(figure: str, outputs: set) -> bool:
    """Whether a run printed `figure` to the precision the markdown writes it."""
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    target = value(figure)
    return any(round(o, decimals) == target for o in outputs)


def problems(name: str, nb) -> list:
    """Figures in `name`'s markdown that neither its run, its code nor the facts above back."""
    code = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            code |= numbers(cell.source) | {float(m) for m in re.findall(r"\d+e-?\d+", cell.source)}
    text = output_text(nb)
    outputs = numbers(text)
    found, expected = expectation_problems(name, nb, text)
    stated = {**STATED.get(name, {}), **{k: "an expectation checked above" for k in expected}}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        prose = QUOTED.sub(" ", cell.source)
        for figure in dict.fromkeys(NUMBER.findall(prose)):
            number = value(figure)
            if (number <= SMALL and number == int(number)) or key(number) in FACTS \
                    or key(number) in stated or number in code or printed(figure, outputs):
                continue
            sentence = next((s for s in re.split(r"(?<=[.:;])\s", prose) if figure in s), "")
            found.append(f"{name}, markdown cell {i}: {figure} is printed by no cell of this run "
                         f"({sentence.strip()[:120]!r})")
    return found


def main() -> int:
    folder = Path(sys.argv[1])
    found = []
    for path in sorted(folder.glob("0*.ipynb")):
        found += problems(path.stem, nbformat.read(str(path), as_version=4))
    for p in found:
        print(f"problem: {p}", file=sys.stderr)
    print(f"notebook figures: {len(found)} unbacked")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
