"""An ONNX Runtime model that answers like the transformers model it was exported from.

The task types call models as transformers models: ``model(**tokenizer_outputs).logits`` (or
``.last_hidden_state``, ``.start_logits``/``.end_logits``), ``model.config.id2label``, ``model.device``
and, for causal LMs, ``model.generate(..., max_new_tokens=..., do_sample=False, pad_token_id=...)``.
``OrtModel`` gives exactly that over one graph written by ``export`` (or a quantized copy of it), with
torch tensors in and out, so an ONNX target is scored by the same task code as its source.

Generation is greedy only and has no KV cache: the exported causal-LM graph takes the whole sequence
and returns its logits, so every new token recomputes the full prefix (quadratic in the length). That
scores the same tokens torch's greedy ``generate`` picks, and is fine for the short generations a gate
scores; it is not how to deploy. Decoding with a KV cache on ONNX Runtime needs a graph exported with
past key values and a decoding loop such as onnxruntime-genai's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .export import CAUSAL_TASKS, ONNX_FILE

# graph inputs a tokenizer may leave out: they default the way a transformers forward defaults them
_OPTIONAL = ("attention_mask", "token_type_ids", "position_ids")


def _guess_task(config: Any, outputs: Sequence[str]) -> str:
    """The model task of a graph loaded without one: from its outputs, else the config's architecture."""
    if "last_hidden_state" in outputs:
        return "feature-extraction"
    if "start_logits" in outputs:
        return "question-answering"
    arch = ((getattr(config, "architectures", None) or [""])[0]) or ""
    if arch.endswith(("ForCausalLM", "LMHeadModel")):
        return "causal-lm"
    return "token-classification" if arch.endswith("ForTokenClassification") else "text-classification"


def _as_numpy(value: Any):
    import numpy as np

    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(value, dtype=np.int64))


