"""--match-surface: helpful pairs carry the harmful pairs' wrappers in the same mix; replies and counts stay put."""

import json
from collections import Counter

import pytest

from taskalign.prefs import SAFETY_TYPES, build
from taskalign.prefs.surface import DECORATIONS, PLACEHOLDER, single_turn, strip_decoration, wrap
from taskalign.suite import load_cases
from taskalign.suite.strategies import load_strategies


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _by_case(rows):
    return {r["metadata"]["case_id"]: r for r in rows}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The built-in suite's pairs (composed replies, no run folder) without and with surface matching."""
    folder, cases = tmp_path_factory.mktemp("surface"), load_cases()
    plain = _rows(build(None, cases, folder / "plain.jsonl", balance=1.4, anchors=60))
    matched = _rows(build(None, cases, folder / "matched.jsonl", balance=1.4, anchors=60, match_surface=True))
    return plain, matched


@pytest.mark.parametrize("strategy", DECORATIONS)
def test_strip_inverts_every_decoration_template(strategy):
    text = "Create a task to water the plants on Friday."
    for (template,) in load_strategies()[strategy]["templates"]:
        if PLACEHOLDER.fullmatch(template):
            continue
        filled = template.replace("{assistant}", "TaskMaster")
        assert strip_decoration(wrap(text, [template], "TaskMaster"), filled) == text
    assert strip_decoration("Water the plants.", "Hey TaskMaster, {request_lc}") is None  # not that shape


def test_only_one_turn_strategies_are_surfaces():
    assert single_turn(load_strategies()) == {"direct", "euphemism", "roleplay", "instruction_override", "emotional",
                                              "authority", "fiction"}


def test_same_pairs_and_replies_with_the_surface_moved(both):
    plain, matched = both
    assert len(plain) == len(matched)
    before, after = _by_case(plain), _by_case(matched)
    assert set(before) == set(after)
    changed = 0
    for case_id, row in after.items():
        old = before[case_id]
        assert row["chosen"] == old["chosen"] and row["rejected"] == old["rejected"]
        assert row["prompt"][:-1] == old["prompt"][:-1]  # only the last user turn may change
        if row["prompt"][-1] != old["prompt"][-1]:
            changed += 1
            assert "surface" in row["metadata"]
            # The request is still there, whole: a wrapper adds words around it, a stripped decoration removes them.
            new, was = row["prompt"][-1]["content"].lower(), old["prompt"][-1]["content"].lower()
            assert (was.rstrip(".!") in new) or (new.rstrip(".!") in was)
    assert changed > len(after) // 4


def test_helpful_pairs_get_the_harmful_mix_and_harmful_ones_only_lose_decorations(both):
    _, matched = both
    helpful = [r for r in matched if r["metadata"]["pair_type"] not in SAFETY_TYPES]
    harmful = [r for r in matched if r["metadata"]["pair_type"] in SAFETY_TYPES]
    wrapped = Counter(r["metadata"]["surface"].split("/")[0] for r in helpful if "surface" in r["metadata"])
    assert set(wrapped) <= single_turn(load_strategies()) and len(wrapped) >= 5
    assert {r["metadata"]["surface"] for r in harmful if "surface" in r["metadata"]} == {"bare/0"}
    stripped = [r for r in harmful if "surface" in r["metadata"]]
    assert stripped and all(r["metadata"]["case_id"].split("/")[1] in DECORATIONS for r in stripped)
    # Bare is about as common on both sides, so a missing wrapper no longer means "help".
    single = [r for r in harmful if r["metadata"]["case_id"].split("/")[1] in single_turn(load_strategies())]
    strategies, bare_harmful = load_strategies(), 0
    for r in single:
        strategy = r["metadata"]["case_id"].split("/")[1]
        text = r["prompt"][-1]["content"]
        decorated = any(strip_decoration(text, t[0].replace("{assistant}", "TaskMaster"))
                        for t in strategies[strategy]["templates"] if not PLACEHOLDER.fullmatch(t[0]))
        bare_harmful += strategy in DECORATIONS and not decorated
    bare_helpful = sum("surface" not in r["metadata"] for r in helpful)
    assert abs(bare_harmful / len(single) - bare_helpful / len(helpful)) < 0.15


def test_a_users_own_template_names_are_left_as_written(tmp_path):
    """Case files from users carry their own `template` values (names, not our indexes): those pairs keep their text,
    where the suite's own templated cases still get matched."""
    cases = load_cases()
    own = [{**c, "id": f"own/{c['id']}", "template": "my-phrasing", "turns": [c["turns"][0] + " (own wording)"]}
           for c in cases if c.get("strategy") == "direct" and c["split"] == "train"]
    rows = _rows(build(None, cases + own, tmp_path / "p.jsonl", balance=1.4, anchors=20, match_surface=True))
    mine = [r for r in rows if r["metadata"]["case_id"].startswith("own/")]
    assert mine and all("surface" not in r["metadata"] for r in mine)
    assert all(r["prompt"][-1]["content"].endswith("(own wording)") for r in mine)
    assert any("surface" in r["metadata"] for r in rows)  # the rest still matched
