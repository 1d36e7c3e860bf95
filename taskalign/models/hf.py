"""Hugging Face backend: a local folder or hub id (optionally + a PEFT adapter), batched greedy generation.

    from taskalign.models import load_model
    model = load_model("embedded")          # or "./my-model", or an adapter folder (resolved to its base)
    model.generate([[{"role": "system", "content": "..."}, {"role": "user", "content": "hi"}]])
    load_model("embedded", engine="prefix") # the shared system prompt computed once (see below)

Two engines: `prefix` computes the system prompt the conversations share once, keeps its batch full from the waiting
prompts, and computes only the new tokens of a conversation's next turn, which `converse` (all turns of a case, as
the red-team runner sends them) lets join the batch as soon as that conversation's own reply is done
(taskalign.models.prefix); `plain` runs transformers' generate on left-padded whole prompts, and also serves sampling
(temperature > 0) and models whose attention prefix cannot replace. The default, `auto`, is `prefix` for fp32 weights
(same replies as `plain`, faster) and `plain` for bf16 weights (there `prefix` is faster too, but its replies moved
the judge's verdict on more cases than a change of batch size does). CPU threads: thread_count() (all cores unless
TASKALIGN_THREADS or OMP_NUM_THREADS says otherwise). Measurements: docs/performance.md.
"""

import functools
import os
import time
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_json
from taskalign.models.base import ChatModel, GenerationConfig, Reply


def adapter_base(path: Path) -> str | None:
    """The base model an adapter folder was trained on (taskalign's note first, then PEFT's own config)."""
    for name, key in (("taskalign_model.json", "base"), ("adapter_config.json", "base_model_name_or_path")):
        if (path / name).is_file():
            return read_json(path / name, dict).get(key)
    return None


PRECISIONS = ("auto", "fast", "fp32", "bf16")
PRECISION_HELP = ("auto: bf16 on a GPU, fp32 on a CPU; fast: bf16 wherever the hardware does bf16 natively (GPUs, "
                  "CPUs with AVX512-BF16 or AMX), else fp32; fp32; bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower than fp32.

    Measured on a 2-core AVX512-BF16 CPU with SmolLM2-135M: a LoRA training step 2.5x faster under
    bf16 autocast than in fp32, batched greedy generation 2.5x faster with bf16 weights.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: no cheap way to ask, so stay on fp32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(precision: str, device: str) -> bool:
    """Whether `precision` (one of PRECISIONS) means bf16 maths on `device` ("cuda" or "cpu")."""
    import torch

    if precision not in PRECISIONS:
        raise UserError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)} ({PRECISION_HELP}).")
    if precision in ("fp32", "bf16"):
        return precision == "bf16"
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    return precision == "fast" and cpu_has_bf16()


