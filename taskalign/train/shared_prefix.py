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

benchmarks/bench_ref_prefix.py measured the pass at 0.43-0.60 of TRL's time, benchmarks/bench_prefix_steps.py a DPO
step at 0.52 (fp32) to 0.64 (bf16) (docs/training.md). tests/train/test_shared_prefix.py checks that the log-probs,
the losses and the LoRA gradients match TRL's own on a tiny model.

Each falls back to TRL's own forward (and says why) where the shortcut does not hold: several processes or
DeepSpeed/FSDP, `ld_alpha`, `keep_end` truncation, vision data, gradient checkpointing (training), padding-free or
packed batches, prompts sharing fewer than MIN_PREFIX tokens, a TRL or transformers without the hooks used here, or a
first batch whose log-probs disagree with a plain forward pass.
"""

import contextlib
import copy
import inspect
import os

class _Mismatch(RuntimeError):
    """The shortcut does not hold for this model or data; TRL's own pass runs instead."""


MIN_PREFIX = 16  # below this the cache copy costs about what it saves
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

    out = model(input_ids=torch.tensor([prefix], device=device), use_cache=True, logits_to_keep=1)
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


class PrefixForward:
    """Stands in for the policy in one training step: `model(input_ids=..., labels=..., fused_lm_head=True)` runs the
    batch's shared prefix once (batch 1, with gradients, since the LoRA layers change it), repeats its key/value cache
    across the rows and runs only each row's rest. The per-token fields of TRL's fused head come back at the full
    batch width, zero over the prefix (where every label is -100, as TRL's own forward gives them), so TRL's loss
    reads them unchanged. Gradients through the repeated cache add up over the rows, as they do over the rows' own
    copies of the prefix in the full forward."""

    def __init__(self, model, p: int, cache_kwarg: str):
        self.model, self.p, self.cache_kwarg = model, p, cache_kwarg

    def __call__(self, input_ids, attention_mask, labels, fused_lm_head=True, use_cache=None, position_ids=None,
                 **kwargs):
        import torch

        p, rows = self.p, input_ids.size(0)  # position_ids: PrefixTraining only runs batches whose rows count from 0
        cache = _prefix_cache(self.model, input_ids[0, :p].tolist(), input_ids.device)
        cache.batch_repeat_interleave(rows)
        positions = torch.arange(p, input_ids.size(1), device=input_ids.device)[None].expand(rows, -1)
        out = self.model(input_ids=input_ids[:, p:], attention_mask=attention_mask, labels=labels[:, p:],
                         position_ids=positions, fused_lm_head=fused_lm_head, **{self.cache_kwarg: cache}, **kwargs)
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
        return PrefixForward(model, p, _cache_kwarg(self.accelerator.unwrap_model(model)))

    def _check_training_forward(self, model, inputs, p: int) -> str:
        import torch

        labels = inputs["input_ids"].masked_fill(~self.scored(inputs), -100)
        kwargs = dict(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels,
                      fused_lm_head=True)
        try:
            with torch.no_grad(), self.accelerator.autocast():
                want = model(**kwargs).log_probs.float().sum(dim=1)
                forward = PrefixForward(model, p, _cache_kwarg(self.accelerator.unwrap_model(model)))
                got = forward(**kwargs).log_probs.float().sum(dim=1)
        except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
            return f"the shared-prefix forward failed on the first batch: {str(exc).splitlines()[0]}"
        worst = float((got - want).abs().max())
        if worst > TOLERANCE_NATS:
            return f"the shared-prefix forward differed by {worst:.2f} nats on the first batch"
        return "ok"


def sft_trainer_class():
    """TRL's SFTTrainer whose training steps run the batch's shared prefix once (PrefixTraining)."""
    from trl import SFTTrainer

    class SharedPrefixSFTTrainer(PrefixTraining, SFTTrainer):
        pass

    return SharedPrefixSFTTrainer


def trainer_class(reference: bool = True, training: bool = True):
    """TRL's DPOTrainer with the shared prefix run once in the reference pass and/or the training steps (a subclass
    made here so TRL is imported lazily)."""
    from trl import DPOTrainer

    class SharedPrefixDPOTrainer(PrefixTraining, DPOTrainer):
        prefix_reference: bool = reference  # read in __init__, where TRL's pre-pass runs
        ref_prefix_tokens: int | None = None  # set when the shared-prefix pass ran (None: TRL's own pass)
        prefix_training: bool = training  # run training steps through PrefixForward (PrefixTraining)

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
            model, context = self._reference()
            with context:
                was_training = model.training
                model.eval()
                try:
                    logps = self._prefix_pass(model, rows, seqs, p, name, batch_size)
                finally:
                    model.train(was_training)
            self.ref_prefix_tokens = p
            return dataset.add_column("ref_chosen_logps", logps[0::2]).add_column("ref_rejected_logps", logps[1::2])

        def _prefix_pass(self, model, rows: list[dict], seqs, p: int, name: str, batch_size: int) -> list[float]:
            from tqdm import tqdm

            pad = getattr(self.processing_class, "pad_token_id", None) or 0  # masked out: any id will do
            device = self.accelerator.device
            try:
                cache_kwarg = _cache_kwarg(self.accelerator.unwrap_model(model))
                cache = _prefix_cache(model, rows[0]["prompt_ids"][:p], device)
            except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
                raise _Mismatch(f"no key/value cache for the prefix: {str(exc).splitlines()[0]}") from exc
            step, logps = 2 * batch_size, []
            bar = tqdm(range(0, len(seqs), step), desc=f"Reference log-probs for {name} ({p}-token shared prefix)",
                       disable=bool(os.environ.get("TQDM_DISABLE", "")))
            for i in bar:
                run_batch = _checked_first_batch if i == 0 else _batch_logps
                logps += run_batch(model, cache, cache_kwarg, seqs[i:i + step], p, pad, device)
            return logps

    return SharedPrefixDPOTrainer

