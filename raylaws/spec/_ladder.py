"""The model sizes: the paper's depth ladder or explicit rungs."""

from __future__ import annotations

from typing import NamedTuple, Optional

from pydantic import Field, ValidationInfo, field_validator, model_validator

from raylaws.spec._base import _Frozen


class LadderSpec(_Frozen):
    """The model sizes: the paper's depth ladder, or an explicit list of sizes (`rungs`).

    Paper form: depth ``L`` over ``layers`` at a fixed ``aspect_ratio`` (width H = AR * L),
    ``n_heads`` attention heads, FFN width ``ffn_ratio * H``. Its size measure is the paper's
    non-embedding count N = 12 * L * H^2.
    """

    aspect_ratio: Optional[int] = Field(32, ge=1, le=4096)
    layers: Optional[list[int]] = None  # depths L; default 1..8 like the paper
    rungs: Optional[list["SizeSpec"]] = None  # explicit sizes instead of the paper ladder
    n_heads: int = Field(4, ge=1, le=256)  # must divide every width
    ffn_ratio: int = Field(4, ge=1, le=64)
    # Tie the output projection to the token embedding (GPT-2/BERT default). Tiny models escape
    # the unigram plateau much sooner untied; either way the projection is not counted in N.
    tie_embeddings: bool = True

    @model_validator(mode="after")
    def _one_form(self) -> "LadderSpec":
        if self.rungs is not None:
            if self.layers is not None:
                raise ValueError("give either 'rungs' (explicit sizes) or 'layers' (paper ladder), not both")
            if not self.rungs:
                raise ValueError("'rungs' is empty; list at least one size")
        else:
            if self.layers is not None and not self.layers:
                raise ValueError("'layers' is empty; list depths such as [1, 2, 3, 4]")
            if any(depth < 1 for depth in self.layers or []):
                raise ValueError("every depth in 'layers' must be >= 1")
            if self.layers is not None and len(set(self.layers)) != len(self.layers):
                raise ValueError("'layers' has a repeated depth")
        names = [shape.name for shape in self.shapes()]
        if len(set(names)) != len(names):
            raise ValueError("two rungs have the same name (or, unnamed, the same shape); give each a distinct name")
        return self

    @field_validator("n_heads")
    @classmethod
    def _heads_divide_widths(cls, n_heads: int, info: ValidationInfo) -> int:
        if info.data.get("rungs") is None:  # explicit rungs carry their own heads
            aspect_ratio = info.data.get("aspect_ratio") or 32
            for depth in info.data.get("layers") or range(1, 9):
                if depth >= 1:
                    _check_heads(aspect_ratio * depth, n_heads, f"L{depth}-H{aspect_ratio * depth}")
        return n_heads

    def shapes(self) -> list["SizeShape"]:
        """The shape of every size, in the order given: the paper form (width H = AR * L at
        each depth of ``layers``, default 1..8) or the explicit ``rungs``. Sizes are named
        ``L<depth>-H<width>`` unless an explicit rung has a name."""
        if self.rungs is not None:
            return [SizeShape(r.name or f"L{r.n_layers}-H{r.d_model}", r.n_layers, r.d_model, r.n_heads,
                              r.d_ff or 4 * r.d_model) for r in self.rungs]
        aspect_ratio = self.aspect_ratio or 32
        return [SizeShape(f"L{depth}-H{aspect_ratio * depth}", depth, aspect_ratio * depth, self.n_heads,
                          self.ffn_ratio * aspect_ratio * depth) for depth in self.layers or range(1, 9)]


class SizeShape(NamedTuple):
    """A size's name and shape, before any parameter is counted (see :mod:`raylaws.ladder`)."""

    name: str
    n_layers: int
    d_model: int
    n_heads: int
    d_ff: int


def _check_heads(d_model: int, n_heads: int, name: str) -> None:
    """Attention heads must divide the width (the one place this rule is written)."""
    if d_model % n_heads:
        raise ValueError(f"width {d_model} of size {name} is not divisible by {n_heads} heads; "
                         "change aspect_ratio or n_heads")


class SizeSpec(_Frozen):
    """One explicit model size. ``d_ff`` defaults to 4 * ``d_model``."""

    # Names key files (records are <size>.s000.parquet): letters, digits and _ . = - only.
    name: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$", max_length=100)
    n_layers: int = Field(ge=1, le=512)
    d_model: int = Field(ge=4, le=65_536)
    n_heads: int = Field(4, ge=1, le=256)
    d_ff: Optional[int] = Field(None, ge=1)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "SizeSpec":
        _check_heads(self.d_model, self.n_heads, self.name or f"L{self.n_layers}-H{self.d_model}")
        return self


LadderSpec.model_rebuild()  # its rungs name SizeSpec, defined after it


__all__ = ["LadderSpec", "SizeShape", "SizeSpec"]
