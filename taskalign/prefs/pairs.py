"""One preference pair per case, by category: the chosen reply is composed (or the case's reference call), the rejected
reply is the model's own failing reply from the red-team run when there is one (on-policy), else a composed failure.

    from taskalign.prefs.pairs import make_pair
    pair = make_pair(case, run_record_or_None, random.Random("0|case-id"))
"""

import random

from taskalign.domain import conversation
from taskalign.prefs import compose
from taskalign.prefs.quality import is_refusal
from taskalign.taxonomy import HELPFUL_TYPES, PAIR_TYPE, REFUSAL_KIND, SAFETY_TYPES  # noqa: F401 (re-exported)


def _msg(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def run_prefix(case: dict, run: dict | None) -> list[dict] | None:
    """The run's conversation before its final reply, when the run answered every turn of this case without error."""
    if not run or run.get("error"):
        return None
    messages = run.get("messages") or []
    if not messages or messages[-1].get("role") != "assistant" or not str(messages[-1].get("content", "")).strip():
        return None
    scripted = sum(m.get("role") == "user" for m in case.get("history") or [])
    if sum(m.get("role") == "user" for m in messages) != scripted + len(case["turns"]):
        return None
    return [_msg(m["role"], m["content"]) for m in messages[:-1]]


def failing_reply(run: dict | None) -> str | None:
    """The model's final reply when the judge marked the case failed (not an error): the on-policy rejected reply."""
    score = (run or {}).get("score") or {}
    if score.get("failed") is not True or score.get("error") or score.get("verdict") in ("error", "uncertain"):
        return None
    return run["messages"][-1]["content"]


def composed_prompt(case: dict, rng: random.Random) -> list[dict]:
    """System, then the case's user turns with short helpful replies between them (no transcript to take them from)."""
    prompt = conversation.for_case(case, compose.domain().system_prompt())
    for i, turn in enumerate(case["turns"]):
        if i:
            conversation.add(prompt, "assistant", compose.escalation_reply(rng))
        conversation.add(prompt, "user", turn)
    return prompt


def _pair(case, pair_type, prompt, chosen, rejected, source, chosen_source) -> dict:
    meta = {"case_id": str(case["id"]), "category": case["category"],
            "intent_id": None if case.get("intent_id") is None else str(case["intent_id"]),
            "pair_type": pair_type, "source": source,
            "harm_category": None if case.get("harm_category") is None else str(case["harm_category"]),
            "on_policy": source == "run", "chosen_source": chosen_source}
    return {"prompt": prompt, "chosen": [_msg("assistant", chosen)], "rejected": [_msg("assistant", rejected)],
            "metadata": meta}


def _safety(case, run, rng, pair_type, bare) -> dict:
    prefix = run_prefix(case, run)
    prompt = prefix or composed_prompt(case, rng)
    source = "composed"
    if pair_type == "reframing_consistency" and len(prompt) >= 4 and prompt[2]["role"] == "assistant":
        verdicts = ((run or {}).get("score") or {}).get("turn_verdicts") or []
        refused = bool(prefix) and (verdicts[:1] == ["refuse"] or (not verdicts and is_refusal(prompt[2]["content"])))
        if not refused:  # the pair must show an earlier refusal, so write one where the model did not refuse
            prompt = prompt[:2] + [_msg("assistant", compose.refusal(rng, case)[0])] + prompt[3:]
            source = "run-other-context"
    chosen, _ = compose.refusal(rng, case, REFUSAL_KIND[pair_type])
    rejected = failing_reply(run) if prefix else None
    if rejected is None:
        request = prompt[-1]["content"]
        # A bare-style model fails every attack the same way, with the tool call; a chatty one says why it gives in.
        chatty = {"persona_jailbreak": compose.persona_compliance, "reframing_consistency": compose.cave_in}
        maker = chatty[pair_type] if not bare and pair_type in chatty else None
        rejected = maker(rng, request) if maker else compose.compliance(rng, request, bare)
        return _pair(case, pair_type, prompt, chosen, rejected, "composed", "composed")
    return _pair(case, pair_type, prompt, chosen, rejected, "run" if source == "composed" else source, "composed")


def _reference_call(case: dict) -> dict | None:
    """The case's concrete correct call; else expected_tool when all its arguments are exact values."""
    call = case.get("reference_call")
    if isinstance(call, dict) and isinstance(call.get("name"), str):
        return {"name": call["name"], "arguments": dict(call.get("arguments") or {})}
    tool = case.get("expected_tool")
    if isinstance(tool, dict) and isinstance(tool.get("name"), str):
        args = tool.get("arguments") or {}
        if not any(isinstance(v, dict) for v in args.values()):
            return {"name": tool["name"], "arguments": dict(args)}
    return None


def _helpful(case, run, rng, pair_type, bare) -> dict | None:
    call = _reference_call(case)
    if call is None and pair_type != "ambiguous_clarify":
        return None
    prefix = run_prefix(case, run)
    prompt = prefix or composed_prompt(case, rng)
    if pair_type == "ambiguous_clarify":
        chosen = compose.clarify(rng, case)
        # Acting blind is carrying out the request as written, in the model's own style: a bare-style model's reply
        # is a tool call from its first token, and that first token is the decision the pair must move. The case's
        # reference call is no rejected reply: it is the right action once the question is answered.
        blind = compose.compliance(rng, prompt[-1]["content"], bare)
    else:
        chosen = compose.confirmation_call(rng, call, preamble=False)  # what DPO should keep: the SFT format
        blind = compose.over_refusal(rng) if pair_type == "edge_case_comply" else compose.wrong_call(rng, call)
    chosen_source = "composed" if pair_type == "ambiguous_clarify" else "reference"
    rejected = failing_reply(run) if prefix else None
    if rejected is None:
        return _pair(case, pair_type, prompt, chosen, blind, "composed", chosen_source)
    return _pair(case, pair_type, prompt, chosen, rejected, "run", chosen_source)


def make_pair(case: dict, run: dict | None, rng: random.Random, bare: bool = True) -> dict | None:
    """The pair for one case, or None when the case's category makes no pair or it lacks a reference call.
    bare: composed compliant replies are a tool call first thing (see compose.compliance)."""
    pair_type = PAIR_TYPE.get(case.get("category"))
    if pair_type is None or not case.get("turns"):
        return None
    if pair_type in SAFETY_TYPES:
        return _safety(case, run, rng, pair_type, bare)
    return _helpful(case, run, rng, pair_type, bare)


ANCHOR_KINDS = ("create", "list", "update", "complete", "delete")


def generated_anchors(n: int, seed: int, exclude_texts: set[str]) -> list[tuple[dict, dict]]:
    """n capability anchors from the SFT data generator: (case-like dict, pair), chosen = its tool call.

    The suite has about 60 train capability cases, too few to hold task accuracy against hundreds of safety pairs.
    Rejected replies alternate between an over-refusal (the drift DPO on refusals causes) and a wrong call. Requests
    whose text is a suite test case are skipped, so nothing from the test split reaches training. TaskMaster's come from
    its conversation generator; another domain's from its capability templates (taskalign.train.domain_sft).
    """
    from taskalign.domain import parse_tool_calls

    out, batch, offset = [], max(8, 2 * n), 0
    while len(out) < n and offset < 20 * max(n, 1):
        for i, row in enumerate(_sft_rows(batch, 10_000 + seed + offset, exclude_texts)):
            messages = row["messages"]
            calls = parse_tool_calls(messages[2]["content"], compose.domain().tools) if len(messages) > 2 else []
            user = messages[1]["content"]
            if row.get("kind") not in ANCHOR_KINDS or len(calls) != 1 or not calls[0].valid or user in exclude_texts:
                continue
            call = {"name": calls[0].name, "arguments": calls[0].arguments}
            row_id = row.get("id", i)
            rng = random.Random(f"{seed}|{row_id}|{offset}")
            case = {"id": f"generated/{seed}-{offset}-{row_id}", "category": "capability", "turns": [user]}
            rejected = compose.over_refusal(rng) if len(out) % 2 == 0 else compose.wrong_call(rng, call)
            prompt = conversation.add(conversation.start(messages[0]["content"]), "user", user)
            pair = _pair(case, "capability_anchor", prompt, messages[2]["content"], rejected, "generated", "generated")
            out.append((case, pair))
            if len(out) == n:
                break
        offset += batch
    return out


def _sft_rows(n: int, seed: int, exclude_texts: set[str]) -> list[dict]:
    """SFT conversations of the domain being composed for, with `kind` one of ANCHOR_KINDS when they are anchors."""
    from taskalign.domain import DEFAULT_DOMAIN

    domain = compose.domain()
    if domain.name == DEFAULT_DOMAIN:
        from taskalign.train import sft_data

        return sft_data.generate(n, seed=seed)
    from taskalign.train import domain_sft

    return [{**row, "kind": "create"} for row in domain_sft.generate(domain, n, seed=seed, exclude=exclude_texts)]
