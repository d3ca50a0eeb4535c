"""Train docs-lm, a small Llama for Python documentation, once per content of its inputs.

This is the team's own training code, not part of the gate: the gate only needs a model directory.
docs-lm is a 0.9M-parameter Llama (3 layers, hidden 128, tied embeddings) with a 2,048-token byte-level
BPE vocabulary trained here on the same text: the entries of ``corpus.TRAIN_MODULES`` (about 326k tokens),
1,000 steps of 8 x 128 tokens (about 3 epochs), about a minute on 2 idle CPU cores. At that budget a
smaller model learns more: in trials at the same time budget, 1.7M and 2.5M-parameter variants ended with
a higher held-out perplexity than this one (85 to 146 against 65 to 80).

The model is cached by a content key (training text + settings + this script and ``corpus.py``), so later
runs of the gate reuse it in milliseconds; a Python whose docstrings differ trains a new one. Next to the
weights it writes ``training.json``: the loss at both ends of training, and the held-out perplexity of the
model and of a unigram model over the same tokens (the floor any language model must clearly beat).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections import Counter
from pathlib import Path

from corpus import HELDOUT_MODULES, TRAIN_MODULES, as_text, entries

from pytest_compressgate.cache import CacheStore, hash_path, make_key

HERE = Path(__file__).resolve().parent
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")
SETTINGS = {
    "vocab_size": 2048, "hidden": 128, "intermediate": 384, "layers": 3, "heads": 4, "positions": 256,
    "seq_len": 128, "batch_size": 8, "steps": 1000, "lr": 4e-3, "warmup": 20, "weight_decay": 0.01,
    "seed": 0, "threads": 2,
}


def training_texts() -> list[str]:
    """The training entries, minus any whose docstring also appears in a held-out module (inherited docs)."""
    held_out = {doc for _, doc in entries(HELDOUT_MODULES)}
    return [as_text(header, doc) for header, doc in entries(TRAIN_MODULES) if doc not in held_out]


def texts_hash(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def build_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE trained on the training text; every text starts with <s>, as in training."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    bos = bpe.token_to_id("<s>")
    bpe.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", model_max_length=SETTINGS["positions"],
                                   model_input_names=["input_ids", "attention_mask"])


def token_blocks(tokenizer, texts: list[str], seq_len: int):
    """All texts as one stream (<s> text </s> ...), cut into rows of ``seq_len`` tokens."""
    import torch

    stream: list[int] = []
    for ids in tokenizer(texts, verbose=False)["input_ids"]:
        stream.extend(ids + [tokenizer.eos_token_id])
    usable = len(stream) // seq_len * seq_len
    return torch.tensor(stream[:usable]).view(-1, seq_len), stream


def unigram_perplexity(train_stream: list[int], heldout_ids: list[list[int]], vocab_size: int) -> float:
    """Perplexity of an add-one unigram model on the held-out tokens the gate scores (all but <s>)."""
    counts = Counter(train_stream)
    total = len(train_stream) + vocab_size
    nll = sum(-math.log((counts[t] + 1) / total) for ids in heldout_ids for t in ids[1:])
    return math.exp(nll / sum(len(ids) - 1 for ids in heldout_ids))


def model_perplexity(model, heldout_ids: list[list[int]], seq_len: int) -> float:
    """Held-out perplexity over non-overlapping windows (a quick check; the gate's own is the judge)."""
    import torch

    nll, count = 0.0, 0
    with torch.inference_mode():
        for ids in heldout_ids:
            for start in range(0, len(ids) - 1, seq_len):
                window = torch.tensor([ids[start:start + seq_len + 1]])
                if window.shape[1] < 2:
                    continue
                logits = model(input_ids=window[:, :-1]).logits
                nll += torch.nn.functional.cross_entropy(logits[0], window[0, 1:], reduction="sum").item()
                count += window.shape[1] - 1
    return math.exp(nll / count)


def read_heldout(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def new_model(tokenizer, settings: dict):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=settings["hidden"],
                         intermediate_size=settings["intermediate"], num_hidden_layers=settings["layers"],
                         num_attention_heads=settings["heads"], num_key_value_heads=settings["heads"],
                         max_position_embeddings=settings["positions"], tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config)


def fit(model, blocks, settings: dict, description: str) -> list[float]:
    """AdamW with warmup and cosine decay over shuffled epochs of ``blocks``; the loss of every step."""
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    steps, warmup, size = settings["steps"], settings["warmup"], settings["batch_size"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"],
                                  betas=(0.9, 0.95))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    rng = random.Random(settings["seed"])
    order: list[int] = []
    losses: list[float] = []
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total} steps, loss {task.fields[loss]:.2f}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    model.train()
    with Progress(*columns, transient=True) as progress:
        bar = progress.add_task(description, total=steps, loss=float("nan"))
        for _ in range(steps):
            if len(order) < size:  # a fresh shuffled epoch
                fresh = list(range(len(blocks)))
                rng.shuffle(fresh)
                order.extend(fresh)
            batch, order = blocks[order[:size]], order[size:]
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            progress.update(bar, advance=1, loss=sum(losses[-20:]) / len(losses[-20:]))
    return losses


def train(texts: list[str], heldout: list[str], out_dir: Path, settings: dict) -> None:
    import torch

    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(settings["threads"])  # the same arithmetic on any machine; restored below
    try:
        torch.manual_seed(settings["seed"])
        tokenizer = build_tokenizer(texts, settings["vocab_size"])
        blocks, stream = token_blocks(tokenizer, texts, settings["seq_len"])
        model = new_model(tokenizer, settings)
        losses = fit(model, blocks, settings, f"training docs-lm on {len(stream):,} tokens of stdlib docstrings")
        model.eval()
        heldout_ids = tokenizer(heldout, verbose=False)["input_ids"]
        stats = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_texts": len(texts), "train_tokens": len(stream),
            "epochs": round(settings["steps"] * settings["batch_size"] / len(blocks), 2),
            "first_loss": round(losses[0], 3), "final_loss": round(sum(losses[-20:]) / 20, 3),
            "heldout_texts": len(heldout),
            "heldout_perplexity": round(model_perplexity(model, heldout_ids, settings["seq_len"]), 2),
            "unigram_perplexity": round(unigram_perplexity(stream, heldout_ids, len(tokenizer)), 2),
            "seconds": round(time.perf_counter() - started, 1),
        }
    finally:
        torch.set_num_threads(threads)
    # A model that learned beats counting tokens by far (about 72 against 575); one that did not is not cached.
    if stats["heldout_perplexity"] >= stats["unigram_perplexity"] / 2:
        raise RuntimeError(f"docs-lm learned too little: held-out perplexity {stats['heldout_perplexity']} against "
                           f"{stats['unigram_perplexity']} for a unigram model")
    out_dir.mkdir(parents=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(out_dir))  # safetensors
    tokenizer.save_pretrained(str(out_dir))
    (out_dir / "training.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(f"docs-lm trained: {json.dumps(stats)}")


def docs_lm(cache_dir: Path, heldout_file: Path = HERE / "data" / "heldout.jsonl") -> Path:
    """The trained model's directory, trained now only if its inputs changed."""
    texts = training_texts()
    key = make_key(texts=texts_hash(texts), heldout=hash_path(heldout_file), settings=SETTINGS,
                   script=hash_path(Path(__file__)), corpus=hash_path(HERE / "corpus.py"))
    path, _ = CacheStore(cache_dir).get_or_build(
        "models", key, lambda tmp: train(texts, read_heldout(heldout_file), tmp, SETTINGS))
    return path


if __name__ == "__main__":
    print(docs_lm(HERE / ".compressgate"))