def thread_count() -> int:
    """CPU threads for torch: TASKALIGN_THREADS, else OMP_NUM_THREADS, else every core this process may run on.

    All cores is what PyTorch users expect. There is deliberately no load-average heuristic: the 1-minute load lags,
    and once made a whole stage run on one thread after the previous stage had kept the cores busy. Nor is there a
    special case for tiny models. On a machine whose cores other jobs keep busy, OpenMP's busy-waiting makes every
    extra thread very costly (measured in docs/performance.md): there, run with TASKALIGN_THREADS=1
    (`taskalign --threads 1`) or export OMP_WAIT_POLICY=PASSIVE before starting.
    """
    for name in ("TASKALIGN_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        first = value.split(",")[0].strip()  # OpenMP also accepts a nested list such as "4,2": its first level counts
        if not first.isdigit() or int(first) < 1:
            raise UserError(f"{name}={value!r} is not a positive whole number of threads; set it to e.g. 2, or unset it.")
        return int(first)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_threads() -> int:
    """Apply thread_count() to torch; returns the count."""
    import torch

    count = thread_count()
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def load_hf(name_or_path: str, adapter: str | None = None, device: str | None = None, precision: str = "fast"):
    """(model, tokenizer) in eval mode; PEFT adapter applied (not merged) when given; bf16 weights where `precision`
    says so (greedy replies may then differ from fp32 ones on near-ties, so compare runs made with the same setting)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if use_bf16(precision, device) else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
    except (OSError, ValueError) as exc:  # missing weights / tokenizer files, unknown architecture
        raise UserError(f"Could not load a Hugging Face model from {name_or_path!r} ({str(exc).splitlines()[0][:160]}); "
                        "pass a folder with config.json, weights and tokenizer, a hub id, or 'embedded'.") from exc
    set_threads()
    if adapter:
        model = _apply_adapter(model, adapter)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


def _apply_adapter(model, adapter: str):
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise UserError(f"--adapter {adapter}: no adapter_config.json there; pass a folder saved by PEFT.")
    try:
        return PeftModel.from_pretrained(model, adapter)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise UserError(f"--adapter {adapter} does not match the model ({str(exc).splitlines()[0][:160]}); "
                        "pass the base model it was trained on.") from exc


ENGINES = ("auto", "prefix", "plain")
ENGINE_HELP = ("auto: prefix for fp32 weights, plain for bf16; prefix: greedy replies computing the shared system "
               "prompt once (taskalign.models.prefix); plain: transformers' generate on whole prompts")


class HFModel(ChatModel):
    """`engine` picks how greedy replies are generated (ENGINES); sampling (temperature > 0) always uses `plain`."""

    def __init__(self, name_or_path: str, adapter: str | None = None, spec: str | None = None,
                 precision: str = "fast", engine: str = "auto", head: bool = True):
        import torch

        from taskalign.models.head import DecisionHead

        if engine not in ENGINES:
            raise UserError(f"engine {engine!r} is not one of {', '.join(ENGINES)} ({ENGINE_HELP}).")
        self.spec = spec or name_or_path
        self.model, self.tokenizer = load_hf(name_or_path, adapter, precision=precision)
        if engine == "auto":  # measured on the red-team test split: docs/performance.md
            engine = "prefix" if self.model.dtype == torch.float32 else "plain"
        self.engine = engine
        # The decision head fitted for this model (taskalign.models.head), when its folder has one and `head` is on.
        self.head = DecisionHead.load(adapter or name_or_path, self.tokenizer) if head else None
        # `prefix` engine: each conversation's keys and values from the last call, by its key, so that its next turn
        # (the same prompt and reply, then a new message) computes only the new tokens.
        self._kept: dict = {}

    def generate(self, conversations, config=GenerationConfig(), keys=None):
        from taskalign.models.head import steering

        # The head decides replies to a user's message; a reply after a tool result reports on it.
        self._steered = [steering(c) for c in conversations]
        if self._prefix_greedy(config):
            return self._generate_prefixed(conversations, config, keys)
        # Similar lengths in one batch waste less compute on padding; results are put back in input order.
        order = sorted(range(len(conversations)), key=lambda i: len(str(conversations[i])))
        replies: list[Reply | None] = [None] * len(conversations)
        size = max(1, config.batch_size)
        for start in range(0, len(order), size):
            idx = order[start:start + size]
            for i, reply in zip(idx, self._generate_batch([conversations[i] for i in idx], config,
                                                          [self._steered[i] for i in idx])):
                replies[i] = reply
        return replies

    def converse(self, conversations, turns, config=GenerationConfig(), keys=None):
        """With the `prefix` engine (greedy), all turns of all conversations run through one continuous batch: a
        conversation's next message joins as soon as its own reply is done, reusing its keys and values, instead of
        waiting for every other conversation's reply to the same turn. The replies are the turn-by-turn ones (fp32)."""
        if not self._prefix_greedy(config):
            return super().converse(conversations, turns, config, keys)
        replies: list[list[Reply]] = [[] for _ in conversations]
        self._kept = {}  # no conversation continues in a later call
        for members in self._groups(conversations).values():
            self._converse_group([i for i in members if turns[i]], conversations, turns, config, replies)
        return replies

    def _converse_group(self, members, conversations, turns, config, replies) -> None:
        from taskalign.models.head import LEADS, steering
        from taskalign.models.prefix import greedy_generate

        owner = list(members)  # prompt index -> conversation
        for i in owner:
            conversations[i].append({"role": "user", "content": turns[i][0]})
        prompts = [self._ids(conversations[i]) for i in owner]
        answered = dict.fromkeys(owner, 0)

        continued: set[int] = set()  # prompts whose reply was decoded in `follow` (their conversation went on)

        def follow(j: int, out) -> list[int] | None:
            i = owner[j]
            answered[i] += 1
            if out.error or answered[i] == len(turns[i]):
                return None
            continued.add(j)
            replies[i].append(self._reply(out, len(prompts[j])))  # decoded once: its text continues the conversation
            conversations[i].append({"role": "assistant", "content": replies[i][-1].text})
            conversations[i].append({"role": "user", "content": turns[i][answered[i]]})
            owner.append(i)
            prompts.append(self._ids(conversations[i]))
            return prompts[-1]

        outputs = greedy_generate(self.model, prompts, config.max_new_tokens, self.tokenizer.eos_token_id,
                                  self.tokenizer.pad_token_id, config.batch_size, follow=follow,
                                  # every prompt here ends with a user message; an act decision's bans only on a
                                  # conversation's first request (taskalign.models.head.steering)
                                  first=self._first(lambda j: steering(conversations[owner[j]])
                                                    if answered[owner[j]] == 0 else LEADS),
                                  priority=[len(turns[i]) for i in owner],
                                  # prompt j's reply is its conversation's answered + 1st: states kept if more follow
                                  continues=lambda j: answered[owner[j]] + 1 < len(turns[owner[j]]))
        for j, out in enumerate(outputs):  # each conversation's last reply, or its error (a failed batch asks no follow)
            if j not in continued:
                replies[owner[j]].append(self._reply(out, len(prompts[j])))
        for i in members:  # the last reply, as the turn-by-turn path leaves it
            if replies[i] and not replies[i][-1].error:
                conversations[i].append({"role": "assistant", "content": replies[i][-1].text})

    def _prefix_greedy(self, config) -> bool:
        if self.engine != "prefix" or config.temperature > 0:
            return False
        from taskalign.models.prefix import supported

        return supported(self.model)

    def _first(self, steered):
        """greedy_generate's `first` for the decision head: the head's plan for each prompt, as far as `steered(j)`
        allows (taskalign.models.head.steering)."""
        from taskalign.models.head import allowed

        if self.head is None:
            return None
        return self.head.layer, lambda ids, states: [allowed(plan, steered(j))
                                                     for j, plan in zip(ids, self.head.plans(states))]

    def _ids(self, conversation) -> list[int]:
        prompt = self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(prompt, add_special_tokens=False)["input_ids"]

    @staticmethod
    def _groups(conversations) -> dict[str, list[int]]:
        """Conversations with the same first (system) message share a long prefix; one with its own system prompt
        forms its own group rather than shortening everyone's shared prefix."""
        groups: dict[str, list[int]] = {}
        for i, conversation in enumerate(conversations):
            groups.setdefault(str(conversation[:1]), []).append(i)
        return groups

    def _text(self, out) -> str:
        return self.tokenizer.decode(out.tokens, skip_special_tokens=True).strip()

    def _reply(self, out, prompt_tokens: int) -> Reply:
        if out.error:
            return Reply.failed(out.error)
        return Reply.from_text(self._text(out), prompt_tokens=prompt_tokens, completion_tokens=len(out.tokens),
                               latency_s=out.seconds, finish_reason="stop" if out.stopped else "length")

    def _generate_prefixed(self, conversations, config, keys=None):
        from taskalign.models.prefix import greedy_generate

        ids = [self._ids(c) for c in conversations]
        replies: list[Reply | None] = [None] * len(conversations)
        eos = self.tokenizer.eos_token_id
        earlier, self._kept = self._kept, {}  # only the last call's conversations can continue (memory)
        for members in self._groups(conversations).values():
            outputs = greedy_generate(self.model, [ids[i] for i in members], config.max_new_tokens, eos,
                                      self.tokenizer.pad_token_id, config.batch_size,
                                      earlier=[earlier.get(keys[i]) for i in members] if keys else None,
                                      keep=keys is not None,
                                      first=self._first(lambda j, members=members: self._steered[members[j]]))
            for i, out in zip(members, outputs):
                if keys and out.kept:
                    self._kept[keys[i]] = out.kept
                replies[i] = self._reply(out, len(ids[i]))
        return replies

    def _generate_batch(self, conversations, config, steered=None):
        import contextlib

        import torch
        from transformers import LogitsProcessorList

        from taskalign.models.head import Capture, HeadLogitsProcessor

        texts = [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        torch.manual_seed(config.seed)
        sampling = {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p} if config.temperature > 0 \
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        start = time.perf_counter()
        capture = contextlib.nullcontext()
        if self.head is not None and any(steered or ()):
            capture = Capture(self.model, self.head.layer)
            sampling["logits_processor"] = LogitsProcessorList([HeadLogitsProcessor(
                self.head, capture, enc["input_ids"].shape[1], steered)])
        try:
            with torch.inference_mode(), capture:
                out = self.model.generate(**enc, max_new_tokens=config.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                                          eos_token_id=self.tokenizer.eos_token_id, **sampling)
        except RuntimeError as exc:  # e.g. out of memory: every reply of the batch is an error, not a refusal
            return [Reply.failed(f"generation failed: {str(exc)[:200]}") for _ in conversations]
        latency = (time.perf_counter() - start) / len(conversations)
        new = out[:, enc["input_ids"].shape[1]:]
        replies = []
        eos = self.tokenizer.eos_token_id
        for row, prompt_mask in zip(new, enc["attention_mask"]):
            # Count up to the first EOS, not "non-pad" tokens: a model may emit the pad token itself mid-reply.
            n = _length_to_eos(row, eos)
            finished = bool((row[:n] == eos).any())
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True).strip()
            replies.append(Reply.from_text(text, prompt_tokens=int(prompt_mask.sum()), completion_tokens=n,
                                           latency_s=latency, finish_reason="stop" if finished else "length"))
        return replies

    def close(self):
        self.model, self._kept = None, {}


def _length_to_eos(row, eos_id: int) -> int:
    hits = (row == eos_id).nonzero()
    return int(hits[0]) + 1 if len(hits) else len(row)
