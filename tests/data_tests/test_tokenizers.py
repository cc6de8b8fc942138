"""Tokenizers: a BPE on a bounded sample, a tokenizers file, a pretrained folder built offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raylaws.data import prepare
from raylaws.spec import DataSpec, SpecError
from tests.data_tests.conftest import SMALL, corpus


def _text_folder(folder: Path, count: int = 60) -> Path:
    folder.mkdir(exist_ok=True)
    for i, text in enumerate(corpus(count)):
        (folder / f"{i:03d}.txt").write_text(text)
    return folder


def _gpt2_like_folder(folder: Path, texts: list[str]) -> Path:
    """A GPT-2-shaped fast tokenizer (byte-level BPE, <|endoftext|> as eos, no pad or mask),
    written with save_pretrained: what a team keeps beside its models."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=290, special_tokens=["<|endoftext|>"],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                            bos_token="<|endoftext|>").save_pretrained(str(folder))
    return folder


def test_a_local_tokenizer_file_is_used(tmp_path: Path) -> None:
    source = _text_folder(tmp_path / "text")
    trained = prepare(DataSpec(source=str(source), **SMALL))
    reused = prepare(DataSpec(source=str(source), tokenizer={"kind": "file", "path": trained.tokenizer_path},
                              seq_len=16, eval_tokens=256))
    assert reused.vocab_size == trained.vocab_size
    assert np.array_equal(reused.train.to_numpy(), trained.train.to_numpy())
    # known before preparing: a given tokenizer's own size; a BPE's, the size asked for
    from raylaws.data import check_data

    given = DataSpec(source=str(source), tokenizer={"kind": "file", "path": trained.tokenizer_path})
    assert check_data(given).vocab_size() == reused.vocab_size
    assert check_data(DataSpec(source=str(source), **SMALL)).vocab_size() == SMALL["tokenizer"]["vocab_size"]


def test_a_pretrained_folder_is_used_with_its_own_end_of_text(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    texts = corpus()
    folder = _gpt2_like_folder(tmp_path / "gpt2-like", texts)
    source = _text_folder(tmp_path / "text")
    data = prepare(DataSpec(source=str(source), tokenizer={"kind": "pretrained", "path": str(folder)},
                            seq_len=16, eval_tokens=256))
    pretrained = AutoTokenizer.from_pretrained(str(folder))
    assert data.eos_id == pretrained.convert_tokens_to_ids("<|endoftext|>")
    assert data.special_tokens[0] == "<|endoftext|>"
    assert data.vocab_size == len(pretrained) + 2  # a pad and a mask token added, nothing else
    stream = data.train.to_numpy()
    # every training document is the pretrained tokenizer's ids of one text, then eos
    first = pretrained(texts[0], add_special_tokens=False)["input_ids"]
    text_ids = [pretrained(t, add_special_tokens=False)["input_ids"] + [data.eos_id] for t in texts]
    assert any(np.array_equal(stream[:len(ids)], ids) for ids in text_ids) and len(first) > 10


def test_the_kept_model_carries_the_tokenizer_used(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from raylaws.train import build_model, save_model

    folder = _gpt2_like_folder(tmp_path / "gpt2-like", corpus())
    data = prepare(DataSpec(source=str(_text_folder(tmp_path / "text")),
                            tokenizer={"kind": "pretrained", "path": str(folder)}, seq_len=16, eval_tokens=256))
    from raylaws.ladder import build_ladder
    from raylaws.spec import spec_from_dict
    from tests.conftest import tiny_spec_dict

    size = build_ladder(spec_from_dict(tiny_spec_dict()))[0]
    model = build_model("clm", size, vocab_size=data.vocab_size, seq_len=16, special_id=data.eos_id)
    save_model(model, data.tokenizer_path, tmp_path / "kept")
    kept = AutoTokenizer.from_pretrained(str(tmp_path / "kept"))
    assert kept.eos_token == "<|endoftext|>" and kept.eos_token_id == data.eos_id
    assert kept("alpha beta", add_special_tokens=False)["input_ids"] == \
        AutoTokenizer.from_pretrained(str(folder))("alpha beta", add_special_tokens=False)["input_ids"]


def test_the_bpe_sample_is_bounded_and_spread_over_the_corpus(tmp_path: Path) -> None:
    from raylaws.data._sources import list_source, plan_units
    from raylaws.data._work import survey

    source = _text_folder(tmp_path / "text", count=400)
    data = DataSpec(source=str(source), shard_bytes=1 << 16, tokenizer={"kind": "bpe", "vocab_size": 300,
                                                                        "sample_bytes": 1 << 16}, seq_len=16)
    listing = list_source(data)
    rate = (1 << 16) / listing.total_bytes
    units = plan_units(data, listing)
    samples = [survey(u, data, rate).sample for u in units]
    chosen = sum(len(text) for sample in samples for _, text in sample)
    assert 0.5 * (1 << 16) < chosen < 1.5 * (1 << 16) < listing.total_bytes
    assert len(units) > 2 and all(samples)  # every unit contributes
    assert samples == [survey(u, data, rate).sample for u in units]  # the same on every run


def test_a_pretrained_path_that_is_missing_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        prepare(DataSpec(tokenizer={"kind": "pretrained", "path": str(tmp_path / "nothing")}))
    assert caught.value.problems[0].field == "data.tokenizer.path"
