"""Kept models in Hugging Face format: written once, atomically; read back for finetuning.

A kept model is a folder that ``transformers`` loads as it is (``AutoModel.from_pretrained``,
``AutoTokenizer.from_pretrained``): the model's ``save_pretrained`` files and the sweep's
locally trained tokenizer as a ``PreTrainedTokenizerFast``. The folder appears whole or not at
all: it is written next to its place under a hidden name and renamed into it; a re-run trial
replaces an earlier copy the same way.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Union

from raylaws.trial import Objective

if TYPE_CHECKING:
    import torch


def save_model(model: "torch.nn.Module", tokenizer_path: str, folder: Union[str, Path]) -> None:
    """Write ``model`` and the tokenizer (a ``tokenizers`` JSON file) into ``folder`` atomically.

    Any earlier folder there is replaced whole; a writer killed midway leaves only a hidden
    ``.<name>.tmp-*`` folder, which :func:`clean_partial_models` removes.
    """
    from transformers import PreTrainedTokenizerFast

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        model.save_pretrained(str(staged))
        if tokenizer_path:  # "" for pre-tokenized data with no tokenizer (data.tokenizer.kind: none)
            eos, pad, mask = _special_tokens(Path(tokenizer_path))
            tokenizer = PreTrainedTokenizerFast(tokenizer_file=tokenizer_path, eos_token=eos, bos_token=eos,
                                                pad_token=pad, mask_token=mask)
            tokenizer.save_pretrained(str(staged))
        if folder.exists():  # a re-run of the trial: move the old copy away, then the new one in
            old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(folder, old)
            os.replace(staged, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staged, folder)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _special_tokens(tokenizer_path: Path) -> tuple[str, str, str]:
    """The (end of text, padding, mask) strings of a prepared corpus' tokenizer: its
    ``specials.json`` beside it (a pretrained tokenizer keeps its own), else raylaws' own."""
    import json

    from raylaws.data import EOS, MASK, PAD

    try:
        specials = json.loads((tokenizer_path.parent / "specials.json").read_text())
        return specials["eos"], specials["pad"], specials["mask"]
    except (OSError, ValueError, KeyError):
        return EOS, PAD, MASK


def clean_partial_models(models: Union[str, Path]) -> list[Path]:
    """Remove the hidden folders of writers that died in ``models``; return what was removed."""
    models = Path(models)
    if not models.is_dir():
        return []
    removed = [p for p in models.iterdir() if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name)]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def load_classifier(folder: Union[str, Path], objective: Objective, *, num_labels: int, dropout: float,
                    pad_id: int) -> "torch.nn.Module":
    """A kept model with a fresh sequence-classification head of ``num_labels`` classes.

    ``mlm``: ``BertForSequenceClassification`` (the pooler and a one-layer classifier over the
    first token, which raylaws's task inputs make the end-of-text token, BERT's CLS role).
    ``clm``: ``GPT2ForSequenceClassification``, pooling the last token that is not ``pad_id``.
    ``dropout`` replaces the pretraining dropout of every layer.
    """
    import transformers

    transformers.utils.logging.set_verbosity_error()  # the load report lists the new head's weights as missing
    transformers.utils.logging.disable_progress_bar()
    if objective == "mlm":
        model = transformers.BertForSequenceClassification.from_pretrained(
            str(folder), num_labels=num_labels, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
            pad_token_id=pad_id)
        return model
    model = transformers.GPT2ForSequenceClassification.from_pretrained(
        str(folder), num_labels=num_labels, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
        pad_token_id=pad_id)
    model.loss_type = "ForSequenceClassification"
    return model
