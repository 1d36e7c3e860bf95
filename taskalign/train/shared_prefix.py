"""The prompts' shared prefix run once per pass or batch: TRL's DPOTrainer and SFTTrainer, faster on chat data.

    from taskalign.train.shared_prefix import sft_trainer_class, trainer_class
    trainer = trainer_class()(model=..., args=DPOConfig(precompute_ref_log_probs=True, ...), ...)
    trainer = sft_trainer_class()(model=..., args=SFTConfig(...), ...)

Every TaskMaster sequence starts with the same system prompt (166 of a DPO sequence's ~260 tokens), and TRL runs it
again for every sequence: every chosen and rejected sequence of DPO's reference pre-pass
(`precompute_ref_log_probs`), the 8 sequences of each DPO step of 4 pairs, the conversations of each SFT step. These
subclasses change only where those forward passes start:

- **DPO's reference pass.** The shared prefix runs through the reference model once, its key/value cache is copied
  across each batch and only the rest of each sequence runs, scored with TRL's own fused log-prob head, under the
  same autocast, adapter switch and truncation (`keep_start`) as TRL.
- **Training steps** (`PrefixTraining`, `PrefixForward`; DPO and SFT). The batch's shared prefix runs once, at batch 1
  and with gradients (LoRA changes it), its cache is repeated across the rows and only their rest runs; TRL's loss
  reads the per-token fields at the full width, so the loss, the SFT term, the metrics and the optimiser step are
  TRL's.
- **Frozen layers once** (`Trunk`; DPO with LoRA on the last layers only, `lora_layers`). The layers below the
  adapted ones are the reference's, and the reference pass runs every sequence through them anyway: it keeps each
  sequence's hidden states entering the first adapted layer, and each training step runs only the adapted layers.

benchmarks/bench_ref_prefix.py measured the pass at 0.43-0.60 of TRL's time, benchmarks/bench_prefix_steps.py a DPO
step at 0.52 (fp32) to 0.64 (bf16) (docs/training.md). tests/train/test_shared_prefix.py checks that the log-probs,
the losses and the LoRA gradients match TRL's own on a tiny model, with LoRA on every layer and on the last one.

Each falls back to TRL's own forward (and says why) where the shortcut does not hold: several processes or
DeepSpeed/FSDP, `ld_alpha`, `keep_end` truncation, vision data, gradient checkpointing (training), padding-free or
packed batches, prompts sharing fewer than MIN_PREFIX tokens, a TRL or transformers without the hooks used here, or a
first batch whose log-probs disagree with a plain forward pass. The frozen-layers path also runs only where the
reference is the policy with its adapter off, and a batch row the reference pass did not see runs every layer.
"""

import contextlib
import copy
import inspect
import os

class _Mismatch(RuntimeError):
    """The shortcut does not hold for this model or data; TRL's own pass runs instead."""


MIN_PREFIX = 16  # below this the cache copy costs about what it saves
MAX_KEPT_BYTES = 4 * 2**30  # frozen layers' hidden states kept for the training steps (the default's: 380 MiB)
TOLERANCE_NATS = 2.0  # first-batch check: bf16 rounding moved ~75-nat sums by < 1 nat; a cache ignored moves them by far more


