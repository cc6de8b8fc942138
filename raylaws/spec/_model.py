"""The experiment spec: frozen, typed configuration loaded from ``search_spaces/*.yaml``.

Every model forbids unknown keys, so a typo is an error (with a did-you-mean, see
``_load.py``) rather than a silently ignored setting.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class _Frozen(BaseModel):
    # strict: `seeds: true` or `max_steps: "10"` are errors, not 1 and 10; floats must be finite.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class TokenizerSpec(_Frozen):
    """How text becomes token ids.

    ``kind: bpe`` trains a byte-level BPE of ``vocab_size`` tokens with the ``tokenizers``
    library on a deterministic sample of the training text (about ``sample_bytes``, documents
    chosen by their hash, so spread over the whole corpus) and caches it. ``kind: file`` loads
    a ``tokenizers`` JSON file from ``path``; ``kind: pretrained`` loads a local folder with
    ``transformers.AutoTokenizer.from_pretrained(path)`` (GPT-2's, BERT's, Llama's, as written
    by ``save_pretrained``) or a ``tokenizer.json`` file, and keeps its own end-of-text,
    padding and mask tokens where it has them. ``kind: none`` is only for a pre-tokenized
    source (``data.tokens``) with no tokenizer at hand: kept models then have no tokenizer and
    the sweep cannot finetune. Nothing is downloaded.
    """

    kind: Literal["bpe", "file", "pretrained", "none"] = "bpe"
    vocab_size: int = Field(512, ge=260, le=1_000_000)  # byte-level BPE: 256 bytes + 3 special tokens at least
    path: Optional[str] = None
    sample_bytes: int = Field(64 << 20, ge=1 << 16)  # BPE training text; the whole corpus when smaller

    @model_validator(mode="after")
    def _path_matches_kind(self) -> "TokenizerSpec":
        if self.kind in ("file", "pretrained") and not self.path:
            raise ValueError(f"kind {self.kind!r} needs 'path' (a local tokenizer.json"
                             f"{' or save_pretrained folder' if self.kind == 'pretrained' else ''})")
        return self


class TokensSpec(_Frozen):
    """A source of token ids made by another pipeline (``data.tokens``) instead of text.

    The source is a ``.bin`` file of raw ids in ``dtype`` (nanoGPT's ``prepare.py``), a
    ``.npy`` array, a folder of either, or Parquet files whose ``field`` column holds one list
    of ids per document. In a flat stream documents are separated by ``eos_id``, and the
    held-out documents are its last ones.
    """

    vocab_size: int = Field(ge=2, le=1 << 32)  # every id must be below it
    eos_id: int = Field(ge=0)  # end-of-document id
    dtype: Optional[Literal["uint16", "uint32", "int32", "int64"]] = None  # of a .bin file (.npy/Parquet carry theirs)
    field: str = "input_ids"  # the Parquet column of id lists
    pad_id: Optional[int] = Field(None, ge=0)  # default: eos_id
    mask_id: Optional[int] = Field(None, ge=0)  # needed by objective mlm

    @model_validator(mode="after")
    def _ids_in_vocabulary(self) -> "TokensSpec":
        for name in ("eos_id", "pad_id", "mask_id"):
            value = getattr(self, name)
            if value is not None and value >= self.vocab_size:
                raise ValueError(f"{name} {value} is not below vocab_size {self.vocab_size}")
        return self


class DataSpec(_Frozen):
    """Where the training text (or token ids) comes from, and how it is prepared.

    ``source`` is one of: ``stdlib`` (the Python standard library's own top-level ``.py``
    files: real text on every machine, no download); a local file or folder of ``.txt``,
    ``.jsonl`` (either also ``.gz``/``.zst``) or ``.parquet`` files; a
    ``datasets.save_to_disk`` folder; any of those as a ``pyarrow.fs`` URI (``s3://``,
    ``gs://``); ``hub:<name>`` (``datasets.load_dataset(name, streaming=True)``: needs the
    network, so no test or demo uses it); or, with ``tokens``, ids made by another pipeline.

    A ``.txt`` file becomes documents by ``txt_split``: ``file`` (one per file, a long file cut
    at the first line end after every ``max_document_bytes``), ``paragraph`` (runs of non-blank
    lines) or ``line`` (one per line).
    """

    source: str = Field("stdlib", min_length=1)
    text_field: str = "text"  # column/key holding the text, for .jsonl, Parquet and datasets
    tokenizer: TokenizerSpec = TokenizerSpec()
    tokens: Optional[TokensSpec] = None  # the source holds token ids, not text
    txt_split: Literal["file", "paragraph", "line"] = "file"
    max_document_bytes: int = Field(8 << 20, ge=1 << 10)  # txt_split file: a longer file is cut into documents
    shard_bytes: int = Field(64 << 20, ge=1 << 12)  # source bytes one task encodes into one shard
    workers: Optional[int] = Field(None, ge=1)  # preparation processes; default: this machine's cores
    cache: Optional[str] = None  # URI every node pulls prepared shards from; default: the sweep's object storage
    seq_len: int = Field(64, ge=8, le=65_536)  # tokens per training sequence
    max_tokens: Optional[int] = Field(None, ge=1_000)  # cap on the corpus size, in tokens
    eval_tokens: int = Field(8_192, ge=256)  # held-out tokens for eval loss (from held-out documents)

    @model_validator(mode="after")
    def _tokenizer_fits_source(self) -> "DataSpec":
        if self.tokens is None and self.tokenizer.kind == "none":
            raise ValueError("tokenizer kind 'none' is only for a pre-tokenized source (data.tokens); text needs "
                             "kind bpe, file or pretrained")
        if self.tokens is not None and self.tokenizer.kind == "bpe":
            raise ValueError("a pre-tokenized source (data.tokens) cannot train a BPE; give tokenizer kind "
                             "'pretrained' or 'file' (the tokenizer that made the ids) or 'none'")
        return self


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


class TrainingSpec(_Frozen):
    """The training budget and loop of every trial.

    Give the budget as ``max_steps`` (optimizer updates) or ``max_tokens`` (tokens seen; steps
    then depend on the batch size). Early stopping follows the paper: stop when eval loss has
    not improved by ``min_delta`` for ``patience`` steps, keep the best eval loss.
    """

    max_steps: Optional[int] = Field(None, ge=1)
    max_tokens: Optional[int] = Field(None, ge=1)
    warmup_steps: int = Field(0, ge=0)
    schedule: Literal["constant", "linear", "cosine"] = "cosine"
    eval_interval: int = Field(50, ge=1)  # steps between evaluations
    patience: Optional[int] = Field(None, ge=1)  # steps without improvement before stopping; None = never
    min_delta: float = Field(0.0, ge=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    grad_clip: Optional[float] = Field(1.0, gt=0.0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # 0 for tiny CPU models; the paper used 0.1
    divergence_factor: float = Field(1.5, gt=1.0)  # diverged if eval loss > factor * ln(vocab_size)
    # Steps between checkpoints of a running trial, so a trial whose worker is lost continues
    # from there on another node; null: no checkpoints (a lost trial restarts from step 0).
    checkpoint_every: Optional[int] = Field(300, ge=1)
    # Numerics of the forward/backward pass: autocast to bf16 or fp16 (with a loss scaler);
    # fp32 uses TF32 matmuls where the GPU supports them. bf16 also runs on CPUs.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # torch.compile the model of GPU trials (torch backend): faster steps for a one-off compile
    # of tens of seconds per trial, worth it for long trials of large sizes.
    compile: bool = False

    @model_validator(mode="after")
    def _one_budget(self) -> "TrainingSpec":
        if (self.max_steps is None) == (self.max_tokens is None):
            raise ValueError("give exactly one budget: 'max_steps' or 'max_tokens'")
        return self

    def total_steps(self, batch_size: int, seq_len: int) -> int:
        """Optimizer steps of the budget: ``max_steps``, or ``max_tokens`` / tokens per step.

        ``batch_size`` counts sequences per optimizer step; ``seq_len`` tokens per sequence.
        """
        if self.max_steps is not None:
            return self.max_steps
        assert self.max_tokens is not None
        return max(1, self.max_tokens // (batch_size * seq_len))


class LearningRateRange(_Frozen):
    """Log-uniform range of the peak learning rate."""

    low: float = Field(gt=0.0)
    high: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> "LearningRateRange":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class PruningSpec(_Frozen):
    """Successive-halving pruning, within each size's own study only.

    ``grace_steps`` is the minimum number of steps before a trial can be pruned;
    ``reduction_factor`` the halving rate.
    """

    enabled: bool = True
    grace_steps: int = Field(100, ge=1)
    reduction_factor: int = Field(3, ge=2)


class SizeAwareSpec(_Frozen):
    """How ``strategy: size_aware`` narrows each size's search around the smaller sizes' optima.

    Sizes are searched smallest first. Each later size's study starts with the optimum that
    lr*(N) and bs*(N), fitted over the smaller sizes, predict for it, in a learning-rate box
    around that prediction: ``first_box_factor`` times either way of the one smaller size's
    best, or, from two smaller sizes on, the fit's 95% prediction interval, never narrower than
    ``min_box_factor`` times either way. Its trials after the first are a line search in ln lr
    inside the box (a bracket either side, then the parabola's vertex or a step past the best;
    the fifth tries the nearest other batch size). A size whose best ends on an edge of its
    box, or outermost of the learning rates it tried, gets its box widened past that edge (or
    its line search continued) and ``widen_trials`` more trials, up to ``max_extra_trials``;
    learning rates may then leave ``search.learning_rate`` by up to ``beyond_range`` times.
    """

    trials_after_first: Optional[int] = Field(None, ge=1, le=100_000)  # None: search.trials_per_size
    first_box_factor: float = Field(3.0, gt=1.0, le=1000.0)
    min_box_factor: float = Field(1.5, gt=1.0, le=1000.0)
    widen_trials: int = Field(2, ge=1, le=1000)
    max_extra_trials: int = Field(4, ge=0, le=100_000)
    beyond_range: float = Field(4.0, ge=1.0, le=1000.0)  # 1: never leave search.learning_rate

    @model_validator(mode="after")
    def _floor_below_first(self) -> "SizeAwareSpec":
        if self.min_box_factor > self.first_box_factor:
            raise ValueError(f"min_box_factor ({self.min_box_factor}) is above first_box_factor "
                             f"({self.first_box_factor}); the floor of the box must not exceed its first width")
        return self


class SearchSpec(_Frozen):
    """The per-size search: one Optuna study per size.

    ``strategy: independent`` searches every size over the whole range on its own (largest
    sizes first); ``size_aware`` searches sizes smallest first and narrows each later size's
    range around the smaller sizes' optima (see :class:`SizeAwareSpec`).
    """

    learning_rate: LearningRateRange
    batch_size: list[int] = Field(min_length=1)  # choices, in sequences per step
    trials_per_size: int = Field(8, ge=1, le=100_000)
    sampler: Literal["tpe", "random"] = "tpe"
    sampler_seed: int = Field(0, ge=0, le=2**31 - 1)  # size i's sampler is seeded sampler_seed + i
    pruning: PruningSpec = PruningSpec()
    # Trials of one size's search in flight at once: trial k waits for trials 0..k-parallel and
    # sees exactly those, so its config is the same on any machine and under any load. Raise it
    # on a cluster with more slots than sizes * parallel (a size-aware line search runs its
    # steps one at a time whatever this is).
    parallel: int = Field(4, ge=1, le=1024)
    strategy: Literal["independent", "size_aware"] = "independent"
    size_aware: SizeAwareSpec = SizeAwareSpec()

    @model_validator(mode="after")
    def _batch_sizes(self) -> "SearchSpec":
        if any(b < 1 for b in self.batch_size):
            raise ValueError("every batch_size choice must be >= 1")
        if len(set(self.batch_size)) != len(self.batch_size):
            raise ValueError("batch_size choices repeat a value")
        return self

    @model_validator(mode="after")
    def _size_aware_needs_strategy(self) -> "SearchSpec":
        # A stored spec.yaml holds every field, defaults included: only settings away from them count.
        if self.strategy != "size_aware" and self.size_aware != SizeAwareSpec():
            raise ValueError("'size_aware' settings are given but strategy is 'independent'; set "
                             "strategy: size_aware, or remove size_aware")
        return self

    def trials_of(self, rank: int) -> int:
        """Search trials planned for the size of rank ``rank`` by N (0: the smallest), before
        any trial added by widening its box."""
        if self.strategy == "size_aware" and rank > 0 and self.size_aware.trials_after_first is not None:
            return self.size_aware.trials_after_first
        return self.trials_per_size


class DeepSpeedSpec(_Frozen):
    """DeepSpeed engine settings of the sizes whose ``backend`` is ``deepspeed``."""

    zero_stage: int = Field(0, ge=0, le=3)  # ZeRO: 1 shards optimizer state, 2 + gradients, 3 + parameters
    # Sequences per forward pass per worker; gradients accumulate up to batch_size per step.
    # None: the whole per-worker batch in one pass.
    micro_batch_size: Optional[int] = Field(None, ge=1)


class SizeResourcesSpec(_Frozen):
    """Resources of some sizes, overriding the defaults of ``resources``.

    Select sizes by name (``sizes``) or by the paper's N (``min_params``/``max_params``,
    inclusive); the last matching entry wins. Unset fields keep the defaults.
    """

    sizes: Optional[list[str]] = None
    min_params: Optional[int] = Field(None, ge=0)
    max_params: Optional[int] = Field(None, ge=0)
    cpus_per_trial: Optional[int] = Field(None, ge=1)
    gpus_per_trial: Optional[float] = Field(None, ge=0.0)
    workers: Optional[int] = Field(None, ge=1)
    backend: Optional[Literal["torch", "deepspeed"]] = None
    deepspeed: Optional[DeepSpeedSpec] = None

    @model_validator(mode="after")
    def _selects(self) -> "SizeResourcesSpec":
        if self.gpus_per_trial is not None:
            _check_gpus(self.gpus_per_trial)
        if self.sizes is None and self.min_params is None and self.max_params is None:
            raise ValueError("select sizes with 'sizes' (names) or 'min_params'/'max_params' (the paper's N)")
        if self.sizes is not None and (self.min_params is not None or self.max_params is not None):
            raise ValueError("select by 'sizes' or by 'min_params'/'max_params', not both")
        if self.min_params is not None and self.max_params is not None and self.min_params > self.max_params:
            raise ValueError(f"min_params ({self.min_params}) is above max_params ({self.max_params})")
        return self

    def selects(self, name: str, n_params: int) -> bool:
        """Whether this entry applies to the size ``name`` with the paper's N ``n_params``."""
        if self.sizes is not None:
            return name in self.sizes
        return ((self.min_params is None or n_params >= self.min_params)
                and (self.max_params is None or n_params <= self.max_params))


