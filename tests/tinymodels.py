"""Tiny real models built from configs, trained for a few seconds on synthetic data, for tests.

No hub access: the tokenizer's vocabulary is written from the data's own words.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

LABELS = ("billing", "shipping", "account")
KEYWORDS = {
    "billing": ["invoice", "charge", "refund", "payment", "price"],
    "shipping": ["parcel", "courier", "delivery", "tracking", "package"],
    "account": ["password", "login", "email", "profile", "username"],
}
FILLER = ["please", "help", "my", "the", "is", "with", "about", "need", "question", "today", "a", "i", "can", "you"]


def make_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        words = rng.sample(FILLER, 5) + [rng.choice(KEYWORDS[label])]
        if rng.random() < 0.15:  # some noise so the task is not trivially perfect
            words.append(rng.choice(KEYWORDS[rng.choice(LABELS)]))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_classifier(out_dir: Path, *, train_steps: int = 60, seed: int = 0) -> Path:
    """A 2-layer BERT classifier (about 60k parameters) trained on the synthetic task."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(
        set(FILLER) | {w for ws in KEYWORDS.values() for w in ws})
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(out_dir / "vocab.txt"), do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=64, num_labels=len(LABELS),
                        id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    rows = make_rows(240, seed + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(train_steps):
        batch = rows[(step * 16) % len(rows):(step * 16) % len(rows) + 16]
        enc = tokenizer([r["text"] for r in batch], padding=True, return_tensors="pt")
        loss = model(**enc, labels=torch.tensor([LABELS.index(r["label"]) for r in batch])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir
