"""The decision head: a linear classifier on the model's own hidden state that decides how a reply begins.

    from taskalign.models.head import DecisionHead
    head = DecisionHead.load("runs/demo/models/aligned")      # None when the folder has no decision_head.json
    plans = head.plans(states)                                # one Plan (forced / banned first tokens) per row

`taskalign train head` fits it (taskalign/train/head.py) and writes `decision_head.json` next to the model's weights
(or its adapter). The Hugging Face backend reads that file whenever it loads the folder, and both engines apply it
when a reply answers a user message (not a tool result): at the last prompt token, the state after layer `layer`
goes through the head, and the decided class fixes the reply's first tokens:

- `refuse`: the reply starts with the refusal lead ("I can't"); the model writes the rest (what it will not do, why,
  what it can do instead), and it cannot open a tool call anywhere in that reply: a model that was never
  preference-trained goes on "I can't help with that. <tool_call>..." otherwise;
- `clarify`: it starts with the clarifying lead ("Quick question first"), and calls no tool either;
- `act`: those leads' first tokens are banned at the first position, so the model does what it would do next best
  (for TaskMaster, a tool call); only on a conversation's first request (`steering` says why), and only where the
  head's act probability reaches `act_ban` (`taskalign train head --act-ban`): below it, the reply is the model's.

Why: the embedded model's own hidden states separate harmful from benign requests far better than its trained
replies do. A linear probe at a middle layer, fitted on training-only rows, flags 56 of 60 harmful requests and 3
of 60 benign look-alikes of the out-of-distribution dev set, in every writing style, while the DPO-trained model
carries out 13 of those harms and refuses 29 of those look-alikes, mostly by style (docs/experiments.md, Q14).
Preference training did not learn to read that feature; the head reads it directly. It works only where the model
runs through this backend: an OpenAI-compatible server (vLLM) serving the exported weights does not apply it.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

FILE = "decision_head.json"
CLASSES = ("act", "refuse", "clarify")


@dataclass
class Plan:
    """How one reply must begin: `forced` token ids come first, in order; `banned` ids may not be the first token;
    `never` ids may not appear anywhere in the reply (the tool-call opener, in a refusal or a question)."""
    forced: list[int] = field(default_factory=list)
    banned: list[int] = field(default_factory=list)
    never: list[int] = field(default_factory=list)


@dataclass
class DecisionHead:
    layer: int                   # hidden state after this many decoder layers (1 = after the first)
    classes: list[str]
    mean: torch.Tensor           # (hidden,) standardisation fitted on the training states
    std: torch.Tensor
    weight: torch.Tensor         # (classes, hidden)
    bias: torch.Tensor           # (classes,)
    leads: dict[str, str]        # class -> the text a reply of that class starts with ("" for act)
    info: dict = field(default_factory=dict)  # what it was fitted on and how well: for people, not used here
    call_opener: str = "<tool_call>"  # how the model opens a tool call (the domain's wire format)
    tokenizer: object = None
    act_ban: float = 0.0         # an act decision bans the leads only at this act probability or above

    @classmethod
    def load(cls, folder: str | Path | None, tokenizer=None) -> "DecisionHead | None":
        path = Path(folder) / FILE if folder else None
        if path is None or not path.is_file():
            return None
        data = json.loads(path.read_text())
        tensor = lambda key: torch.tensor(data[key], dtype=torch.float32)  # noqa: E731
        return cls(data["layer"], data["classes"], tensor("mean"), tensor("std"), tensor("weight"), tensor("bias"),
                   data["leads"], data.get("info", {}), data.get("call_opener", "<tool_call>"), tokenizer,
                   data.get("act_ban", 0.0))

    def save(self, folder: str | Path) -> Path:
        from taskalign.files import write_json_atomic

        path = Path(folder) / FILE
        write_json_atomic(path, {"layer": self.layer, "classes": self.classes, "leads": self.leads,
                                 "call_opener": self.call_opener, "act_ban": self.act_ban, "info": self.info,
                                 "mean": self.mean.tolist(), "std": self.std.tolist(),
                                 "weight": self.weight.tolist(), "bias": self.bias.tolist()})
        return path

    def probabilities(self, states: torch.Tensor) -> torch.Tensor:
        """(rows, classes) from (rows, hidden) states of the last prompt token after `layer` layers."""
        x = (states.float().cpu() - self.mean) / self.std
        return torch.softmax(x @ self.weight.T + self.bias, -1)

    def decide(self, states: torch.Tensor) -> list[str]:
        return [self.classes[k] for k in self.probabilities(states).argmax(-1).tolist()]

    def plans(self, states: torch.Tensor) -> list[Plan]:
        probabilities = self.probabilities(states)
        act = self.classes.index("act") if "act" in self.classes else None
        return [self.plan(self.classes[k], sure=act is None or float(p[act]) >= self.act_ban)
                for k, p in zip(probabilities.argmax(-1).tolist(), probabilities)]

    def plan(self, label: str, sure: bool = True) -> Plan:
        """`sure`: for an act decision, whether it is sure enough to ban the leads. An unsure act (an encoded or
        wrapped request the head half reads) leaves the reply to the model, which may still refuse it."""
        if label != "act":  # the opener's first token, alone or after a space or newline
            never = {ids[0] for text in (self.call_opener, " " + self.call_opener, "\n" + self.call_opener)
                     if (ids := self._ids(text))}
            return Plan(forced=self._ids(self.leads[label]), never=sorted(never))
        if not sure:
            return Plan()
        firsts = {ids[0] for lead in self.leads.values() if lead and (ids := self._ids(lead))}
        return Plan(banned=sorted(firsts))

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


OFF, LEADS, FULL = 0, 1, 2  # how far a reply may be steered: not at all, leads only, leads and act's bans


def steering(conversation: list[dict]) -> int:
    """Replies to a user's message are steered, after a tool result not (the reply reports on the result). An act
    decision bans the refusal and question leads only for a conversation's first request: the head's multi-turn
    training rows have written-in earlier replies, not the model's, and on the test split's escalations it said act
    for 8 of 28 final requests, which the ban then kept the aligned model from refusing (docs/experiments.md, Q14)."""
    if not conversation or conversation[-1].get("role") != "user":
        return OFF
    return FULL if sum(m.get("role") == "user" for m in conversation) == 1 else LEADS


def allowed(plan: "Plan", level: int) -> "Plan | None":
    """The part of a plan that `level` (steering) lets through."""
    if level == OFF or (level == LEADS and not plan.forced):
        return None
    return plan


def decoder_layers(model):
    """The model's list of decoder layers, through a PEFT wrapper if there is one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model.layers


