"""Models for a rung, from ``transformers`` configs: GPT-2 style (clm) or BERT style (mlm)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from raylaws.ladder import Size
from raylaws.trial import Objective

if TYPE_CHECKING:
    import torch


def build_model(
    objective: Objective,
    rung: Size,
    *,
    vocab_size: int,
    seq_len: int,
    dropout: float = 0.0,
    special_id: int = 0,
    tie_embeddings: bool = True,
) -> "torch.nn.Module":
    """The ``transformers`` model of ``rung``: ``GPT2LMHeadModel`` for ``clm``, ``BertForMaskedLM``
    for ``mlm``. ``special_id`` is the end-of-text (clm) or padding (mlm) token. The output
    projection is tied to the token embedding unless ``tie_embeddings`` is False; tied or not,
    it is not counted in :func:`raylaws.ladder.exact_non_embedding_params`.
    """
    import transformers

    if objective == "clm":
        config = transformers.GPT2Config(
            vocab_size=vocab_size,
            n_positions=seq_len,
            n_embd=rung.d_model,
            n_layer=rung.n_layers,
            n_head=rung.n_heads,
            n_inner=rung.d_ff,
            # GPT-2's tanh GELU as one fused kernel: the same function as its default "gelu_new"
            # (equal up to float rounding), ~10% faster per step on a CPU, where tiny models
            # are bound by elementwise ops.
            activation_function="gelu_pytorch_tanh",
            resid_pdrop=dropout,
            embd_pdrop=dropout,
            attn_pdrop=dropout,
            tie_word_embeddings=tie_embeddings,
            bos_token_id=special_id,
            eos_token_id=special_id,
        )
        model = transformers.GPT2LMHeadModel(config)
        model.loss_type = "ForCausalLM"  # read from the model, not the config (transformers 5)
        return model
    config = transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=rung.d_model,
        num_hidden_layers=rung.n_layers,
        num_attention_heads=rung.n_heads,
        intermediate_size=rung.d_ff,
        max_position_embeddings=seq_len,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        tie_word_embeddings=tie_embeddings,
        pad_token_id=special_id,
    )
    model = transformers.BertForMaskedLM(config)
    model.loss_type = "ForMaskedLM"
    return model


def non_embedding_params(model: "torch.nn.Module") -> int:
    """Trainable parameters of a built model without token/position/token-type embeddings,
    the (tied or untied) output projection and the MLM head's vocabulary bias (see
    :mod:`raylaws.ladder`)."""
    excluded = ("wte.", "wpe.", "word_embeddings.", "position_embeddings.", "token_type_embeddings.",
                "lm_head.", "cls.predictions.decoder.", "cls.predictions.bias")
    total = 0
    for name, parameter in model.named_parameters():  # named_parameters() lists tied weights once
        if any(part in name for part in excluded):
            continue
        total += parameter.numel()
    return total
