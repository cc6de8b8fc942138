"""The model ladder: the paper's counts, and the exact count of the built model."""

from __future__ import annotations

import pytest

from raylaws.ladder import build_ladder, paper_n_params
from raylaws.spec import spec_from_dict
from raylaws.train import build_model, non_embedding_params
from tests.conftest import tiny_spec_dict

PAPER_AR32 = [12_288, 98_304, 331_776, 786_432, 1_536_000, 2_654_208, 4_214_784, 6_291_456]
PAPER_AR64 = [49_152, 393_216, 1_327_104, 3_145_728, 6_144_000]


def test_paper_ladder_ar32_matches_the_paper() -> None:
    spec = spec_from_dict(tiny_spec_dict(ladder={"aspect_ratio": 32, "layers": None, "n_heads": 4}))
    rungs = build_ladder(spec)
    assert [r.n_params for r in rungs] == PAPER_AR32
    assert [r.n_layers for r in rungs] == list(range(1, 9))
    assert [r.d_model for r in rungs] == [32 * depth for depth in range(1, 9)]
    assert all(r.d_ff == 4 * r.d_model and r.n_heads == 4 for r in rungs)


def test_paper_ladder_ar64_and_bert_base() -> None:
    spec = spec_from_dict(tiny_spec_dict(ladder={"aspect_ratio": 64, "layers": [1, 2, 3, 4, 5], "n_heads": 4}))
    assert [r.n_params for r in build_ladder(spec)] == PAPER_AR64
    assert paper_n_params(12, 768) == 84_934_656


def test_explicit_rungs_named_and_sorted() -> None:
    spec = spec_from_dict(tiny_spec_dict(ladder={"rungs": [{"n_layers": 2, "d_model": 32, "name": "big"},
                                                           {"n_layers": 1, "d_model": 16}],
                                                 "layers": None}))
    rungs = build_ladder(spec)
    assert [r.name for r in rungs] == ["L1-H16", "big"]
    assert rungs[1].d_ff == 128


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("objective", ["clm", "mlm"])
@pytest.mark.parametrize("depth,width,heads", [(1, 16, 4), (2, 32, 4), (3, 24, 2)])
def test_n_params_exact_matches_the_built_model(objective: str, depth: int, width: int, heads: int, tied: bool) -> None:
    spec = spec_from_dict(tiny_spec_dict(objective=objective,
                                         ladder={"rungs": [{"n_layers": depth, "d_model": width, "n_heads": heads}],
                                                 "layers": None}))
    (rung,) = build_ladder(spec)
    model = build_model(objective, rung, vocab_size=300, seq_len=32, tie_embeddings=tied)
    assert non_embedding_params(model) == rung.n_params_exact
    # exact = the paper's 12*L*H^2 plus biases and LayerNorms (and the MLM head's transform)
    assert rung.n_params_exact > rung.n_params


def test_flops_are_six_n_d() -> None:
    (rung, _) = build_ladder(spec_from_dict(tiny_spec_dict()))
    assert rung.flops(1000) == 6 * rung.n_params * 1000
