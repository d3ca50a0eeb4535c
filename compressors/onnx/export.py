"""Export a transformers model to one ONNX graph per task head with ``torch.onnx.export``.

optimum-onnx's exporter does not install beside transformers 5, so the project exports for itself.
It uses the TorchScript exporter (``dynamo=False``): it took 2.4 s on all-MiniLM-L6-v2 where the
dynamo exporter took 41 s for the same outputs, it runs the ``symbolic`` methods the INC path relies
on (``methods/_qdq.py``), and ONNX Runtime's transformer fusions recognise the graphs it writes.

Every graph has dynamic batch and sequence axes and takes the tensors the head needs: ``input_ids``,
``attention_mask``, ``token_type_ids`` where an encoder's forward takes them, ``position_ids`` where a
causal LM's does (generation with left padding needs them). Outputs are named like the transformers
output fields, so the runtime wrapper can hand back the same attribute names. Causal LMs are exported
without past key values: one graph computes the logits of the whole sequence (see ``runtime``).
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any

from ..errors import CompressionError
from ._masks import traceable_masks

OPSET = 18  # what optimum-onnx exported BERT-style models with (the same graph); ONNX Runtime 1.20+ runs it
ONNX_FILE = "model.onnx"
CAUSAL_TASKS = frozenset({"causal-lm", "text-generation"})

# model task -> the output fields its graph returns, and which of their axes are dynamic
OUTPUTS: dict[str, tuple[str, ...]] = {
    "text-classification": ("logits",),
    "token-classification": ("logits",),
    "question-answering": ("start_logits", "end_logits"),
    "causal-lm": ("logits",),
    "text-generation": ("logits",),
    "feature-extraction": ("last_hidden_state",),
    "retrieval": ("last_hidden_state",),
    "embedding-similarity": ("last_hidden_state",),
}
_PER_SEQUENCE = {"text-classification"}  # one row of logits per sequence: only the batch axis varies


def graph_inputs(model: Any, task: str) -> list[str]:
    """The tensors the exported graph takes, in order: what the head needs and its forward accepts."""
    accepted = set(inspect.signature(model.forward).parameters)
    extra = "position_ids" if task in CAUSAL_TASKS else "token_type_ids"
    return [name for name in ("input_ids", "attention_mask", extra) if name in accepted]


def _check_task(task: str) -> None:
    if task not in OUTPUTS:
        raise CompressionError(
            f"ONNX export serves the model tasks {', '.join(sorted(OUTPUTS))}, not {task!r} (encoder-decoder "
            "models such as T5 need separate encoder and decoder graphs): use torch-dynamic-int8 or cast-fp16")


def dummy_inputs(model: Any, names: list[str]) -> tuple:
    """Two sequences of eight tokens, the second padded: a mask that is not all ones keeps transformers
    from taking a shortcut that would drop the mask from the traced graph."""
    import torch

    vocab = int(getattr(model.config, "vocab_size", 100) or 100)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(min(5, vocab - 1), vocab, (2, 8), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, -3:] = 0
    made = {"input_ids": input_ids, "attention_mask": attention_mask,
            "token_type_ids": torch.zeros_like(input_ids),
            "position_ids": (attention_mask.cumsum(-1) - 1).clamp(min=0)}
    return tuple(made[name] for name in names)


def _head(model: Any, names: list[str], outputs: tuple[str, ...], causal: bool):
    """The model as a module of positional tensors returning the task's output fields as a tuple."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            kwargs = dict(zip(names, tensors))
            if causal:
                kwargs["use_cache"] = False  # no past key values in or out: one graph, whole sequence
            out = self.model(**kwargs, return_dict=True)
            return tuple(out[name] for name in outputs)

    # in eval mode: the exporter restores the wrapper's mode afterwards, and a wrapper left in training
    # mode would switch the model's dropout on for whoever uses it next
    return Head().eval()


def export_model(model: Any, out_dir: Path, *, task: str, file_name: str = ONNX_FILE) -> Path:
    """Write ``model`` (in memory, eval mode) as ``out_dir/file_name`` plus its config; returns the path."""
    import torch

    _check_task(task)
    out_dir.mkdir(parents=True, exist_ok=True)
    names, outputs = graph_inputs(model, task), OUTPUTS[task]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes.update({name: {0: "batch"} if task in _PER_SEQUENCE else {0: "batch", 1: "sequence"} for name in outputs})
    path = out_dir / file_name
    with warnings.catch_warnings(), torch.no_grad(), traceable_masks():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes are not the user's concern
        torch.onnx.export(_head(model, names, outputs, task in CAUSAL_TASKS), dummy_inputs(model, names), str(path),
                          input_names=names, output_names=list(outputs), dynamic_axes=axes,
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    _share_tied_embedding(path)
    model.config.save_pretrained(str(out_dir))
    generation_config = getattr(model, "generation_config", None)
    if task in CAUSAL_TASKS and generation_config is not None:
        generation_config.save_pretrained(str(out_dir))
    return path


def _share_tied_embedding(path: Path) -> None:
    """Store a tied LM head once. The exporter writes a head tied to the input embedding twice: the
    embedding for its Gather and a transposed copy for the head's MatMul. As optimum's exporter does,
    the copy is replaced by a Transpose of the embedding; ONNX Runtime's quantizer then quantizes the
    embedding once and the Transpose carries the int8 values on to the MatMul."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in graph.initializer):
        return  # a graph past protobuf's 2 GB keeps its weights outside and its copy: not rewritten here
    users: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, set()).add(node.op_type)
    inits = {init.name: init for init in graph.initializer if len(init.dims) == 2}
    gathered = [init for init in inits.values() if users.get(init.name) == {"Gather"}]
    changed = False
    for ref in gathered:
        ref_data = None
        for init in list(inits.values()):
            if init.name == ref.name or list(init.dims) != list(ref.dims)[::-1] or init.data_type != ref.data_type:
                continue
            ref_data = numpy_helper.to_array(ref) if ref_data is None else ref_data
            if not np.array_equal(ref_data.T, numpy_helper.to_array(init)):
                continue
            out = f"{ref.name}_transposed"
            first = next(i for i, node in enumerate(graph.node) if init.name in node.input)
            graph.node.insert(first, helper.make_node("Transpose", [ref.name], [out], name=f"{ref.name}/Transpose"))
            for node in graph.node:
                node.input[:] = [out if name == init.name else name for name in node.input]
            graph.initializer.remove(init)
            del inits[init.name]
            changed = True
    if changed:
        onnx.save(model, str(path))


def export_pretrained(model_dir: Path, out_dir: Path, *, task: str, trust_remote_code: bool = False,
                      eager_attention: bool = False, file_name: str = ONNX_FILE) -> Path:
    """Load the transformers model in ``model_dir`` for ``task`` and export it. ``eager_attention`` loads it
    with the plain attention code, the only form whose exported graph ONNX Runtime fuses into Attention."""
    from ..modelio import load_transformers

    _check_task(task)
    kwargs = {"attn_implementation": "eager"} if eager_attention else {}
    model = load_transformers(model_dir, task, trust_remote_code=trust_remote_code, **kwargs)
    return export_model(model, out_dir, task=task, file_name=file_name)
