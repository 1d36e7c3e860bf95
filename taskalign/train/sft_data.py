"""Deterministic generator of TaskMaster capability conversations (TRL conversational format) for `train sft`.

    python -m taskalign.train.sft_data --n 600 --out taskmaster_sft.jsonl

Each row is {"messages": [system, user, assistant(<tool_call>), tool(JSON result), assistant(confirmation)], "kind"}.
Vocabulary and phrasings live in sft_vocab.yaml. Capability only: no refusals, nothing harmful ("capable but unaligned").
"""

import argparse
import json
import random
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

from taskalign.domain import DEFAULT_TODAY, conversation
from taskalign.domain.toolcalls import render_tool_call
from taskalign.files import write_jsonl_atomic

VOCAB = Path(__file__).with_name("sft_vocab.yaml")
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Share of each conversation kind; task creation dominates because it carries most of the argument variety.
MIX = [("create", 0.42), ("list", 0.15), ("update", 0.15), ("complete", 0.10), ("delete", 0.08), ("multi", 0.06),
       ("chat", 0.04)]


@lru_cache(maxsize=1)
def vocab() -> dict:
    return yaml.safe_load(VOCAB.read_text())


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def date_phrase(rng: random.Random, today: date) -> tuple[str, str]:
    """(how a user says a day, its ISO date), always in the future relative to `today`."""
    kind = rng.randrange(7)
    if kind == 0:
        days = rng.choice([0, 1, 2])
        return ["today", "tomorrow", "the day after tomorrow"][days], (today + timedelta(days)).isoformat()
    if kind == 1:
        days = rng.randint(3, 12)
        return f"in {days} days", (today + timedelta(days)).isoformat()
    if kind == 2:
        weekday = rng.randrange(7)
        days = (weekday - today.weekday()) % 7 or 7
        return rng.choice(["", "next "]) + WEEKDAYS[weekday] if days > 1 else "tomorrow", (today + timedelta(days)).isoformat()
    if kind == 3:
        return "next week", (today + timedelta(7)).isoformat()
    if kind == 4:
        day = today + timedelta(rng.randint(5, 60))
        return f"{day:%B} {day.day}", day.isoformat()
    if kind == 5:
        day = today + timedelta(rng.randint(1, 90))
        return day.isoformat(), day.isoformat()
    end = (today.replace(day=28) + timedelta(4)).replace(day=1) - timedelta(1)
    return "the end of the month", end.isoformat()


def task_ref(rng: random.Random) -> tuple[str, str]:
    """(how the user names an existing task, the `task` argument): an id or a title."""
    v = vocab()
    if rng.random() < 0.3:
        tid = rng.choice(v["ids"])
        return f"task {tid}", tid
    title = rng.choice(v["titles"])
    return rng.choice([f'"{cap(title)}"', f"the task to {title}", f"'{title}'"]), cap(title)


def tool_id(rng: random.Random) -> str:
    return f"T-{rng.randint(100, 999)}"


def turn(user: str, name: str, args: dict, result: dict, done: str, rng: random.Random) -> list[dict]:
    """One request round: the first assistant reply is the tool call (sometimes after one short sentence)."""
    call = render_tool_call(name, args)
    if rng.random() < 0.3:
        call = rng.choice(vocab()["preface"]) + " " + call
    return [{"role": "user", "content": user}, {"role": "assistant", "content": call},
            {"role": "tool", "content": json.dumps(result, ensure_ascii=False)}, {"role": "assistant", "content": done}]


def create(rng: random.Random, today: date) -> list[dict]:
    v = vocab()
    title = rng.choice(v["titles"])
    args, extras, when = {"title": cap(title)}, [], ""
    if rng.random() < 0.7:
        phrase, iso = date_phrase(rng, today)
        args["due_date"], when = iso, f", due {iso}"
        prep = "" if phrase in ("today", "tomorrow", "the day after tomorrow", "next week") or phrase.startswith("in ") \
            else rng.choice(["by ", "on ", "for "]) if not phrase.startswith("the end") else "by "
        date_text = f" {prep}{phrase}"
    else:
        date_text = ""
    if rng.random() < 0.5:
        level = rng.choice(list(v["priority_words"]))
        args["priority"] = level
        extras.append(rng.choice([f"make it {rng.choice(v['priority_words'][level])}",
                                  f"priority {level}", f"it's {rng.choice(v['priority_words'][level])}"]))
    if rng.random() < 0.35:
        tags = rng.sample(v["tags"], rng.choice([1, 1, 2]))
        args["tags"] = tags
        extras.append(rng.choice(["tag it ", "tags: ", "label it "]) + " and ".join(tags))
    if rng.random() < 0.2:
        args["subtasks"] = list(rng.choice(v["subtasks"]))
        extras.append("subtasks: " + ", ".join(args["subtasks"]))
    if rng.random() < 0.15:
        args["notes"] = rng.choice(v["notes"])
        extras.append(f"note: {args['notes']}")
    user = rng.choice(v["create"]).format(title=title, Title=cap(title), date=date_text)
    if extras:
        user = user.rstrip(".") + ("; " if rng.random() < 0.5 else ", ") + ", ".join(extras) + "."
    result = {"id": tool_id(rng), "status": "open", **args}
    done = rng.choice(v["create_done"]).format(Title=cap(title), when=when)
    if "priority" in args:
        done += f" Priority: {args['priority']}."
    return turn(user, "create_task", args, result, done, rng)


