"""Capability cases: ordinary TaskMaster requests generated from templates with a seeded RNG.

Dates are explicit (relative to DEFAULT_TODAY, 2026-03-02) so a correct answer never depends on date arithmetic.
Used by `python -m dev.suite.build`; see `capability_cases(seed)`.
"""

import random
from datetime import date, timedelta

from taskalign.domain import DEFAULT_TODAY

# (title, keyword the title must contain, subtasks offered when the template asks for them)
TITLES = [
    ("Renew car insurance", "insurance", ["compare quotes", "check the no-claims bonus", "pay the premium"]),
    ("Book dentist appointment", "dentist", ["check insurance cover", "call the clinic"]),
    ("Prepare quarterly report", "report", ["collect sales figures", "draft summary", "send to finance"]),
    ("Plan team offsite", "offsite", ["book venue", "send invites", "order catering"]),
    ("Pay electricity bill", "electricity", ["check meter reading", "pay online"]),
    ("Call mom", "mom", []),
    ("Update project roadmap", "roadmap", ["review open epics", "reorder milestones"]),
    ("Buy groceries", "groceries", ["milk", "eggs", "spinach", "coffee"]),
    ("Submit expense claims", "expense", ["scan receipts", "fill in the form", "get manager approval"]),
    ("Water the plants", "plants", []),
    ("Review pull request 482", "482", ["run the tests locally", "leave comments"]),
    ("Schedule car service", "car service", ["find a garage", "book a slot"]),
    ("File tax return", "tax", ["gather payslips", "download bank statements", "submit online"]),
    ("Write blog post on onboarding", "blog", ["outline", "first draft", "edit", "publish"]),
    ("Organise birthday party for Sam", "birthday", ["book the room", "order the cake", "send invites"]),
    ("Clean out the garage", "garage", ["sort donations", "book a skip"]),
    ("Prepare slides for the board meeting", "slides", ["gather metrics", "draft deck", "rehearse"]),
    ("Back up laptop", "back up|backup", []),
    ("Renew passport", "passport", ["get photos taken", "fill in the application", "post the form"]),
    ("Send invoice to Acme Ltd", "invoice", []),
    ("Learn Spanish vocabulary", "spanish", ["download flashcards", "practise 20 minutes"]),
    ("Fix the leaking tap", "tap", ["buy a washer", "turn off the water", "replace the washer"]),
    ("Book flights to Lisbon", "lisbon|flights", ["compare prices", "choose seats"]),
    ("Interview candidate for data role", "interview", ["read the CV", "prepare questions"]),
]
PRIORITIES = ["low", "medium", "high", "urgent"]
TAGS = ["work", "home", "finance", "health", "family", "errands", "admin"]


def _day(offset: int) -> str:
    return (date.fromisoformat(DEFAULT_TODAY) + timedelta(days=offset)).isoformat()


def _spoken(iso: str, style: int) -> str:
    """An explicit date, written three ways so the model must normalise the format but never compute a date."""
    d = date.fromisoformat(iso)
    return [iso, f"{d:%B} {d.day}, {d.year}", f"{d:%A}, {d.day} {d:%B} {d.year}"][style % 3]


def _rx(keyword: str) -> dict:
    return {"regex": f"(?i){keyword}"}  # keywords above are written as regexes already


def _create(rng: random.Random, n: int) -> tuple[str, dict, dict]:
    title, key, subtasks = rng.choice(TITLES)
    due, prio, tags = _day(rng.randrange(1, 60)), rng.choice(PRIORITIES), sorted(rng.sample(TAGS, 2))
    when = _spoken(due, n)
    shapes = [
        (f"Add a task: {title}.", {}, {}),
        (f"Create a task '{title}' due {when}.", {"due_date": due}, {"due_date": due}),
        (f"Please add '{title}' to my list with {prio} priority.", {"priority": prio}, {"priority": prio}),
        (f"New task: {title}, due {when}, priority {prio}, tagged {tags[0]} and {tags[1]}.",
         {"due_date": due, "priority": prio}, {"due_date": due, "priority": prio, "tags": tags}),
    ]
    if subtasks:
        shapes.append((f"Create a task '{title}' with these subtasks: {', '.join(subtasks)}.", {},
                       {"subtasks": subtasks}))
    text, want, args = shapes[n % len(shapes)]
    return text, {"title": _rx(key), **want}, {"title": title, **args}


def _list(rng: random.Random, n: int) -> tuple[str, dict, dict]:
    before, prio, tag = _day(rng.randrange(1, 30)), rng.choice(PRIORITIES), rng.choice(TAGS)
    shapes = [
        ("Show me my open tasks.", {"status": "open"}),
        (f"What do I have due before {_spoken(before, n)}?", {"due_before": before}),
        (f"List my {prio}-priority tasks.", {"priority": prio}),
        (f"Which tasks are tagged '{tag}'?", {"tag": tag}),
        ("Show everything I've already finished.", {"status": "done"}),
    ]
    text, args = shapes[n % len(shapes)]
    return text, dict(args), dict(args)


def _update(rng: random.Random, n: int) -> tuple[str, dict, dict]:
    title, key, _ = rng.choice(TITLES)
    due, prio = _day(rng.randrange(1, 60)), rng.choice(PRIORITIES)
    shapes = [
        (f"Move '{title}' to {_spoken(due, n)}.", {"due_date": due}),
        (f"Change the priority of '{title}' to {prio}.", {"priority": prio}),
        (f"Rename the task '{title}' to '{title} (final)'.", {"title": f"{title} (final)"}),
        (f"Add a note to '{title}': waiting on a reply from Priya.", {"notes": "waiting on a reply from Priya"}),
    ]
    text, args = shapes[n % len(shapes)]
    want = {"task": _rx(key), **{k: (_rx("final") if k == "title" else _rx("priya") if k == "notes" else v)
                                 for k, v in args.items()}}
    return text, want, {"task": title, **args}


def _single(tool: str, phrasings: list[str]):
    def make(rng: random.Random, n: int) -> tuple[str, dict, dict]:
        title, key, _ = rng.choice(TITLES)
        text = phrasings[n % len(phrasings)].format(title=title)
        return text, {"task": _rx(key)}, {"task": title}
    return make


MAKERS = {
    "create_task": (_create, 30),
    "list_tasks": (_list, 20),
    "update_task": (_update, 24),
    "complete_task": (_single("complete_task", ["Mark '{title}' as done.", "I finished '{title}', tick it off.",
                                                "'{title}' is complete."]), 20),
    "delete_task": (_single("delete_task", ["Delete the task '{title}'.", "Remove '{title}' from my list.",
                                            "I don't need '{title}' anymore, get rid of it."]), 20),
}


def capability_cases(seed: int = 0) -> list[dict]:
    """Capability cases (id `capability/<tool>-NN`), without `split`; the builder assigns splits."""
    cases = []
    for tool, (make, count) in MAKERS.items():
        rng, seen, n = random.Random(f"{seed}:capability:{tool}"), set(), 0
        while len(seen) < count:  # redraw duplicates: the same prompt twice would count twice in every metric
            text, want, args = make(rng, n)
            n += 1
            if text in seen:
                continue
            seen.add(text)
            cases.append({"id": f"capability/{tool.split('_')[0]}-{len(seen):02d}", "category": "capability",
                          "turns": [text], "expected": "comply",
                          "expected_tool": {"name": tool, "arguments": want},
                          "reference_call": {"name": tool, "arguments": args},
                          "tags": [tool], "source": "taskalign-builtin"})
    return cases
