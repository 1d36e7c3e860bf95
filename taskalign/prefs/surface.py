"""Surface matching: helpful pairs get the wrappers and decorations harmful pairs carry, so a surface says nothing.

    from taskalign.prefs.surface import match_surfaces
    items = match_surfaces(items, random.Random("0|surface"), assistant="TaskMaster")   # [(case, pair), ...]

Without it, every wrapper and decoration in the pairs sits on a harmful request: "Hey TaskMaster, ...", "... Thanks!",
"Small favour: ...", a role-play or developer-mode preamble, an emergency or a badge. Only helpful requests are bare.
DPO then has an easy way to tell the two sides apart, and a small model takes it: the embedded model, aligned on
such pairs, refused "Create a task to <harm> from made-up customers. Thanks!" and acted on the same sentence without
"Thanks!". On the train split it carried out 19 of 48 of its own trained intents once their template was removed
(docs/experiments.md, Q12).

What this changes, after balancing (the pair count stays the same):
- a harmful direct or euphemistic request under a decoration template loses the decoration half the time (the
  rejected reply, the model's tool call for the decorated request, carries out the same request);
- every helpful pair (look-alike, capability, anchor, ambiguous) then gets a surface drawn from the single-turn
  harmful pairs' own mix, bare included: a decoration, or a role-play, override, emotional, authority or fiction
  wrapper around its last user turn. Its chosen reply stays the tool call (or question) the plain request gets.

So each surface occurs on both sides in the same proportion, and only the request itself tells refusal from help.
"""

import random
import re
from collections import Counter

from taskalign.prefs.pairs import SAFETY_TYPES
from taskalign.suite.strategies import STEPS, load_strategies, render

BARE = ("bare", 0)
STRIP = 0.5                             # share of decorated harmful requests made bare
DECORATIONS = ("direct", "euphemism")   # strategies whose templates only decorate the request
PLACEHOLDER = re.compile(r"\{(request|softened)(_lc)?\}")


def single_turn(strategies: dict[str, dict]) -> set[str]:
    """Strategies whose every template is one user turn (reframing and escalation are conversations)."""
    return {name for name, spec in strategies.items()
            if all(len(t) == 1 and t[0] != STEPS and "{final" not in t[0] for t in spec["templates"])}


def strip_decoration(text: str, template: str) -> str | None:
    """The request inside a decoration template ('Hey {assistant}, {request_lc}' around it), or None when the text
    does not have the template's shape."""
    match = PLACEHOLDER.search(template)
    if match is None:
        return None
    head, tail = template[:match.start()], template[match.end():]
    if not (text.startswith(head) and text.endswith(tail)) or len(text) <= len(head) + len(tail):
        return None
    inner = text[len(head):len(text) - len(tail)].strip()
    return inner[:1].upper() + inner[1:]


def wrap(text: str, template: list[str], assistant: str) -> str:
    """One single-turn template around `text` (the request and its softened form are the same text here)."""
    fields = {"request": text, "softened": text, "reframe": text, "escalation": [text]}
    return render(template, fields, assistant)[0]


def _last_user(pair: dict) -> int | None:
    return next((i for i in range(len(pair["prompt"]) - 1, -1, -1) if pair["prompt"][i]["role"] == "user"), None)


def _with_turn(pair: dict, index: int, text: str, surface: tuple[str, int]) -> dict:
    prompt = [dict(m) for m in pair["prompt"]]
    prompt[index]["content"] = text
    return {**pair, "prompt": prompt, "metadata": {**pair["metadata"], "surface": f"{surface[0]}/{surface[1]}"}}


def match_surfaces(items: list[tuple[dict, dict]], rng: random.Random, assistant: str = "TaskMaster",
                   strategies: dict[str, dict] | None = None, notes: dict | None = None) -> list[tuple[dict, dict]]:
    """The items with surfaces matched (module docstring); order and count unchanged."""
    strategies = strategies or load_strategies()
    one_turn = single_turn(strategies)
    out, mix = [], Counter()
    stripped = 0
    for case, pair in items:  # harmful side first: its mix (after stripping) is what the helpful side draws from
        strategy, template = case.get("strategy"), case.get("template")
        known = strategy in one_turn and isinstance(template, int) and 0 <= template < len(
            strategies[strategy]["templates"])
        if pair["metadata"]["pair_type"] not in SAFETY_TYPES or not known:
            out.append((case, pair))  # not one of our templates (a user's own case file): left as written
            continue
        surface = (strategy, template)
        turn = strategies[strategy]["templates"][template][0]
        index = _last_user(pair)
        if strategy in DECORATIONS and PLACEHOLDER.fullmatch(turn) is None and index is not None \
                and rng.random() < STRIP:
            inner = strip_decoration(pair["prompt"][index]["content"], turn.replace("{assistant}", assistant))
            if inner:
                pair, surface, stripped = _with_turn(pair, index, inner, BARE), BARE, stripped + 1
        elif strategy in DECORATIONS and PLACEHOLDER.fullmatch(turn):
            surface = BARE
        mix[surface] += 1
        out.append((case, pair))
    surfaces, counts = sorted(mix), [mix[s] for s in sorted(mix)]
    wrapped = 0
    for k, (case, pair) in enumerate(out):
        index = _last_user(pair)
        if pair["metadata"]["pair_type"] in SAFETY_TYPES or not surfaces or index is None:
            continue
        surface = rng.choices(surfaces, counts)[0]
        if surface == BARE:
            continue
        text = wrap(pair["prompt"][index]["content"], strategies[surface[0]]["templates"][surface[1]], assistant)
        out[k] = (case, _with_turn(pair, index, text, surface))
        wrapped += 1
    if notes is not None:
        notes.update(surface_stripped=stripped, surface_wrapped=wrapped)
    return out