def graph_feed(input_names: Sequence[str], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """int64 arrays for a graph's inputs from tokenizer outputs: missing optional ones default the way a
    transformers forward defaults them; tokenizer columns the graph does not take are dropped."""
    import numpy as np

    unknown = set(inputs) - set(input_names) - set(_OPTIONAL)
    if unknown:
        raise TypeError(f"unexpected inputs {sorted(unknown)}; this ONNX graph takes {list(input_names)}")
    if "input_ids" not in inputs:
        raise TypeError("input_ids is required")
    feed = {name: _as_numpy(inputs[name]) for name in input_names if inputs.get(name) is not None}
    batch, length = feed["input_ids"].shape
    if "attention_mask" in input_names and "attention_mask" not in feed:
        feed["attention_mask"] = np.ones((batch, length), dtype=np.int64)
    if "token_type_ids" in input_names and "token_type_ids" not in feed:
        feed["token_type_ids"] = np.zeros((batch, length), dtype=np.int64)
    if "position_ids" in input_names and "position_ids" not in feed:  # a plain forward counts from 0
        feed["position_ids"] = np.broadcast_to(np.arange(length, dtype=np.int64), (batch, length)).copy()
    return feed


class OrtModel:
    """One ONNX Runtime session plus the model's config; see the module docstring for what it supports."""

    main_input_name = "input_ids"

    def __init__(self, session: Any, config: Any, *, task: str | None = None, generation_config: Any = None,
                 path: str = "") -> None:
        self.session = session
        self.config = config
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]
        self.task = task or _guess_task(config, self.output_names)
        self.generation_config = generation_config
        self.path = path
        self._on_cuda = session.get_providers()[0] == "CUDAExecutionProvider"
        self._output_class: Any = None  # the transformers output class, resolved on the first call

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, *, file_name: str = ONNX_FILE,
                        provider: str = "CPUExecutionProvider", task: str | None = None,
                        trust_remote_code: bool = False, session_options: Any = None) -> OrtModel:
        """Open ``model_dir/file_name`` on ``provider``; ``config.json`` (and ``generation_config.json``,
        where present) come from the same directory."""
        import onnxruntime
        from transformers import AutoConfig, GenerationConfig

        model_dir = Path(model_dir)
        path = model_dir / file_name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file (the directory holds "
                                    f"{sorted(p.name for p in model_dir.glob('*.onnx')) or 'none'})")
        providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
        session = onnxruntime.InferenceSession(str(path), sess_options=session_options, providers=providers)
        config = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code)
        generation = (GenerationConfig.from_pretrained(str(model_dir))
                      if (model_dir / "generation_config.json").is_file() else None)
        return cls(session, config, task=task, generation_config=generation, path=str(path))

    @property
    def device(self):
        import torch

        return torch.device("cuda" if self._on_cuda else "cpu")

    def feed(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The session's inputs from tokenizer outputs (see ``graph_feed``)."""
        return graph_feed(self.input_names, inputs)

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The graph's outputs by output name: torch tensors on ``device``, or numpy arrays when every
        input is a numpy array (deployment code that never touches torch, as optimum's models did)."""
        import numpy as np

        values = self.session.run(self.output_names, self.feed(inputs))
        if inputs and all(isinstance(v, np.ndarray) for v in inputs.values()):
            return dict(zip(self.output_names, values))
        import torch

        if self._on_cuda:
            return {name: torch.from_numpy(value).to("cuda") for name, value in zip(self.output_names, values)}
        return {name: torch.from_numpy(value) for name, value in zip(self.output_names, values)}

    def __call__(self, **inputs: Any) -> Any:
        if self._output_class is None:
            import transformers.modeling_outputs as outputs

            from ..model_classes import TASK_CLASSES

            self._output_class = getattr(outputs, TASK_CLASSES[self.task][1])
        return self._output_class(**self.run(inputs))

    def generate(self, input_ids: Any, attention_mask: Any = None, *, max_new_tokens: int | None = None,
                 min_new_tokens: int = 0, do_sample: bool = False, num_beams: int = 1,
                 pad_token_id: int | None = None, eos_token_id: int | list[int] | None = None,
                 logits_processor: Sequence[Callable] | None = None) -> Any:
        """Greedy decoding, recomputing the whole prefix for each new token (no KV cache; see the module
        docstring). Like transformers' greedy search: stops when every sequence has produced an end
        token or after ``max_new_tokens``; finished sequences are filled with ``pad_token_id``;
        ``logits_processor`` callables see ``(ids, scores)`` of each step and may change the scores."""
        import torch

        if self.task not in CAUSAL_TASKS:
            raise TypeError(f"generate() needs a causal-LM graph; this one was loaded for {self.task!r}")
        if do_sample or num_beams != 1:
            raise ValueError("the ONNX Runtime wrapper decodes greedily only: do_sample=False, num_beams=1")
        generation = self.generation_config
        if max_new_tokens is None:
            max_new_tokens = getattr(generation, "max_new_tokens", None) or 20
        eos = eos_token_id if eos_token_id is not None else (
            getattr(generation, "eos_token_id", None) if generation is not None else None)
        eos = eos if eos is not None else getattr(self.config, "eos_token_id", None)
        eos = torch.tensor([] if eos is None else [eos] if isinstance(eos, int) else list(eos), dtype=torch.long)
        pad = pad_token_id if pad_token_id is not None else (int(eos[0]) if len(eos) else 0)
        ids = torch.as_tensor(input_ids).cpu().long()
        mask = torch.ones_like(ids) if attention_mask is None else torch.as_tensor(attention_mask).cpu().long()
        unfinished = torch.ones(ids.shape[0], dtype=torch.bool)
        for step in range(max_new_tokens):
            positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)  # left padding: count real tokens
            scores = self.run({"input_ids": ids, "attention_mask": mask, "position_ids": positions})["logits"]
            scores = scores[:, -1, :].float().cpu()
            if step < min_new_tokens and len(eos):
                scores[:, eos] = float("-inf")
            for processor in logits_processor or ():
                scores = processor(ids, scores)
            next_tokens = torch.where(unfinished, scores.argmax(dim=-1), torch.tensor(pad))
            ids = torch.cat([ids, next_tokens[:, None]], dim=-1)
            mask = torch.cat([mask, torch.ones_like(next_tokens)[:, None]], dim=-1)
            unfinished &= ~torch.isin(next_tokens, eos)
            if not unfinished.any():
                break
        return ids.to(self.device)
