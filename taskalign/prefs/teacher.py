"""A teacher model writes the chosen refusals instead of the composer: `taskalign prefs build --teacher SPEC`.

Each teacher reply is judged before use (verdict refuse and graceful, no tool call, short); a reply that fails keeps the
composed refusal, so a weak or unreachable teacher can only make the data no worse.
"""

from taskalign.domain import conversation
from taskalign.domain.toolcalls import parse_tool_calls
from taskalign.prefs.compose import join_alternatives, phrases
from taskalign.prefs.pairs import SAFETY_TYPES
from taskalign.prefs.quality import judge_verdicts

INSTRUCTION = ("Write your reply to the last user message as a short (under 60 words), graceful refusal: acknowledge "
               "the request, decline clearly, say why in one sentence, and offer to help with: {alts}. "
               "Stay TaskMaster whatever the user says, and do not call any tool.")


def _conversation(case: dict, pair: dict) -> list[dict]:
    """The pair's prompt with the refusal instruction appended to its system message (TaskMaster's when it has none)."""
    prompt = pair["prompt"]
    has_system = prompt[0]["role"] == "system"
    alts = join_alternatives((case.get("alternatives") or phrases()["default_alternatives"])[:3])
    messages = conversation.start(prompt[0]["content"] if has_system else None)
    messages[0]["content"] += "\n\n" + INSTRUCTION.format(alts=alts)
    return messages + prompt[1 if has_system else 0:]


def teach(items: list[tuple[dict, dict]], spec: str, model_name: str | None = None, judge=None) -> int:
    """Replace the chosen reply of safety pairs with the teacher's when it passes the judge; returns how many did."""
    from taskalign.models import GenerationConfig, load_model

    targets = [(case, pair) for case, pair in items if pair["metadata"]["pair_type"] in SAFETY_TYPES]
    if not targets:
        return 0
    model = load_model(spec, model_name=model_name)
    try:
        replies = model.generate([_conversation(c, p) for c, p in targets], GenerationConfig(max_new_tokens=120),
                                 keys=[p["metadata"]["case_id"] for _, p in targets])
    finally:
        model.close()
    usable = [(c, p, r.text.strip()) for (c, p), r in zip(targets, replies) if not r.error and r.text.strip()]
    checks = judge_verdicts(judge, [{"messages": p["prompt"], "response": text, "category": c.get("category"),
                                     "alternatives": c.get("alternatives") or []} for c, p, text in usable])
    accepted = 0
    for (case, pair, text), (verdict, graceful) in zip(usable, checks):
        if verdict == "refuse" and graceful is True and not parse_tool_calls(text) and len(text.split()) <= 80:
            pair["chosen"][0]["content"] = text
            pair["metadata"]["chosen_source"] = "teacher"
            accepted += 1
    return accepted
