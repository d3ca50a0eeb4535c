"""Write docs-lm's committed evaluation and calibration data (run once; the files are committed).

    python data/make_data.py     # from example_suite/docs_lm, with the project's virtual environment

- ``heldout.jsonl``: {"text"} docstrings of the held-out modules (perplexity).
- ``completion.jsonl``: {"prompt", "reference"} the first half of a held-out docstring sentence and the
  words that follow it (ROUGE-L of a greedy continuation).
- ``last_word.jsonl``: {"prompt", "reference"} a held-out sentence without its last word, and that word
  (LAMBADA-style exact match: the model must end the sentence with the right word).
- ``calib.jsonl``: {"text"} training docstrings, for calibrating methods such as GPTQ.

Held-out text comes from modules the model never trains on (``corpus.HELDOUT_MODULES``). The files are
committed rather than regenerated so the gate scores the same examples on every Python version.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from corpus import HELDOUT_MODULES, TRAIN_MODULES, docstrings  # noqa: E402

MAX_HELDOUT_CHARS = 2000  # longer docstrings are mostly code listings
WORD = re.compile(r"^[A-Za-z][A-Za-z'-]*,?$")  # a plain English word, maybe followed by a comma
SEED = 0


def sentences(text: str) -> list[str]:
    """Plain-English sentences of a docstring: paragraphs joined into lines, split after '. '."""
    found = []
    for paragraph in text.split("\n\n"):
        if paragraph.lstrip().startswith((">>>", "-", "*", ":")):
            continue
        line = " ".join(paragraph.split())
        for sentence in re.split(r"(?<=\.)\s+", line):
            words = sentence.split()
            if 6 <= len(words) <= 16 and sentence.endswith(".") and words[0][0].isupper() \
                    and all(WORD.match(w) for w in words[:-1]) and WORD.match(words[-1][:-1]):
                found.append(sentence)
    return found


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{path.name}: {len(rows)} rows")


def main() -> None:
    heldout = docstrings(HELDOUT_MODULES)
    write_jsonl(HERE / "heldout.jsonl", [{"text": t} for t in heldout if len(t) <= MAX_HELDOUT_CHARS])
    pool = sorted(dict.fromkeys(s for t in heldout for s in sentences(t)))
    completion, last_word = [], []
    for sentence in pool:
        words = sentence[:-1].split()  # without the final period
        half = len(words) // 2
        completion.append({"prompt": " ".join(words[:half]), "reference": " ".join(words[half:])})
        if not words[-1].endswith(","):
            last_word.append({"prompt": " ".join(words[:-1]), "reference": words[-1]})
    write_jsonl(HERE / "completion.jsonl", completion)
    write_jsonl(HERE / "last_word.jsonl", last_word)
    held = set(heldout)
    train = [t for t in docstrings(TRAIN_MODULES) if t not in held and len(t) <= MAX_HELDOUT_CHARS]
    write_jsonl(HERE / "calib.jsonl", [{"text": t} for t in random.Random(SEED).sample(train, 128)])


if __name__ == "__main__":
    main()
