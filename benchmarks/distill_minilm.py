"""Distil the fine-tuned all-MiniLM-L6-v2 support-intent classifier into half its layers, then prune it.

The issue's must-show figure: a 3-layer student keeps at least 90% of the 6-layer teacher's accuracy on
the held-out intents. The same recipe continues with 50% magnitude pruning, whose sparsity is measured
from the saved weights. Usage (from the repository root)::

    python benchmarks/distill_minilm.py [TEACHER_DIR] [--epochs N] [--lr X] [--temperature T]

Without TEACHER_DIR the example suite's fine-tuning code builds the teacher (about a minute, then cached).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_suite"
TRAIN, TEST = EXAMPLE / "data" / "intents_train.jsonl", EXAMPLE / "data" / "intents_test.jsonl"
TASK = "text-classification"


def default_teacher() -> Path:
    sys.path.insert(0, str(EXAMPLE))
    from finetune import support_intent_model

    return support_intent_model(EXAMPLE / ".compressgate", TRAIN)


def accuracy(model_dir: Path, rows: list[dict]) -> float:
    import torch

    from compressors.loaders import load_model, load_tokenizer

    model, tokenizer = load_model(model_dir, task=TASK), load_tokenizer(model_dir)
    correct = 0
    for start in range(0, len(rows), 64):
        batch = rows[start:start + 64]
        enc = tokenizer([r["text"] for r in batch], padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            pred = model(**enc).logits.argmax(-1).tolist()
        correct += sum(model.config.id2label[p] == r["label"] for p, r in zip(pred, batch))
    return correct / len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher", nargs="?", type=Path, help="fine-tuned teacher directory (default: build it)")
    parser.add_argument("--student-layers", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="override the distill default")
    parser.add_argument("--lr", type=float, help="override the distill default")
    parser.add_argument("--temperature", type=float, help="override the distill default")
    parser.add_argument("--out", type=Path, help="where to keep the artifacts (default: a temporary directory)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    from compressors import Context, run_recipe

    teacher = args.teacher or default_teacher()
    overrides = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr), ("temperature", args.temperature))
                 if v is not None}
    recipe = [
        {"method": "distill", "student_layers": args.student_layers, "data": str(TRAIN), **overrides},
        {"method": "prune-magnitude", "sparsity": 0.5},
    ]
    rows = [json.loads(line) for line in TEST.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="distill-minilm-") as tmp:
        out = args.out or Path(tmp)
        started = time.perf_counter()
        student, pruned = run_recipe(teacher, recipe, out / f"run-{int(time.time())}", context=Context(model_task=TASK))
        seconds = time.perf_counter() - started
        t_acc, s_acc, p_acc = accuracy(teacher, rows), accuracy(student.path, rows), accuracy(pruned.path, rows)
    d = student.stats
    print(f"teacher:  {d['teacher_layers']} layers, {d['parameters_teacher']:,} parameters, "
          f"accuracy {t_acc:.4f} on {len(rows)} held-out intents")
    print(f"student:  {d['student_layers']} layers (teacher blocks {d['layer_map']}), "
          f"{d['parameters_student']:,} parameters, accuracy {s_acc:.4f}")
    print(f"ratio:    student / teacher accuracy = {s_acc / t_acc:.4f} (must be >= 0.90)")
    print(f"distill:  {d['train_examples']} training examples, {student.manifest['params']['epochs']} epochs, "
          f"final loss {d['final_loss']}, train agreement {d['train_agreement']}, {d['device']}, {d['seconds']:.1f} s")
    p = pruned.stats
    print(f"pruned:   prune-magnitude 0.5 on the student: measured sparsity {p['sparsity']:.4f} of pruned weights, "
          f"{p['model_sparsity']:.4f} of all Linear weights, {p['nonzero_parameters']:,}/{p['parameters']:,} "
          f"parameters non-zero, accuracy {p_acc:.4f}")
    print(f"recipe:   {seconds:.1f} s for both steps")
    return 0 if s_acc / t_acc >= 0.90 else 1


if __name__ == "__main__":
    sys.exit(main())