def _check_gpus(gpus: float) -> None:
    """Ray shares a GPU in fractions, but more than one GPU must be a whole number."""
    if gpus > 1 and gpus != int(gpus):
        raise ValueError(f"gpus_per_trial {gpus} is above 1 but not whole; use a fraction of one GPU "
                         "(e.g. 0.125) or a whole number of GPUs")


class ResourcesSpec(_Frozen):
    """What one trial asks of the cluster, by default and per size (``by_size``).

    A trial of ``workers`` > 1 trains data-parallel: each worker gets ``cpus_per_trial`` CPUs
    and ``gpus_per_trial`` GPUs (fractions share a GPU between trials: 0.125 packs 8 on one).
    Threads per worker = ``cpus_per_trial``.
    """

    cpus_per_trial: int = Field(1, ge=1)
    gpus_per_trial: float = Field(0.0, ge=0.0)
    workers: int = Field(1, ge=1)  # data-parallel workers per trial (DDP or DeepSpeed)
    backend: Literal["torch", "deepspeed"] = "torch"
    deepspeed: DeepSpeedSpec = DeepSpeedSpec()
    by_size: list[SizeResourcesSpec] = Field(default_factory=list)
    max_concurrent_trials: Optional[int] = Field(None, ge=1)  # None: as many as the cluster fits
    max_retries: int = Field(1, ge=0)  # re-runs of a trial that raised, before it is recorded 'failed'
    # The cluster's autoscaler can add nodes: a size that no node fits yet waits (up to
    # node_wait_seconds) for one instead of being refused before any trial is queued.
    autoscaling: bool = False
    node_wait_seconds: float = Field(900.0, gt=0.0)

    @model_validator(mode="after")
    def _whole_gpus_above_one(self) -> "ResourcesSpec":
        _check_gpus(self.gpus_per_trial)
        return self


