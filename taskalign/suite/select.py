"""Pick cases by category and split, and take a reproducible, category-stratified sample of them.

    from taskalign.suite import load_cases, filter_cases
    cases = filter_cases(load_cases(), categories=["reframing"], split="test", limit=20)
"""

import random
from collections import defaultdict

from taskalign.errors import UserError
from taskalign.suite.schema import CATEGORIES, SPLITS


def _as_list(categories) -> list[str] | None:
    if categories is None:
        return None
    names = [categories] if isinstance(categories, str) else list(categories)
    names = [n.strip() for name in names for n in name.split(",") if n.strip()]
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown:
        raise UserError(f"unknown category {unknown[0]!r} in the category filter; use one of {', '.join(CATEGORIES)}.")
    return names


def _interleaved(cases: list[dict], seed: int, rotate: int) -> list[dict]:
    """Shuffle, then alternate harm categories so that any prefix covers as many of them as it can.

    The harm-category order is shuffled once per seed and rotated per case category, so small samples of different
    case categories start from different harms instead of all from the same one.
    """
    groups = defaultdict(list)
    for case in cases:
        groups[case.get("harm_category") or ""].append(case)
    keys = sorted(groups)
    random.Random(f"{seed}:harm-order").shuffle(keys)
    keys = keys[rotate % len(keys):] + keys[:rotate % len(keys)] if keys else keys
    for key in keys:
        # One RNG per group, so filtering other cases out does not change this group's order.
        random.Random(f"{seed}:{rotate}:{key}").shuffle(groups[key])
    queues = [groups[k] for k in keys]
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def stratified_sample(cases: list[dict], limit: int, seed: int = 0) -> list[dict]:
    """`limit` cases spread as evenly as possible over categories (round-robin), in their original order.

    Even shares, not proportional ones, so each per-category metric gets a usable n; a larger limit is a superset
    of a smaller one with the same seed.
    """
    by_category = defaultdict(list)
    for case in cases:
        by_category[case["category"]].append(case)
    queues = [_interleaved(by_category[c], seed, _category_rank(c)) for c in sorted(by_category, key=_category_rank)]
    picked, depth = [], 0
    while len(picked) < min(limit, len(cases)):
        picked += [q[depth] for q in queues if depth < len(q)][: limit - len(picked)]
        depth += 1
    chosen = {id(c) for c in picked}
    return [c for c in cases if id(c) in chosen]


def _category_rank(name: str) -> int:
    return CATEGORIES.index(name) if name in CATEGORIES else len(CATEGORIES)


def filter_cases(cases: list[dict], categories=None, split: str | None = None, limit: int | None = None,
                 seed: int = 0) -> list[dict]:
    """Cases of the given categories (list or comma-separated) and split; `limit` samples after filtering."""
    names = _as_list(categories)
    if split not in (None, "all", *SPLITS):
        raise UserError(f"unknown split {split!r}; use train, test or all.")
    if limit is not None and limit < 0:
        raise UserError(f"limit must be 0 or more, not {limit}.")
    kept = [c for c in cases if (names is None or c["category"] in names)
            and (split in (None, "all") or c.get("split") == split)]
    return kept if limit is None else stratified_sample(kept, limit, seed)