def shared_prefix_length(prompts: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each prompt at least one token: the last prompt position predicts the
    first reply token, so it must be in the part that is run per sequence."""
    first = prompts[0]
    n = min(len(p) for p in prompts) - 1
    for ids in prompts[1:]:
        k = 0
        while k < n and ids[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


def sequences(rows: list[dict], max_length: int | None) -> list[tuple[list[int], list[int]]]:
    """(token ids, labels with -100 on the prompt) of each row's chosen then rejected sequence, cut as TRL's collator
    cuts them (keep_start)."""
    out = []
    for row in rows:
        for reply in (row["chosen_ids"], row["rejected_ids"]):
            ids = row["prompt_ids"] + reply
            labels = [-100] * len(row["prompt_ids"]) + reply
            if max_length is not None:
                ids, labels = ids[:max_length], labels[:max_length]
            out.append((ids, labels))
    return out


def _cache_kwarg(model) -> str:
    """transformers renamed `past_key_values` to `cache` (5.2x); an unknown name would be swallowed by **kwargs and the
    prefix silently ignored, so ask the backbone which one it takes."""
    backbone = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(backbone, "base_model", backbone)
    params = inspect.signature(backbone.forward).parameters
    if "cache" in params:
        return "cache"
    if "past_key_values" in params:
        return "past_key_values"
    raise RuntimeError("the model's forward takes neither `cache` nor `past_key_values`")


def _prefix_cache(model, prefix: list[int], device):
    import torch

    return _cache_of(model(input_ids=torch.tensor([prefix], device=device), use_cache=True, logits_to_keep=1))


def _cache_of(out):
    """The key/value cache of a model output (`cache` since transformers 5.2x, `past_key_values` before)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _batch_logps(model, cache, cache_kwarg: str, seqs, p: int, pad: int, device, full: bool = False) -> list[float]:
    """Sum of reference log-probs of the labelled tokens of each sequence; with full=True the whole sequence is run
    without the cache (the check)."""
    import torch

    start = 0 if full else p
    width = max(len(ids) for ids, _ in seqs) - start
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for k, (row_ids, row_labels) in enumerate(seqs):
        n = len(row_ids) - start
        ids[k, :n] = torch.tensor(row_ids[start:])
        labels[k, :n] = torch.tensor(row_labels[start:])
        mask[k, :n] = 1
    kwargs = {}
    if not full:
        past = copy.deepcopy(cache)
        past.batch_repeat_interleave(len(seqs))
        mask = torch.cat([torch.ones((len(seqs), p), dtype=mask.dtype), mask], dim=1)
        kwargs = {cache_kwarg: past, "position_ids": torch.arange(p, p + width)[None].expand(len(seqs), -1).to(device)}
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device),
                fused_lm_head=True, **kwargs)
    return out.log_probs.float().sum(dim=1).tolist()