class DesignSpec(_Frozen):
    """A named variant of the experiment (the paper's model selection, e.g. PMI masking vs MLM).

    ``set`` maps spec fields, dotted (``ladder.aspect_ratio``) or nested, to the design's
    values; every other field is the spec's own. Each design runs its own ladder and per-size
    studies in the same sweep, with the same budget per size, so designs compare fairly.
    """

    # Names prefix size names and trial ids ('<design>.<size>'): no dots.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=40)
    set: dict[str, Any] = Field(default_factory=dict)
BUILTIN_TASKS = ("stdlib-family", "stdlib-docstring")  # offline tasks built from the stdlib (raylaws.tasks)


class TaskSpec(_Frozen):
    """One finetuning task: sequence classification of a text (and optional text pair).

    ``data`` is a local GLUE-style ``.tsv``/``.csv``/``.jsonl`` file (split by hash into train
    and eval), a directory holding ``train.*`` and ``dev.*`` (or ``validation.*``/``eval.*``)
    files, a ``datasets.save_to_disk`` directory, or ``hub:<name>`` (a local path after
    ``hub:`` is read as a local file; anything else needs the network). Leave ``data`` out for
    a built-in offline task (``stdlib-family``, ``stdlib-docstring``; see :mod:`raylaws.tasks`).
    ``metric`` is maximised; records hold ``eval_loss = 1 - metric`` as the paper plots it.
    """

    # Names key trial ids and files (<size>.<task>.s000): letters, digits, _ and - only.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=60)
    data: Optional[str] = Field(None, min_length=1)
    metric: Literal["accuracy", "f1", "mcc"] = "accuracy"
    text_field: str = "text"
    text_pair_field: Optional[str] = None  # second text of a pair task (e.g. GLUE's sentence2)
    label_field: str = "label"
    eval_fraction: float = Field(0.1, gt=0.0, lt=1.0)  # held out by hash when the data has one split

    @model_validator(mode="after")
    def _builtin_or_data(self) -> "TaskSpec":
        if self.data is None and self.name not in BUILTIN_TASKS:
            raise ValueError(f"task {self.name!r} has no 'data'; give a .tsv/.csv/.jsonl file, a save_to_disk "
                             f"directory or hub:<name>, or name a built-in task ({', '.join(BUILTIN_TASKS)})")
        return self


