"""Tiny untrained models and local tokenizers for the task-type tests, built from configs (no hub).

Random weights are enough: metric values are checked on hand-made predictions, and model runs are checked
for what holds whatever the weights (shapes, alignment, prompt stripping, batching invariance). Where a test
needs to know the model's answer, a small fake model that computes logits from token ids stands in.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

WORDS = [
    "john", "smith", "mary", "lives", "works", "in", "at", "paris", "london", "acme", "corp", "the", "city",
    "is", "capital", "of", "france", "where", "does", "who", "what", "a", "an", "cat", "dog", "sat", "on",
    "mat", "and", "river", "bank", "money", "new", "york", "summary", "text", "short", "long", "report",
    ".", ",", "?", "1", "2", "3", "blue", "red", "green", "car", "house",
]
SUBWORDS = ["##er", "##s", "##ing"]  # "yorker" -> york ##er, so some words split into sub-tokens
BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def bert_tokenizer(out_dir: Path):
    from tests.tinymodels import word_piece_tokenizer

    return word_piece_tokenizer(out_dir, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *SUBWORDS])


def _bert_config(tokenizer, **kwargs):
    from transformers import BertConfig

    return BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128, **kwargs)


def tiny_bert(out_dir: Path, head: str) -> Path:
    """A saved 1-layer BERT with ``head``: "token-classification", "question-answering" or "feature-extraction"."""
    import torch
    import transformers

    tokenizer = bert_tokenizer(out_dir)
    torch.manual_seed(0)
    if head == "token-classification":
        config = _bert_config(tokenizer, num_labels=len(BIO), id2label=dict(enumerate(BIO)),
                              label2id={t: i for i, t in enumerate(BIO)})
        model = transformers.BertForTokenClassification(config)
    elif head == "question-answering":
        model = transformers.BertForQuestionAnswering(_bert_config(tokenizer))
    else:
        model = transformers.BertModel(_bert_config(tokenizer), add_pooling_layer=False)
    model.eval().save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


def word_tokenizer(*, pad: bool = True):
    """A word-level fast tokenizer over WORDS; ids 0-2 are <pad>, </s>, <unk>."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = {"pad_token": "<pad>"} if pad else {}
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", eos_token="</s>", **specials)


def tiny_gpt2(out_dir: Path) -> Path:
    """A saved 2-layer GPT-2 (64 positions) whose tokenizer has no pad token, like GPT-2's own."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = word_tokenizer(pad=False)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=1, eos_token_id=1)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).eval().save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


def tiny_t5(out_dir: Path) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = word_tokenizer(pad=True)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=64, num_layers=1, num_heads=2,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).eval().save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


class FakeTokenModel:
    """Token classification whose logits follow a token -> tag table (every other token: ``default``)."""

    def __init__(self, tokenizer, table: dict[str, str], *, default: str = "O") -> None:
        self.config = SimpleNamespace(id2label=dict(enumerate(BIO)))
        self.by_id = {tokenizer.convert_tokens_to_ids(tok): BIO.index(tag) for tok, tag in table.items()}
        self.default = BIO.index(default)

    def __call__(self, input_ids, **_):
        import torch

        labels = torch.tensor([[self.by_id.get(int(i), self.default) for i in row] for row in input_ids])
        return SimpleNamespace(logits=torch.nn.functional.one_hot(labels, len(BIO)).float())


class FakeQAModel:
    """Question answering whose start (end) logits are 5 at tokens in ``starts`` (``ends``), else 0."""

    def __init__(self, tokenizer, starts: set[str], ends: set[str], *, cls_score: float = 0.0) -> None:
        self.config = SimpleNamespace()
        self.starts = {tokenizer.convert_tokens_to_ids(t) for t in starts}
        self.ends = {tokenizer.convert_tokens_to_ids(t) for t in ends}
        self.cls_id, self.cls_score = tokenizer.cls_token_id, cls_score

    def _logits(self, input_ids, chosen):
        import torch

        return torch.tensor([[5.0 if int(i) in chosen else (self.cls_score if int(i) == self.cls_id else 0.0)
                              for i in row] for row in input_ids])

    def __call__(self, input_ids, **_):
        return SimpleNamespace(start_logits=self._logits(input_ids, self.starts),
                               end_logits=self._logits(input_ids, self.ends))


class FakeEncoder:
    """An encoder that gives every token the same hidden state: all embeddings identical (collapse)."""

    config = SimpleNamespace()

    def __call__(self, input_ids, **_):
        import torch

        return SimpleNamespace(last_hidden_state=torch.ones((*input_ids.shape, 8)))
