"""Build a domain's suite: its harmful intents under every attack strategy, its benign look-alikes, its ambiguous
requests and the capability cases of its templates, in that order.

    from taskalign.suite.build import build_cases
    cases = build_cases("taskmaster", seed=0)       # a domain name, folder or Domain
The built-in suite file is rebuilt with `python -m dev.suite.build`; the same domain files and seed give the same
cases, byte for byte.
"""

import math
import random
from collections import defaultdict

from taskalign.domain.load import Domain, load_domain
from taskalign.suite.capability import capability_cases
from taskalign.suite.strategies import harmful_cases, load_strategies, row_cases

TEST_FRACTION = 0.4  # >= 35 % test after rounding up per stratum


def stratified_split(rows: list[dict], key: str, seed: int = 0, test_fraction: float = TEST_FRACTION) -> dict:
    """id -> "train"|"test"; within each value of `key`, a seeded ceil(test_fraction * n) rows go to test."""
    groups = defaultdict(list)
    for row in rows:
        groups[row.get(key) or ""].append(row["id"])
    split = {}
    for name in sorted(groups):
        ids = sorted(groups[name])
        random.Random(f"{seed}:split:{name}").shuffle(ids)
        n_test = math.ceil(test_fraction * len(ids))
        split.update({i: ("test" if k < n_test else "train") for k, i in enumerate(ids)})
    return split


def build_cases(domain: "str | Domain | None" = None, seed: int = 0) -> list[dict]:
    """Every case of the domain, in a fixed order (harmful by intent, then look-alikes, ambiguous, capability)."""
    domain = load_domain(domain)
    cases = harmful_cases(domain.intents, load_strategies(), seed, domain.assistant)
    cases += row_cases(domain.lookalikes, "benign_edge", "comply")
    cases += row_cases(domain.ambiguous, "ambiguous", "clarify")
    capability = capability_cases(domain.capability, seed)
    split = stratified_split([{"id": c["id"], "tool": c["expected_tool"]["name"]} for c in capability], "tool", seed)
    return cases + [{**c, "split": split[c["id"]]} for c in capability]