class FinetuneSpec(_Frozen):
    """The finetuning phase: every size's pretrained model finetuned on each task.

    Per (size, task): an Optuna study of ``trials_per_task`` trials over the learning rate
    (log-uniform) and the number of epochs (choices), at a fixed ``batch_size`` (examples per
    step; the paper used 64), a constant schedule after ``warmup_fraction`` of the steps of
    linear warmup, and ``dropout``; each trial keeps its best evaluation (one per epoch, or
    ``evals_per_epoch``). Then ``seeds`` re-runs of the study's best config. Every run starts
    from the seed-phase checkpoint of the size whose pretraining eval loss is the median of
    its seeds (``start_from: median``; the lower middle for an even count) or from seed 1
    (``start_from: seed1``).
    """

    tasks: list[TaskSpec] = Field(min_length=1)
    learning_rate: LearningRateRange = LearningRateRange(low=1e-4, high=3e-3)
    epochs: list[int] = Field([1, 2, 3], min_length=1)
    batch_size: int = Field(64, ge=1)
    trials_per_task: int = Field(6, ge=1, le=100_000)
    seeds: int = Field(5, ge=0, le=1000)
    warmup_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    evals_per_epoch: int = Field(1, ge=1, le=1000)
    max_length: Optional[int] = Field(None, ge=4)  # tokens per example; default data.seq_len
    start_from: Literal["median", "seed1"] = "median"
    pruning: PruningSpec = PruningSpec(enabled=False)

    @model_validator(mode="after")
    def _distinct(self) -> "FinetuneSpec":
        names = [task.name for task in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError("two tasks have the same name; give each task a distinct name")
        if any(e < 1 for e in self.epochs) or len(set(self.epochs)) != len(self.epochs):
            raise ValueError("epochs choices must be distinct and >= 1")
        return self

    @property
    def budget_per_task(self) -> int:
        """Trials of each (size, task): search trials plus seed re-runs."""
        return self.trials_per_task + self.seeds


class ExperimentSpec(_Frozen):
    """A whole scaling sweep: data, objective, ladder, training, search, seeds, resources, and
    optionally ``designs`` to compare (see :class:`DesignSpec`) and the finetuning of every size
    on downstream tasks (``finetune``)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    data: DataSpec = DataSpec()
    objective: Literal["mlm", "clm"] = "clm"
    ladder: LadderSpec = LadderSpec()
    training: TrainingSpec
    search: SearchSpec
    seeds: int = Field(3, ge=0, le=1000)  # K re-runs of each size's best config, phase "seed"
    resources: ResourcesSpec = ResourcesSpec()
    designs: list[DesignSpec] = Field(default_factory=list)  # validated further in _load.spec_from_dict

    @field_validator("designs")
    @classmethod
    def _distinct_designs(cls, designs: list[DesignSpec]) -> list[DesignSpec]:
        names = [design.name for design in designs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"design name {', '.join(map(repr, repeated))} appears twice; give each design its own name")
        if len(designs) == 1:
            raise ValueError("one design compares with nothing; declare two or more, or none")
        return designs

    @property
    def design_names(self) -> list[str]:
        """The designs' names in spec order (empty without ``designs``)."""
        return [design.name for design in self.designs]
    finetune: Optional[FinetuneSpec] = None  # the finetuning phase; None: pretraining only

    @model_validator(mode="after")
    def _finetune_has_models(self) -> "ExperimentSpec":
        if self.finetune is None:
            return self
        if self.seeds < 1:
            raise ValueError("finetune starts from the seed-phase checkpoints: set 'seeds' to 1 or more")
        if self.finetune.max_length is not None and self.finetune.max_length > self.data.seq_len:
            raise ValueError(f"finetune.max_length ({self.finetune.max_length}) is above data.seq_len "
                             f"({self.data.seq_len}), the models' positions; lower it")
        return self

    @model_validator(mode="after")
    def _size_names_exist(self) -> "ExperimentSpec":
        names = {shape.name for shape in self.ladder.shapes()}
        for index, entry in enumerate(self.resources.by_size):
            unknown = sorted(set(entry.sizes or []) - names)
            if unknown:
                raise ValueError(f"resources.by_size[{index}].sizes: no size named {', '.join(unknown)}; "
                                 f"the sizes are {', '.join(sorted(names))}")
        return self

    @property
    def budget_per_size(self) -> int:
        """Pretraining trials each size runs: its search trials plus its seed re-runs."""
        return self.search.trials_per_size + self.seeds

    @property
    def finetune_budget_per_size(self) -> int:
        """Finetuning trials each size runs over all its tasks (0 without ``finetune``)."""
        if self.finetune is None:
            return 0
        return len(self.finetune.tasks) * self.finetune.budget_per_task


LadderSpec.model_rebuild()
