"""Export a sentence-transformers model directory to ONNX, once per model, for the local provider.

    python -m knowledge.onnx_export MODEL_DIR OUTPUT.onnx

The graph is the whole sentence embedding: the transformer, then the pooling the model
directory asks for (``1_Pooling/config.json``: mean or CLS), then L2 normalisation when the
model lists a ``Normalize`` module. Its inputs are ``input_ids`` and ``attention_mask``
(int64, batch × tokens) and its output ``embedding`` (float32, batch × dim).

This runs in a child process of the first process that needs the model (see
``knowledge.embeddings.LocalProvider``): exporting imports torch and transformers
(~450 MB), which a long-lived web or worker process would otherwise keep for its whole life.
ONNX Runtime then runs the graph with the same weights: embeddings match the PyTorch
model's to ~1e-7, so chunks embedded either way are interchangeable.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

OPSET = 17


def model_layout(model_dir: Path) -> dict[str, Any]:
    """Pooling, normalisation and maximum sequence length of a sentence-transformers directory."""
    modules: list[dict[str, Any]] = []
    modules_file = model_dir / "modules.json"
    if modules_file.is_file():
        modules = json.loads(modules_file.read_text())
    pooling_mode = "mean"
    normalize = False
    for module in modules:
        kind = str(module.get("type", ""))
        if kind.endswith("Pooling"):
            config_file = model_dir / str(module.get("path", "")) / "config.json"
            if config_file.is_file():
                config = json.loads(config_file.read_text())
                if config.get("pooling_mode_cls_token"):
                    pooling_mode = "cls"
                elif config.get("pooling_mode_mean_tokens", True):
                    pooling_mode = "mean"
                else:
                    raise ValueError(f"unsupported pooling in {config_file}: {config}")
        elif kind.endswith("Normalize"):
            normalize = True
    max_seq_length = 512
    st_config = model_dir / "sentence_bert_config.json"
    if st_config.is_file():
        max_seq_length = int(json.loads(st_config.read_text()).get("max_seq_length") or 512)
    return {"pooling": pooling_mode, "normalize": normalize, "max_seq_length": max_seq_length}


def export(model_dir: Path, output: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    layout = model_layout(model_dir)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if layout["pooling"] == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if layout["normalize"]:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return pooled

    sample = torch.ones((2, 8), dtype=torch.long)
    output.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SentenceEmbedding(),
            (sample, sample),
            str(output),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    export(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
