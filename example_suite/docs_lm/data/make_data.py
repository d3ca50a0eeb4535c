"""Write docs-lm's committed evaluation and calibration data (run once; the files are committed).

    python data/make_data.py     # from example_suite/docs_lm, with the project's virtual environment

- ``heldout.jsonl``: {"text"} documentation entries (header line + docstring) of the held-out modules,
  for perplexity.
- ``summary.jsonl``: {"prompt", "summary"} a held-out entry's header line (``shlex.quote(s)`` and a
  newline) and the first sentence of its docstring: the model writes the summary of an API it never saw
  from its name and signature (ROUGE-L).
- ``calib.jsonl``: {"text"} training entries, for calibrating methods such as GPTQ.

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

from corpus import HELDOUT_MODULES, TRAIN_MODULES, as_text, entries  # noqa: E402

SUMMARY = re.compile(r"^[A-Z][a-z]+( [A-Za-z][\w'-]*,?)+$")  # a plain sentence: no code, no signature
SEED = 0


def summary_of(doc: str) -> str | None:
    """The first sentence of a docstring's first line, without its period, if it is plain English."""
    line = doc.split("\n", 1)[0].strip()
    sentence = line.split(". ", 1)[0].rstrip(".")
    words = sentence.split()
    return sentence if 3 <= len(words) <= 16 and SUMMARY.match(sentence) else None


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{path.name}: {len(rows)} rows")


def main() -> None:
    heldout = entries(HELDOUT_MODULES)
    write_jsonl(HERE / "heldout.jsonl", [{"text": as_text(h, d)} for h, d in heldout])
    summaries = []
    for header, doc in heldout:
        summary = summary_of(doc)
        if summary and not header.startswith("module "):
            summaries.append({"prompt": header + "\n", "summary": summary})
    write_jsonl(HERE / "summary.jsonl", summaries)
    held = {d for _, d in heldout}
    train = [as_text(h, d) for h, d in entries(TRAIN_MODULES) if d not in held]
    write_jsonl(HERE / "calib.jsonl", [{"text": t} for t in random.Random(SEED).sample(train, 128)])


if __name__ == "__main__":
    main()
