"""The tokenizer of a corpus: a BPE trained on a sample, a ``tokenizers`` file, or a pretrained
folder; with the three special tokens every trial needs (end of text, padding, mask)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
import json
from typing import TYPE_CHECKING, Any, Iterable, Optional

from raylaws.data._corpus import write_atomic
from raylaws.data._sources import first_line
from raylaws.spec import DataSpec, SpecError, SpecProblem

if TYPE_CHECKING:
    from raylaws.data._work import Survey

EOS, PAD, MASK = "<|endoftext|>", "<pad>", "<mask>"
SPECIAL_TOKENS = (EOS, PAD, MASK)
_TOKENIZER_SUFFIXES = {".json", ".txt", ".model", ".tiktoken"}


@dataclass(frozen=True)
class Specials:
    """The special tokens' strings (as a kept model's tokenizer names them) and ids."""

    eos: str
    pad: str
    mask: str
    eos_id: int
    pad_id: int
    mask_id: int


def fingerprint(data: DataSpec) -> Optional[str]:
    """A hash of the given tokenizer's files (None for a BPE trained here, or none at all)."""
    tokenizer = data.tokenizer
    if tokenizer.kind not in ("file", "pretrained"):
        return None
    path = _path(tokenizer.path)
    digest = hashlib.sha256()
    # a model folder's tokenizer files only (not its weights): JSON, vocabularies, merges, sentencepiece
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _TOKENIZER_SUFFIXES
                   ) if path.is_dir() else [path]
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def check(data: DataSpec) -> None:
    """Refuse a tokenizer path that is missing or unreadable, naming ``data.tokenizer.path``."""
    tokenizer = data.tokenizer
    if tokenizer.kind not in ("file", "pretrained"):
        return
    path = _path(tokenizer.path)
    if tokenizer.kind == "file" and not path.is_file():
        raise SpecError([SpecProblem("data.tokenizer.path", f"no such file {tokenizer.path!r}; give a local "
                                                            "tokenizer.json")])
    if tokenizer.kind == "pretrained" and not path.exists():
        raise SpecError([SpecProblem("data.tokenizer.path", f"no such file or folder {tokenizer.path!r}; give a "
                                                            "save_pretrained folder or a tokenizer.json")])


def load(data: DataSpec) -> tuple[Any, Specials]:
    """The given tokenizer (kind ``file`` or ``pretrained``) as a ``tokenizers.Tokenizer``."""
    from tokenizers import Tokenizer

    path = _path(data.tokenizer.path)
    if data.tokenizer.kind == "file" or path.is_file():
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # noqa: BLE001 - tokenizers raises a bare Exception
            raise SpecError([SpecProblem("data.tokenizer.path", f"{str(path)!r} is not a tokenizers JSON file "
                                                                f"({first_line(error)})")]) from None
        if data.tokenizer.kind == "file":  # as always: raylaws' own three special tokens
            tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
            return tokenizer, _specials(tokenizer, EOS, PAD, MASK)
        return tokenizer, _own_specials(tokenizer, None)
    try:
        from transformers import AutoTokenizer

        pretrained = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as error:  # noqa: BLE001 - transformers raises many kinds
        raise SpecError([SpecProblem("data.tokenizer.path", f"transformers cannot load a tokenizer from "
                                                            f"{str(path)!r} ({first_line(error)})")]) from None
    if not getattr(pretrained, "is_fast", False):
        raise SpecError([SpecProblem("data.tokenizer.path", f"{str(path)!r} holds a slow (Python) tokenizer; save "
                                                            "a fast one (tokenizer.json) with save_pretrained")])
    return pretrained.backend_tokenizer, _own_specials(pretrained.backend_tokenizer, pretrained)


def train_bpe(data: DataSpec, sample: Iterable[str]) -> tuple[Any, Specials]:
    """A byte-level BPE of ``data.tokenizer.vocab_size`` tokens trained on ``sample``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=data.tokenizer.vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(sample, trainer=trainer)
    return tokenizer, _specials(tokenizer, EOS, PAD, MASK)


def make(data: DataSpec, folder: Path, surveys: dict[int, Survey], held_out: dict[int, frozenset[int]],
         have: bool) -> tuple[Optional[str], Specials]:
    """The corpus' tokenizer as JSON (kept in ``folder`` so a resumed preparation uses the
    same one), and its special tokens."""
    tokenizer_file, specials_file = folder / "tokenizer.json", folder / "specials.json"
    if data.tokenizer.kind == "none":
        assert data.tokens is not None
        tokens = data.tokens
        pad = tokens.pad_id if tokens.pad_id is not None else tokens.eos_id
        mask = tokens.mask_id if tokens.mask_id is not None else tokens.eos_id
        return None, Specials("", "", "", tokens.eos_id, pad, mask)
    if have and tokenizer_file.is_file():
        return tokenizer_file.read_text(), Specials(**json.loads(specials_file.read_text()))
    if data.tokenizer.kind == "bpe":
        # The sample in its documents' hash order: the order does not change with the source's layout.
        sample = sorted(((int(surveys[u].hashes[n]), u, n, text) for u in sorted(surveys)
                         for n, text in surveys[u].sample if n not in held_out.get(u, frozenset())))
        tokenizer, specials = train_bpe(data, (text for *_, text in sample))
    else:
        tokenizer, specials = load(data)
    if data.tokens is not None and specials.eos_id != data.tokens.eos_id:
        specials = Specials(specials.eos, specials.pad, specials.mask, data.tokens.eos_id,
                            data.tokens.pad_id if data.tokens.pad_id is not None else specials.pad_id,
                            data.tokens.mask_id if data.tokens.mask_id is not None else specials.mask_id)
    text = tokenizer.to_str()
    write_atomic(tokenizer_file, text.encode())
    write_atomic(specials_file, json.dumps(specials.__dict__).encode())
    return text, specials


def vocab_size(tokenizer_json: Optional[str]) -> int:
    """The vocabulary size of a tokenizer given as JSON (special tokens included)."""
    from tokenizers import Tokenizer

    assert tokenizer_json is not None
    return Tokenizer.from_str(tokenizer_json).get_vocab_size()


def _own_specials(tokenizer: Any, pretrained: Any) -> Specials:
    """A pretrained tokenizer's own end-of-text (or BERT's [SEP]), padding and mask tokens;
    raylaws' own ones added where it has none."""
    def own(*names: str) -> Optional[str]:
        for name in names:
            value = getattr(pretrained, name, None) if pretrained is not None else None
            if value:
                return str(value)
        return None

    eos = own("eos_token", "sep_token") or next((t for t in (EOS, "</s>", "[SEP]") if tokenizer.token_to_id(t)
                                                 is not None), EOS)
    pad = own("pad_token") or next((t for t in (PAD, "[PAD]") if tokenizer.token_to_id(t) is not None), PAD)
    mask = own("mask_token") or next((t for t in (MASK, "[MASK]") if tokenizer.token_to_id(t) is not None), MASK)
    missing = [t for t in (eos, pad, mask) if tokenizer.token_to_id(t) is None]
    if missing:
        tokenizer.add_special_tokens(missing)
    return _specials(tokenizer, eos, pad, mask)


def _specials(tokenizer: Any, eos: str, pad: str, mask: str) -> Specials:
    return Specials(eos, pad, mask, tokenizer.token_to_id(eos), tokenizer.token_to_id(pad), tokenizer.token_to_id(mask))


def _path(path: Optional[str]) -> Path:
    try:
        return Path(path or "").expanduser()
    except RuntimeError as error:
        raise SpecError([SpecProblem("data.tokenizer.path", f"cannot expand {path!r} ({error})")]) from None