class Capture:
    """A context: keeps the last position's output of decoder layer `layer` - 1 (hidden_states[layer]) from the first
    forward call inside it, the state of every row's last prompt token when the prompts are left-padded (or
    right-aligned). Later calls (generate's decoding steps) leave it as it is."""

    def __init__(self, model, layer: int):
        self.model, self.layer, self.states, self._handle = model, layer, None, None

    def __enter__(self):
        self._handle = decoder_layers(self.model)[self.layer - 1].register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        self._handle.remove()

    def _hook(self, module, args, output):
        if self.states is None:
            hidden = output[0] if isinstance(output, tuple) else output
            self.states = hidden[:, -1].detach()


def apply_step(logits: torch.Tensor, plans: list[Plan | None], step: int = 0) -> torch.Tensor:
    """Logits for reply token `step` with each row's plan applied: a forced token wins outright; banned ones lose at
    the first token, `never` ones at every token."""
    logits = logits.clone()
    for r, plan in enumerate(plans):
        if plan is None:
            continue
        if step < len(plan.forced):
            logits[r] = float("-inf")
            logits[r, plan.forced[step]] = 0.0
            continue
        if step == 0 and plan.banned:
            logits[r, plan.banned] = float("-inf")
        if plan.never:
            logits[r, plan.never] = float("-inf")
    return logits


class HeadLogitsProcessor:
    """For transformers' generate (the `plain` engine): step 0 decides every row from the captured states, and the
    forced leads are written token by token over the next steps."""

    def __init__(self, head: DecisionHead, capture: Capture, prompt_length: int, steered: list[int]):
        self.head, self.capture, self.prompt_length, self.steered = head, capture, prompt_length, steered
        self.plans: list[Plan | None] | None = None

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.prompt_length
        if step == 0:
            self.plans = [allowed(p, level) for p, level in zip(self.head.plans(self.capture.states), self.steered)]
        return apply_step(scores, self.plans or [], step)