def _fill(value, slots: dict):
    if isinstance(value, str):
        return value.format(**slots)
    if isinstance(value, list):
        return [_fill(x, slots) for x in value]
    return {k: _fill(x, slots) for k, x in value.items()}


def _slots(rng: random.Random, today: date) -> dict:
    v = vocab()
    phrase, iso = date_phrase(rng, today)
    phrase = f"{phrase[3:]} from now" if phrase.startswith("in ") else phrase  # "move X to in 3 days" reads badly
    return {"priority": rng.choice(list(v["priority_words"])), "tag": rng.choice(v["tags"]), "date_phrase": phrase,
            "date": iso, "note": rng.choice(v["notes"]), "Title2": cap(rng.choice(v["titles"]))}


def list_tasks(rng: random.Random, today: date) -> list[dict]:
    text, args = rng.choice(vocab()["list_requests"])
    slots = _slots(rng, today)
    titles = rng.sample(vocab()["titles"], rng.choice([0, 1, 2, 3, 3, 4]))
    tasks = [{"id": tool_id(rng), "title": cap(t), "status": "done" if args.get("status") == "done" else "open",
              "due_date": (today + timedelta(rng.randint(0, 20))).isoformat()} for t in titles]
    if not tasks:
        done = "Nothing matches - your list is clear there."
    else:
        items = "; ".join(f"{t['title']} (due {t['due_date']})" for t in tasks)
        done = f"You have {len(tasks)} task{'s' if len(tasks) > 1 else ''}: {items}."
    return turn(text.format(**slots), "list_tasks", _fill(args, slots), {"tasks": tasks}, done, rng)


def update(rng: random.Random, today: date) -> list[dict]:
    text, fields = rng.choice(vocab()["update_requests"])
    said, task = task_ref(rng)
    slots = {**_slots(rng, today), "task": said}
    args = {"task": task, **_fill(fields, slots)}
    changed = ", ".join(f"{k.replace('_', ' ')} {v if isinstance(v, str) else ', '.join(v)}" for k, v in args.items()
                        if k != "task")
    return turn(text.format(**slots), "update_task", args, {"id": task if task.startswith("T-") else tool_id(rng),
                                                               "updated": sorted(args)[:-1] or ["task"]},
                f"Updated {task}: {changed}.", rng)


def complete(rng: random.Random, today: date) -> list[dict]:
    said, task = task_ref(rng)
    user = cap(rng.choice(vocab()["complete_requests"]).format(task=said))
    done = rng.choice([f"Nice work! {task} is marked as done.", f"Checked off {task}.", f"{task} is complete."])
    return turn(user, "complete_task", {"task": task}, {"task": task, "status": "done"}, done, rng)


def delete(rng: random.Random, today: date) -> list[dict]:
    said, task = task_ref(rng)
    user = cap(rng.choice(vocab()["delete_requests"]).format(task=said))
    done = rng.choice([f"Deleted {task}.", f"{task} is gone from your list.", f"Removed {task}."])
    return turn(user, "delete_task", {"task": task}, {"task": task, "deleted": True}, done, rng)


def chat(rng: random.Random, today: date) -> list[dict]:
    user, reply = rng.choice(vocab()["chat"])
    return [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]


def multi(rng: random.Random, today: date) -> list[dict]:
    """Two request rounds in one conversation, so the model keeps calling tools after a tool result."""
    first = rng.choice([create, list_tasks])(rng, today)
    return first + rng.choice([create, complete, update, delete])(rng, today)


KINDS = {"create": create, "list": list_tasks, "update": update, "complete": complete, "delete": delete,
         "multi": multi, "chat": chat}


def generate(n: int = 600, seed: int = 0, today: str = DEFAULT_TODAY, per_conversation: int = 1) -> list[dict]:
    """`n` conversations of `per_conversation` independent requests each; the same arguments give the same rows.

    Several requests after one system prompt amortise it: on a CPU the prompt is most of the training compute.
    """
    rng = random.Random(seed)
    day = date.fromisoformat(today)
    system = conversation.start(today=today)
    names, weights = zip(*MIX)
    rows = []
    for i in range(n):
        kinds = [rng.choices(names, weights)[0] for _ in range(max(1, per_conversation))]
        turns = [m for kind in kinds for m in KINDS[kind](rng, day)]
        rows.append({"id": f"sft-{i:05d}", "kind": "+".join(kinds), "messages": system + turns})
    return rows


def write(rows: list[dict], out: Path) -> Path:
    """Atomic write: a temp file renamed into place."""
    return write_jsonl_atomic(Path(out), rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600, help="number of conversations")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    parser.add_argument("--per-conversation", type=int, default=1, help="independent requests per conversation")
    parser.add_argument("--today", default=DEFAULT_TODAY, help="the date relative dates are resolved against")
    parser.add_argument("--out", default="taskmaster_sft.jsonl", help="output JSONL file")
    args = parser.parse_args(argv)
    path = write(generate(args.n, args.seed, args.today, args.per_conversation), Path(args.out))
    print(f"wrote {args.n} conversations to {path}")


if __name__ == "__main__":
    main()
