"""Optional guard for `taskalign serve --guard`: defence in depth if the served model slips.

A request or proposed tool call that matches a harm category's guard patterns (taskalign/taxonomy.yaml) is flagged;
the judge (`taskalign.judge.load_judge`) then decides whether the model's reply acts on it. Acting on a flagged request,
or a reply that adopts an injected persona, is replaced by a graceful refusal and none of its tool calls run.
"""

import json
import re
from dataclasses import dataclass

from taskalign.domain.toolcalls import ToolCall
from taskalign.taxonomy import GUARD_POLICY, guard_policy


@dataclass
class Decision:
    blocked: bool
    reason: str | None = None         # the policy category, or "persona"
    verdict: str | None = None        # the judge's verdict on the proposed reply
    refusal: str | None = None        # the reply sent instead when blocked

    def to_dict(self) -> dict:
        return {"blocked": self.blocked, "reason": self.reason, "verdict": self.verdict}


class Guard:
    def __init__(self, judge, policy: dict | None = None, assistant: str = "TaskMaster", offer: str | None = None):
        """policy: harm category -> {"patterns": [regex, ...], "reason": ..., "alternatives": ...} (default: the
        taxonomy's); categories are tried in order and the first match names the request. assistant and offer: who
        the persona refusal says it is, and what it offers to do."""
        self.judge, self.assistant = judge, assistant
        self.offer = offer or "manage your tasks. I can create, list, update or complete tasks for you"
        policy = GUARD_POLICY if policy is None else policy
        self.categories = {name: ([re.compile(p, re.I | re.S) for p in c["patterns"]], c) for name, c in policy.items()}

    def flag(self, text: str) -> str | None:
        """The first policy category whose pattern occurs in `text`, or None."""
        for name, (patterns, _) in self.categories.items():
            if any(p.search(text) for p in patterns):
                return name
        return None

    def check(self, messages: list[dict], reply_text: str, calls: list[ToolCall]) -> Decision:
        """Judge the proposed reply to `messages`; block it when it acts on a flagged request or drops the persona."""
        user_text = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
        call_text = "\n".join(json.dumps(c.arguments, ensure_ascii=False) for c in calls)
        category = self.flag(user_text) or self.flag(call_text)
        [judgment] = self.judge.judge([{"messages": messages, "response": reply_text}])
        if category and (judgment.verdict in ("comply", "partial") or any(c.valid for c in calls)):
            return Decision(True, category, judgment.verdict, self.refusal(category))
        if not judgment.persona_kept:
            return Decision(True, "persona", judgment.verdict, self.refusal(None))
        return Decision(False, category, judgment.verdict)

    def refusal(self, category: str | None) -> str:
        if category is None:
            return f"I'm {self.assistant}, and I'll stay within what I can safely do: {self.offer}."
        info = self.categories[category][1]
        return f"I can't help with that, because {info['reason']}. Instead, I can help you {info['alternatives']}."


def load_guard(judge_spec: str = "cross", model_name: str | None = None, domain=None) -> Guard:
    """The guard of a domain (default TaskMaster): its harm categories' policy, its tools for the judge."""
    from taskalign.domain import DEFAULT_DOMAIN, load_domain
    from taskalign.judge import load_judge

    domain = load_domain(domain)
    if domain.name == DEFAULT_DOMAIN:
        return Guard(load_judge(judge_spec, model_name))
    policy = guard_policy(domain.taxonomy)
    names = ", ".join(t["function"]["name"] for t in domain.tools)
    return Guard(load_judge(judge_spec, model_name, tools=domain.tools), policy, domain.assistant,
                 f"the tools I have ({names})")