def _checked_first_batch(model, cache, cache_kwarg: str, batch, p: int, pad: int, device) -> list[float]:
    """The first batch, run both ways: a model that rejects or ignores the cache makes TRL's own pass run instead."""
    try:
        got = _batch_logps(model, cache, cache_kwarg, batch, p, pad, device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise _Mismatch(f"the shared-prefix pass failed on the first batch: {str(exc).splitlines()[0]}") from exc
    want = _batch_logps(model, None, cache_kwarg, batch, p, pad, device, full=True)
    worst = max(abs(a - b) for a, b in zip(got, want))
    if worst > TOLERANCE_NATS:
        raise _Mismatch(f"the shared-prefix pass differed by {worst:.2f} nats on the first batch")
    return got


def batch_prefix_length(input_ids, attention_mask, completion_mask) -> int:
    """Leading positions every row of a collated batch shares, all of them prompt: the rows' tokens there are equal and
    unpadded, and no row's reply starts before position p + 1 (the logit at p - 1 is not computed, so token p must not
    be scored)."""
    import torch

    same = (input_ids == input_ids[:1]).all(dim=0) & (attention_mask == 1).all(dim=0)
    p = int(same.long().cumprod(dim=0).sum())
    first_reply = completion_mask.long().argmax(dim=1)  # rows are [prompt, reply, padding]: the first 1
    has_reply = completion_mask.any(dim=1)
    if has_reply.any():
        p = min(p, int(torch.where(has_reply, first_reply, input_ids.size(1)).min()) - 1)
    return max(p, 0)


PER_TOKEN = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1", "label_mask")


def decoder_stack(model):
    """The module holding the decoder layers (`.layers`) of a causal LM, PEFT-wrapped or not; None if not found."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(base, "model", None)
    return inner if isinstance(getattr(inner, "layers", None), torch.nn.ModuleList) else None


def first_trained_layer(model) -> int:
    """Index of the lowest decoder layer with a trainable parameter (LoRA on the last N layers: layers - N); 0 where
    the layers are not found or anything below them (the embeddings) trains."""
    stack = decoder_stack(model)
    if stack is None or any(p.requires_grad for p in stack.embed_tokens.parameters()):
        return 0
    for k, layer in enumerate(stack.layers):
        if any(p.requires_grad for p in layer.parameters()):
            return k
    return 0


class Trunk:
    """The policy's frozen lower layers, run once for the whole of DPO. With LoRA on the last layers only
    (`lora_layers`), layers 0..k-1 are the reference's, and the reference pass already runs every sequence through
    them: it keeps each sequence's hidden states entering layer k (and the shared prefix's, and the prefix's keys and
    values in layers 0..k-1), and a training step then runs only layers k and up, from those hidden states. The loss
    and gradients are the full forward's: nothing below layer k trains. 380 MiB for the default's 946 pairs (fp32
    hidden states of each sequence's own tokens)."""

    def __init__(self, model, k: int):
        self.k, self.stack = k, decoder_stack(model)
        self.p, self.prefix_ids, self.prefix_hidden, self.prefix_kv = 0, None, None, []
        self.rows: dict[tuple, object] = {}
        self.kept_bytes = 0
        self.steps = 0  # training steps that ran only the layers from k

    @contextlib.contextmanager
    def capture(self, sink: list):
        """Appends the hidden states entering layer k at each forward pass, while open."""
        def hook(module, args, kwargs):
            sink.append((args[0] if args else kwargs["hidden_states"]).detach())

        handle = self.stack.layers[self.k].register_forward_pre_hook(hook, with_kwargs=True)
        try:
            yield sink
        finally:
            handle.remove()

    def keep_prefix(self, prefix: list[int], hidden, cache) -> None:
        self.p, self.prefix_ids, self.prefix_hidden = len(prefix), list(prefix), hidden
        self.prefix_kv = [(layer.keys.detach(), layer.values.detach()) for layer in cache.layers[:self.k]]

    def keep_rows(self, seqs, hidden) -> None:
        """Each sequence's own hidden states, kept in host memory (a GPU's is needed for the model) up to
        MAX_KEPT_BYTES in all; past that nothing is kept and every layer trains as before."""
        for j, (ids, _) in enumerate(seqs):
            if self.kept_bytes > MAX_KEPT_BYTES:
                return
            h = hidden[j, :len(ids) - self.p].to("cpu", copy=True)
            self.rows[tuple(ids)] = h
            self.kept_bytes += h.numel() * h.element_size()
        if self.kept_bytes > MAX_KEPT_BYTES:
            print(f"training steps: every layer runs (the frozen layers' hidden states would take over "
                  f"{MAX_KEPT_BYTES / 2**30:.0f} GiB)")
            self.rows = {}

    @contextlib.contextmanager
    def upper_layers(self):
        """The model with only layers k and up in its layer list (each keeps its own index into the cache)."""
        import torch

        layers = self.stack.layers
        self.stack.layers = torch.nn.ModuleList(list(layers)[self.k:])
        try:
            yield
        finally:
            self.stack.layers = layers

    def forward(self, model, input_ids, attention_mask, labels, cache_kwarg: str, **kwargs):
        """The model's output on the batch from layer k up, or None when a row was not in the reference pass (or the
        batch does not start with the kept prefix): the caller then runs every layer."""
        import torch

        p, rows = self.p, input_ids.size(0)
        if not self.rows or input_ids[0, :p].tolist() != self.prefix_ids:
            return None
        hidden = []
        for j, n in enumerate(attention_mask.sum(dim=1).tolist()):
            h = self.rows.get(tuple(input_ids[j, :n].tolist()))
            if h is None:
                return None
            hidden.append(h)
        embeds = hidden[0].new_zeros((rows, input_ids.size(1) - p, hidden[0].size(-1)))
        for j, h in enumerate(hidden):
            embeds[j, :h.size(0)] = h
        embeds = embeds.to(input_ids.device)
        with self.upper_layers():
            # layers k and up, with gradients
            cache = _cache_of(model(inputs_embeds=self.prefix_hidden, use_cache=True, logits_to_keep=1))
            for layer, (keys, values) in zip(cache.layers, self.prefix_kv):  # layers below k: the kept ones
                layer.update(keys, values, 0)
            cache.batch_repeat_interleave(rows)
            positions = torch.arange(p, input_ids.size(1), device=input_ids.device)[None].expand(rows, -1)
            out = model(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels[:, p:],
                        position_ids=positions, **{cache_kwarg: cache}, **kwargs)
        self.steps += 1
        return out


class PrefixForward:
    """Stands in for the policy in one training step: `model(input_ids=..., labels=..., fused_lm_head=True)` runs the
    batch's shared prefix once (batch 1, with gradients, since the LoRA layers change it), repeats its key/value cache
    across the rows and runs only each row's rest. The per-token fields of TRL's fused head come back at the full
    batch width, zero over the prefix (where every label is -100, as TRL's own forward gives them), so TRL's loss
    reads them unchanged. Gradients through the repeated cache add up over the rows, as they do over the rows' own
    copies of the prefix in the full forward."""

    def __init__(self, model, p: int, cache_kwarg: str, trunk: Trunk | None = None):
        self.model, self.p, self.cache_kwarg, self.trunk = model, p, cache_kwarg, trunk

    def __call__(self, input_ids, attention_mask, labels, fused_lm_head=True, use_cache=None, position_ids=None,
                 **kwargs):
        import torch

        p, rows = self.p, input_ids.size(0)  # position_ids: PrefixTraining only runs batches whose rows count from 0
        out = None
        if self.trunk is not None and p >= self.trunk.p:
            p = self.trunk.p
            out = self.trunk.forward(self.model, input_ids, attention_mask, labels, self.cache_kwarg,
                                     fused_lm_head=fused_lm_head, **kwargs)
        if out is None:
            p = self.p
            cache = _prefix_cache(self.model, input_ids[0, :p].tolist(), input_ids.device)
            cache.batch_repeat_interleave(rows)
            positions = torch.arange(p, input_ids.size(1), device=input_ids.device)[None].expand(rows, -1)
            out = self.model(input_ids=input_ids[:, p:], attention_mask=attention_mask, labels=labels[:, p:],
                             position_ids=positions, fused_lm_head=fused_lm_head, **{self.cache_kwarg: cache},
                             **kwargs)
        for name in PER_TOKEN:
            value = getattr(out, name, None)
            if value is not None:
                out[name] = torch.cat([value.new_zeros((rows, p)), value], dim=1)
        return out


def _default_positions(inputs) -> bool:
    import torch

    positions = inputs.get("position_ids")
    if positions is None:
        return True
    return bool((positions == torch.arange(positions.size(-1), device=positions.device)).all())


def training_unsupported(trainer) -> str | None:
    """Why a trainer's steps can't run through PrefixForward (None: they can)."""
    if trainer.accelerator.num_processes > 1 or trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled:
        return "distributed training"
    if trainer.args.gradient_checkpointing:
        return "gradient checkpointing"
    if getattr(trainer, "ld_alpha", None) is not None or getattr(trainer, "_is_vision_dataset", False):
        return "ld_alpha or vision data"
    return None


class PrefixTraining:
    """Mixin for a TRL trainer whose loss calls `model(input_ids=..., attention_mask=..., labels=...,
    fused_lm_head=True)` (DPOTrainer, SFTTrainer): each training batch whose rows share at least MIN_PREFIX leading
    prompt tokens runs through PrefixForward. The first such batch is run both ways, without gradients; if the
    log-probs differ by more than TOLERANCE_NATS, or the model rejects the cache, every step runs TRL's own forward
    and the reason is printed. Batches that share less, padding-free or packed batches, evaluation and distributed or
    checkpointed training run TRL's own forward."""

    prefix_training: bool = True
    prefix_steps = 0  # training steps that ran through PrefixForward
    trunk: Trunk | None = None  # set by the DPO reference pass where the lower layers are frozen
    _train_check: str | None = None  # None: not checked yet; "ok"; else why TRL's forward trains instead

    def scored(self, inputs):
        """Positions whose token the loss scores (SFT: labelled ones)."""
        return inputs["labels"] != -100

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        forward = None
        if self.prefix_training and model.training and not return_outputs and self._train_check in (None, "ok") \
                and "attention_mask" in inputs and _default_positions(inputs):
            forward = self._prefix_forward(model, inputs)
        return super().compute_loss(forward or model, inputs, return_outputs, num_items_in_batch)

    def _prefix_forward(self, model, inputs):
        p = batch_prefix_length(inputs["input_ids"], inputs["attention_mask"], self.scored(inputs))
        if p < MIN_PREFIX:
            return None
        if self._train_check is None:
            self._train_check = training_unsupported(self) or self._check_training_forward(model, inputs, p)
            if self._train_check != "ok":
                print(f"training steps: TRL's full forward ({self._train_check})")
                return None
        self.prefix_steps += 1
        return PrefixForward(model, p, _cache_kwarg(self.accelerator.unwrap_model(model)), self.trunk)

    def _check_training_forward(self, model, inputs, p: int) -> str:
        import torch

        labels = inputs["input_ids"].masked_fill(~self.scored(inputs), -100)
        kwargs = dict(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels,
                      fused_lm_head=True)
        cache_kwarg = _cache_kwarg(self.accelerator.unwrap_model(model))
        with torch.no_grad(), self.accelerator.autocast():
            want = model(**kwargs).log_probs.float().sum(dim=1)
            for trunk in ([self.trunk] if self.trunk is not None else []) + [None]:
                try:
                    got = PrefixForward(model, p, cache_kwarg, trunk)(**kwargs).log_probs.float().sum(dim=1)
                    worst = float((got - want).abs().max())
                    why = None if worst <= TOLERANCE_NATS else f"differed by {worst:.2f} nats on the first batch"
                except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
                    why = f"failed on the first batch: {str(exc).splitlines()[0]}"
                if trunk is None:
                    return "ok" if why is None else f"the shared-prefix forward {why}"
                if why is None and trunk.steps:
                    trunk.steps = 0  # the check is not a training step
                    return "ok"
                print(f"training steps: every layer runs (running only layers {trunk.k} and up "
                      f"{why or 'found no batch row in the reference pass'})")
                self.trunk = None


def sft_trainer_class():
    """TRL's SFTTrainer whose training steps run the batch's shared prefix once (PrefixTraining)."""
    from trl import SFTTrainer

    class SharedPrefixSFTTrainer(PrefixTraining, SFTTrainer):
        pass

    return SharedPrefixSFTTrainer


def trainer_class(reference: bool = True, training: bool = True, frozen_layers_once: bool = True):
    """TRL's DPOTrainer with the shared prefix run once in the reference pass and/or the training steps, and (with
    both, and LoRA on the last layers only) the frozen lower layers run only in the reference pass (Trunk); a subclass
    made here so TRL is imported lazily."""
    from trl import DPOTrainer

    layers_once = frozen_layers_once  # a class body can't read an enclosing name it also assigns

    class SharedPrefixDPOTrainer(PrefixTraining, DPOTrainer):
        prefix_reference: bool = reference  # read in __init__, where TRL's pre-pass runs
        ref_prefix_tokens: int | None = None  # set when the shared-prefix pass ran (None: TRL's own pass)
        prefix_training: bool = training  # run training steps through PrefixForward (PrefixTraining)
        frozen_layers_once: bool = layers_once  # keep the frozen layers' hidden states from the reference pass

        def scored(self, inputs):
            return inputs["completion_mask"] == 1

        def _precompute_ref_logps(self, dataset, name: str, batch_size: int):
            why = self._prefix_unsupported(dataset) if self.prefix_reference else "not asked for"
            if why is None:
                try:
                    return self._prefix_ref_logps(dataset, name, batch_size)
                except _Mismatch as exc:
                    why = str(exc)
            print(f"reference log-probs: TRL's full pass ({why})")
            return super()._precompute_ref_logps(dataset, name, batch_size)

        def _prefix_unsupported(self, dataset) -> str | None:
            """Why the reference-pass shortcut can't run here (None: it can)."""
            from datasets import Dataset

            if not isinstance(dataset, Dataset) or "prompt_ids" not in dataset.column_names:
                return "not a tokenised map-style dataset"
            if self.accelerator.num_processes > 1 or self.is_deepspeed_enabled or self.is_fsdp_enabled:
                return "distributed training"
            if getattr(self, "ld_alpha", None) is not None or getattr(self, "_is_vision_dataset", False):
                return "ld_alpha or vision data"
            if self.args.max_length is not None and self.args.truncation_mode != "keep_start":
                return f"truncation_mode {self.args.truncation_mode}"
            return None

        def _reference(self):
            """(model, context): the reference is the policy with its adapter off unless TRL keeps a ref_model."""
            import torch

            try:
                from trl.trainer.dpo_trainer import disable_gradient_checkpointing, is_peft_model, use_adapter
            except ImportError as exc:
                raise _Mismatch(f"this TRL lacks a function the shortcut uses ({exc})") from exc

            stack = contextlib.ExitStack()
            stack.enter_context(torch.no_grad())
            stack.enter_context(disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs))
            model = self.ref_model or self.model
            if self.ref_model is None and is_peft_model(self.model):
                unwrapped = self.accelerator.unwrap_model(self.model)
                name = "ref" if "ref" in unwrapped.peft_config else None
                stack.enter_context(use_adapter(unwrapped, adapter_name=name))
            stack.enter_context(self.accelerator.autocast())
            return model, stack

        def _prefix_ref_logps(self, dataset, name: str, batch_size: int):
            rows = dataset.select_columns(["prompt_ids", "chosen_ids", "rejected_ids"]).to_list()
            p = shared_prefix_length([r["prompt_ids"] for r in rows]) if rows else 0
            if p < MIN_PREFIX:
                raise _Mismatch(f"the prompts share fewer than {MIN_PREFIX} leading tokens")
            seqs = sequences(rows, self.args.max_length)
            trunk = self._new_trunk() if name == "train" else None
            model, context = self._reference()
            with context:
                was_training = model.training
                model.eval()
                try:
                    logps = self._prefix_pass(model, rows, seqs, p, name, batch_size, trunk)
                finally:
                    model.train(was_training)
            self.ref_prefix_tokens = p
            if trunk is not None and trunk.rows:
                self.trunk = trunk
            return dataset.add_column("ref_chosen_logps", logps[0::2]).add_column("ref_rejected_logps", logps[1::2])

        def _new_trunk(self) -> Trunk | None:
            """A Trunk to fill in the reference pass, where it holds: the reference is the policy with its adapter off
            (so the frozen layers are the same) and LoRA leaves the lowest layers frozen."""
            if not (self.frozen_layers_once and self.prefix_training) or self.ref_model is not None:
                return None
            unwrapped = self.accelerator.unwrap_model(self.model)
            if "ref" in getattr(unwrapped, "peft_config", {}):
                return None
            k = first_trained_layer(unwrapped)
            return Trunk(unwrapped, k) if k > 0 else None

        def _prefix_pass(self, model, rows: list[dict], seqs, p: int, name: str, batch_size: int,
                         trunk: Trunk | None = None) -> list[float]:
            from tqdm import tqdm

            pad = getattr(self.processing_class, "pad_token_id", None) or 0  # masked out: any id will do
            device = self.accelerator.device
            sink = []
            capture = trunk.capture(sink) if trunk is not None else contextlib.nullcontext()
            with capture:
                try:
                    cache_kwarg = _cache_kwarg(self.accelerator.unwrap_model(model))
                    cache = _prefix_cache(model, rows[0]["prompt_ids"][:p], device)
                except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
                    raise _Mismatch(f"no key/value cache for the prefix: {str(exc).splitlines()[0]}") from exc
                if trunk is not None:
                    trunk.keep_prefix(rows[0]["prompt_ids"][:p], sink[0], cache)
                step, logps = 2 * batch_size, []
                bar = tqdm(range(0, len(seqs), step), desc=f"Reference log-probs for {name} ({p}-token shared prefix)",
                           disable=bool(os.environ.get("TQDM_DISABLE", "")))
                for i in bar:
                    sink.clear()
                    run_batch = _checked_first_batch if i == 0 else _batch_logps
                    logps += run_batch(model, cache, cache_kwarg, seqs[i:i + step], p, pad, device)
                    if trunk is not None:
                        trunk.keep_rows(seqs[i:i + step], sink[0])  # the first pass of the batch: from the cache
            return logps

    return SharedPrefixDPOTrainer

