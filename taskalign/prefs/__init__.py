"""Preference pairs from red-team failures, in TRL's conversational DPO format (see docs/design.md and docs/run-folder.md).

    from taskalign.prefs import build, validate, stats
    path = build(Path("runs/sft"), load_cases(), Path("prefs.jsonl"), seed=0, balance=1.0)
    assert not validate(path, cases)
"""

from taskalign.prefs.build import build, read_run, train_cases
from taskalign.prefs.check import stats, validate
from taskalign.prefs.pairs import HELPFUL_TYPES, PAIR_TYPE, SAFETY_TYPES

__all__ = ["build", "validate", "stats", "read_run", "train_cases", "PAIR_TYPE", "SAFETY_TYPES", "HELPFUL_TYPES"]
