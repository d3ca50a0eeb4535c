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


def word_piece_tokenizer(out_dir: Path, vocab: list[str]):
    """A lower-casing BERT WordPiece tokenizer over ``vocab``, written as ``vocab.txt`` and read back with
    ``from_pretrained``: transformers 5 silently ignores ``BertTokenizerFast(vocab_file=...)`` (it wants
    ``vocab=``, which 4.57 does not take), leaving five special tokens and every word ``[UNK]``."""
    from transformers import BertTokenizerFast

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(str(out_dir), do_lower_case=True)
    assert len(tokenizer) == len(vocab), f"the tokenizer read {len(tokenizer)} of the {len(vocab)} words in vocab.txt"
    return tokenizer


def classifier_accuracy(model, tokenizer, rows: list[dict]) -> float:
    """Share of ``rows`` the tiny classifier labels right."""
    import torch

    enc = tokenizer([r["text"] for r in rows], padding=True, return_tensors="pt")
    with torch.no_grad():
        predicted = model(**enc).logits.argmax(-1).tolist()
    return sum(LABELS[p] == r["label"] for p, r in zip(predicted, rows)) / len(rows)


MIN_TINY_ACCURACY = 0.8  # chance is 1/3; the trained model scores about 0.9 on held-out rows


def tiny_classifier(out_dir: Path, *, train_steps: int = 60, seed: int = 0) -> Path:
    """A 2-layer BERT classifier (about 60k parameters) trained on the synthetic task; it must score well
    above chance on held-out rows, or every test built on it would pass on a model that learned nothing."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(
        set(FILLER) | {w for ws in KEYWORDS.values() for w in ws})
    tokenizer = word_piece_tokenizer(out_dir, vocab)
    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=64, num_labels=len(LABELS),
                        id2label=dict(enumerate(LABELS)), label2id={name: i for i, name in enumerate(LABELS)})
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
    accuracy = classifier_accuracy(model, tokenizer, make_rows(150, seed + 98))
    assert accuracy >= MIN_TINY_ACCURACY, f"the tiny classifier learned too little: held-out accuracy {accuracy:.3f}"
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


# --- Tiny causal language models -------------------------------------------------------------------
# Text comes from the docstrings of the running Python's standard library, so it is real English with
# code in it, needs no download and is read at run time. Modules are split between training and
# held-out text by name, so a perplexity on ``heldout_texts`` measures text the model never saw.

TRAIN_MODULES = (
    "json", "collections", "itertools", "functools", "textwrap", "string", "pathlib", "os", "re", "random",
    "statistics", "datetime", "heapq", "bisect", "shutil", "argparse", "csv", "enum", "dataclasses", "typing",
    "fractions", "decimal", "calendar", "difflib", "logging", "tempfile", "zipfile", "base64", "hashlib",
    "contextlib", "abc", "copy", "pprint", "operator", "glob", "fnmatch", "uuid", "queue", "threading",
    "subprocess", "inspect", "ast", "tokenize", "unittest", "email", "http.client", "urllib.parse", "html",
    "sqlite3", "gzip", "bz2", "lzma", "tarfile", "configparser", "locale", "gettext", "codecs", "io", "struct",
)
HELDOUT_MODULES = (
    "array", "weakref", "types", "math", "secrets", "hmac", "sched", "selectors", "socket", "signal",
    "platform", "sysconfig", "traceback", "warnings", "timeit", "doctest", "zoneinfo", "graphlib", "ipaddress",
    "mimetypes", "shlex", "cmd", "plistlib", "binascii", "filecmp", "linecache", "dis", "reprlib",
)
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")


def docstring_texts(modules: tuple[str, ...] = TRAIN_MODULES, *, min_chars: int = 40) -> list[str]:
    """Docstrings of ``modules`` and of their public functions and classes, deduplicated, in a fixed order."""
    import importlib
    import inspect
    import warnings

    seen: set[str] = set()
    texts = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a Python built without this module: use the others
            continue
        with warnings.catch_warnings():  # typing.io and the like warn when touched
            warnings.simplefilter("ignore", DeprecationWarning)
            objects = [module] + [getattr(module, a, None) for a in sorted(dir(module)) if not a.startswith("_")]
            docs = [inspect.getdoc(o) for o in objects
                    if o is module or inspect.isfunction(o) or inspect.isclass(o) or inspect.isbuiltin(o)]
        for doc in docs:
            if doc and len(doc) >= min_chars and doc not in seen:
                seen.add(doc)
                texts.append(doc)
    return texts


def heldout_texts(n: int = 64) -> list[str]:
    """Docstrings of modules the tiny LMs never train on, for perplexity."""
    return docstring_texts(HELDOUT_MODULES)[:n]


def tiny_tokenizer(out_dir: Path, *, vocab_size: int = 1024, texts: list[str] | None = None):
    """A byte-level BPE tokenizer trained on the docstrings, saved with ``save_pretrained``; returns it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts or docstring_texts(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>", model_max_length=512)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir))
    return tokenizer


def tiny_llama(out_dir: Path, *, hidden: int = 128, intermediate: int | None = None, layers: int = 2,
               heads: int = 4, kv_heads: int = 2, train_steps: int = 40, seq_len: int = 64, batch: int = 16,
               vocab_size: int = 1024, seed: int = 0) -> Path:
    """A small Llama trained for ``train_steps`` steps on stdlib docstrings, with its own BPE tokenizer.

    Dimensions default to multiples of 128 (hidden 128, intermediate 256) so GPTQ groups of 128 fit.
    A trained one (``train_steps > 0``) must beat a uniform guess by 2x on held-out text; 0 steps leaves
    random weights, for timing.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    texts = docstring_texts()
    tokenizer = tiny_tokenizer(out_dir, vocab_size=vocab_size, texts=texts)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate or 2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=max(256, seq_len), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    ids = tokenizer("\n\n".join(texts), return_tensors="pt", verbose=False).input_ids[0]
    chunks = ids[: len(ids) // seq_len * seq_len].view(-1, seq_len)
    order = torch.randperm(len(chunks), generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(train_steps):
        rows = order[(step * batch) % len(order):][:batch]
        loss = model(input_ids=chunks[rows], labels=chunks[rows]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    if train_steps:  # a uniform guess has perplexity vocab_size; 20 steps reach about 0.4 of it
        perplexity = causal_lm_perplexity(model, tokenizer, heldout_texts(16))
        assert perplexity < vocab_size / 2, f"the tiny Llama learned too little: held-out perplexity {perplexity:.0f}"
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(out_dir))
    return out_dir


def write_calibration(path: Path, *, n: int = 32, kind: str = "jsonl") -> Path:
    """A calibration file of ``n`` docstrings: JSONL with a "text" column, CSV with a "text" header, or TXT
    (one text a line)."""
    import csv

    texts = docstring_texts()[::7][:n]
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "jsonl":
        return write_jsonl(path, [{"text": t} for t in texts])
    if kind == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text"])
            writer.writerows([t] for t in texts)
        return path
    path.write_text("".join(" ".join(t.split()) + "\n" for t in texts), encoding="utf-8")
    return path


def causal_lm_perplexity(model, tokenizer, texts: list[str], *, max_length: int = 128) -> float:
    """Token-weighted perplexity of ``model`` (anything returning ``.logits``) on ``texts``, one text at a time."""
    import math

    import torch

    total_nll, total_tokens = 0.0, 0
    device = next((p.device for p in model.parameters()), torch.device("cpu")) if hasattr(model, "parameters") \
        else torch.device("cpu")
    with torch.no_grad():
        for text in texts:
            enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)
            ids = enc.input_ids.to(device)
            if ids.shape[1] < 2:
                continue
            logits = model(input_ids=ids, attention_mask=enc.attention_mask.to(device)).logits.float()
            nll = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum")
            total_nll += nll.item()
            total_tokens += ids.shape[1] - 1
    return math.exp(total_nll / max(total_tokens, 1))


def tiny_gpt2(out_dir: Path, *, seed: int = 0) -> Path:
    """An untrained 2-layer GPT-2 (transformers' Conv1D layers, LM head tied to the embedding) with a
    word-level tokenizer over the synthetic task's words; enough to test what methods do with GPT-2."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out_dir.mkdir(parents=True, exist_ok=True)
    words = ["<|endoftext|>", "<unk>"] + sorted(set(FILLER) | {w for ws in KEYWORDS.values() for w in ws})
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                        unk_token="<unk>", pad_token="<|endoftext|>",
                                        model_input_names=["input_ids", "attention_mask"])
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=64,
                                       bos_token_id=0, eos_token_id=0, pad_token_id=0)).eval()
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


GATE_TOML = """
[tool.compressgate]
source = {{ model = "{model}", task = "text-classification" }}
cache_dir = "{cache}"
{top}
[tool.compressgate.targets.cpu-int8]
hardware = "x86-avx2"
recipe = [{{ method = "onnx-dynamic-int8", per_channel = true }}]

[tool.compressgate.tasks.intent]
data = "{data}"
metric = "accuracy"
max_drop = {max_drop}
{extra}
"""


def target_toml(name: str, hardware: str, method: str) -> str:
    """One more target for ``gate_toml(extra=...)``: a one-step recipe for a hardware preset."""
    return f'\n[tool.compressgate.targets.{name}]\nhardware = "{hardware}"\nrecipe = [{{ method = "{method}" }}]\n'


def gate_toml(*, model: object, cache: object, data: object, max_drop: float = 0.05, top: str = "",
              extra: str = "") -> str:
    """A pyproject.toml declaring one ONNX INT8 target and one accuracy task on the tiny classifier."""
    return GATE_TOML.format(model=model, cache=cache, data=data, max_drop=max_drop, top=top, extra=extra)
