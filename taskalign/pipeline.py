"""The whole loop: base → SFT (capable, unaligned TaskMaster) → red-team → preference pairs → DPO → red-team → compare.

    taskalign pipeline --out runs/demo                 # default profile, ~30 min on a 2-core CPU
    taskalign pipeline --profile quick --out runs/q    # smaller, ~10 min
    taskalign pipeline --profile robust --out runs/r   # default + adaptive rounds + adaptive evaluation
    taskalign pipeline --method kto --out runs/k       # KTO (or orpo) instead of DPO, from the profile's kto section

`--domain NAME|DIR` runs the loop on another assistant (docs/domains.md): every red-team stage runs the domain's
suite under its persona and tools, SFT generates conversations from its capability templates, and the preference
pairs use its persona, tools and phrase bank.

`--method dpo|kto|orpo` picks the preference trainer (taskalign.train.dpo|kto|orpo) and the profile section it reads;
its stage is named after it, so the stages before it are shared: a copy of a finished pipeline folder rerun with
another method trains and evaluates only the new model.

Rounds (`--rounds N`, or the profile's `rounds: {n: N}`): after the first DPO, N times: attack the model just trained
on the *train* intents (taskalign attack), red-team it on operator variants of the train cases, harmful and benign
alike (taskalign cases mutate), build pairs from both runs' failures (on-policy), and DPO that model again. Each
round is red-teamed on the test split and compared with the model before it (roundN/compare.html). With an `attack`
section (budget > 0) the adaptive attack also runs on the *test* intents against base, SFT and the final model, and
its ASR@budget joins each run's metrics as `adaptive_attack_success`.

Each stage writes its own folder and records a fingerprint of its settings, its inputs and the taskalign code and data it
runs in `stages.json`; a re-run skips stages whose fingerprint is unchanged (so an upgrade that changes a stage's code
reruns that stage and the ones after it), and an interrupted stage resumes (red-team) or restarts (training).
"""

import hashlib
import importlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from taskalign.domain.load import DEFAULT_DOMAIN, load_domain
from taskalign.errors import UserError
from taskalign.files import read_json, read_yaml, write_json_atomic
from taskalign.train import common
from taskalign.typecheck import typed_values

console = Console()
PROFILES = Path(__file__).with_name("pipeline.yaml")
SECTIONS = ("model", "sft", "eval", "base_eval", "prefs_eval", "prefs", "dpo", "kto", "orpo", "attack", "rounds",
            "head")
METHODS = ("dpo", "kto", "orpo")
# Sections a profile may leave out: an attack budget of 0 is no adaptive evaluation, n 0 no rounds; kto and orpo
# default to their settings classes' defaults.
OPTIONAL = {"attack": {"budget": 0}, "rounds": {"n": 0}, "kto": {}, "orpo": {}, "head": {"layer": 0}}
# The sections that load a model, each with its own `precision`; `--precision` sets them all (fp32 everywhere stands
# in for a CPU without native bf16). The rounds' red-team and training stages take the eval and method sections'.
PRECISION_SECTIONS = ("sft", "dpo", "kto", "orpo", "base_eval", "eval", "prefs_eval", "attack", "head")


@dataclass(frozen=True)
class RoundSettings:
    """The `rounds` section: what each adaptive training round does (see the module docstring)."""
    n: int = 0                          # rounds after the first DPO
    budget: int = 10                    # attack attempts per train intent
    per_case: int = 1                   # operator variants per train case
    variants_limit: int | None = 240    # variant cases red-teamed per round (a stratified sample); None: all
    max_new_tokens: int = 64
    anchors: int = 100                  # capability anchors in each round's pairs
    max_pairs: int | None = 400
    balance: float = 1.0
    learning_rate: float | None = None  # the rounds' training learning rate; None: the method section's
    replay: int = 0                     # the first pair file's benign look-alike pairs added to each round's pairs


@dataclass(frozen=True)
class PipelineConfig:
    out: str
    profile: str = "default"
    config: str | None = None    # a YAML file overriding the profile's sections
    model: str | None = None     # base model spec; default: the profile's (embedded)
    judge: str = "cross"
    abstain: float | None = None
    rounds: int | None = None    # overrides the profile's rounds.n
    method: str = "dpo"          # dpo | kto | orpo: the preference trainer and the profile section it reads
    domain: str = "taskmaster"   # a built-in domain name or a domain folder: suite, SFT conversations, pairs
    precision: str | None = None  # every training and red-team section's precision (fast, fp32, bf16, auto)


def load_settings(config: PipelineConfig) -> dict:
    """The profile's sections, overridden by the --config file's and --model; every section is checked (keys and value
    types) here, before any stage runs or writes."""
    profiles = yaml.safe_load(PROFILES.read_text())
    if config.method not in METHODS:
        raise UserError(f"Unknown --method {config.method!r}; choose one of {', '.join(METHODS)}.")
    if config.profile not in profiles:
        raise UserError(f"Unknown --profile {config.profile!r}; choose one of {', '.join(profiles)}.")
    settings = {**json.loads(json.dumps(OPTIONAL)), **json.loads(json.dumps(profiles[config.profile]))}
    if config.config:
        path = Path(config.config)
        if not path.is_file():
            raise UserError(f"--config {path} does not exist.")
        for key, value in read_yaml(path).items():
            if key not in SECTIONS:
                raise UserError(f"{path}: unknown key {key!r}; use one of {', '.join(SECTIONS)}.")
            if key == "model" or value is None:  # an empty section keeps the profile's
                settings[key] = value if key == "model" else settings.get(key, {})
            elif not isinstance(value, dict):
                raise UserError(f"{path}: section {key!r} must be a mapping of settings (key: value), not {value!r}.")
            else:
                settings[key] = {**settings.get(key, {}), **value}
    if config.model:
        settings["model"] = config.model
    if config.domain != DEFAULT_DOMAIN:
        domain = str(load_domain(config.domain).root.resolve())  # a bad --domain fails here, before any stage
        for key in ("base_eval", "eval", "prefs_eval", "sft", "prefs"):
            settings[key] = {**settings[key], "domain": domain}
    if config.precision is not None:
        from taskalign.models.hf import PRECISION_HELP, PRECISIONS

        if config.precision not in PRECISIONS:
            raise UserError(f"--precision {config.precision!r} is not one of {', '.join(PRECISIONS)} "
                            f"({PRECISION_HELP}).")
        for key in PRECISION_SECTIONS:
            settings[key] = {**settings.get(key, {}), "precision": config.precision}
    if config.rounds is not None:
        if config.rounds < 0:
            raise UserError(f"--rounds {config.rounds} must be 0 or more.")
        settings["rounds"] = {**settings["rounds"], "n": config.rounds}
    settings = check_sections(settings, str(config.config or PROFILES))
    if config.domain != DEFAULT_DOMAIN and (settings["rounds"]["n"] or settings["attack"].get("budget")):
        raise UserError(f"--domain {config.domain}: the adaptive attack and training rounds run on the built-in "
                        "TaskMaster domain only; use --profile quick or default (or --rounds 0 and no attack section).")
    return settings


def check_sections(settings: dict, where: str) -> dict:
    """Each section's keys and value types, as the stage that takes it would see them; returns the typed settings."""
    if not isinstance(settings.get("model"), str):
        raise UserError(f"{where}: model must be a model spec (a string), not {settings.get('model')!r}.")
    for key, settings_class in training_settings().items():  # fail now, not after the first red-team stage
        common.build_settings(settings_class, settings[key], f"{where}, section {key}")
    hints = section_types()
    for key in hints:
        settings[key] = typed_values(settings[key], hints[key], f"{where}, section {key}")
    return settings


def section_types() -> dict:
    """{section: {setting: type}} for the red-team and prefs sections (what RedteamConfig and prefs.build take)."""
    import inspect
    import typing

    from taskalign.prefs.build import build
    from taskalign.redteam.runner import RedteamConfig

    from taskalign.attack.search import AttackConfig

    redteam = {k: v for k, v in typing.get_type_hints(RedteamConfig).items() if k not in ("model", "out", "judge", "abstain")}
    hints = typing.get_type_hints(build)
    prefs = {name: hints.get(name, str | None) for name in inspect.signature(build).parameters
             if name not in ("run_dir", "cases", "out", "notes")}
    attack = {k: v for k, v in typing.get_type_hints(AttackConfig).items()
              if k in ("budget", "seed", "families", "attacker", "attacker_model_name", "limit", "max_new_tokens",
                       "batch_size", "precision")}
    from taskalign.train.head import run as head_run

    head = {k: v for k, v in typing.get_type_hints(head_run).items() if k in ("layer", "extra_cases", "precision",
                                                                             "refuse_lead", "variants", "act_ban")}
    return {"base_eval": redteam, "eval": redteam, "prefs_eval": redteam, "prefs": prefs, "attack": attack,
            "rounds": typing.get_type_hints(RoundSettings), "head": head}


def training_settings() -> dict:
    """The settings class of each training section: the defaults a profile leaves out are that class's own."""
    from taskalign.train.dpo import DPOSettings
    from taskalign.train.kto import KTOSettings
    from taskalign.train.orpo import ORPOSettings
    from taskalign.train.sft import SFTSettings

    return {"sft": SFTSettings, "dpo": DPOSettings, "kto": KTOSettings, "orpo": ORPOSettings}


class Stages:
    """Runs named stages once: a stage is skipped when its fingerprint (settings + upstream fingerprints) is unchanged."""

    def __init__(self, out: Path):
        self.out, self.path = out, out / "stages.json"
        self.state = read_json(self.path, dict) if self.path.is_file() else {}

    def run(self, name: str, inputs: dict, fn, output: Path | None = None, after: tuple[str, ...] = ()):
        upstream = [self.state[a]["fingerprint"] for a in after]
        fingerprint = hashlib.sha256(json.dumps([upstream, inputs], sort_keys=True, default=str).encode()).hexdigest()[:16]
        record = self.state.get(name)
        if record and record["fingerprint"] == fingerprint and record.get("done"):
            console.print(f"[dim]✓ {name}: unchanged, skipped ({record['seconds']:.0f} s last time)[/dim]")
            return record["result"]
        if record and record["fingerprint"] != fingerprint and output is not None and output.exists():
            shutil.rmtree(output) if output.is_dir() else output.unlink()  # stale: its inputs changed
        console.rule(f"[bold]{name}")
        self._save(name, {"fingerprint": fingerprint, "done": False, "seconds": 0, "result": None})
        start = time.time()
        result = fn()
        self._save(name, {"fingerprint": fingerprint, "done": True, "seconds": round(time.time() - start, 1),
                          "result": result})
        return result

    def _save(self, name: str, record: dict) -> None:
        self.state[name] = record
        write_json_atomic(self.path, self.state)

    def timings(self) -> dict:
        return {name: record["seconds"] for name, record in self.state.items()}


def _redteam(model: str, out: Path, section: dict, judge: tuple[str, float | None]) -> str:
    from taskalign.redteam.runner import RedteamConfig, run

    # Absolute, so the run folder names its model from anywhere (`--model runs/demo/aligned` resolves through it).
    model = str(Path(model).resolve()) if Path(model).exists() else model
    run(RedteamConfig(model=model, out=str(out), judge=judge[0], abstain=judge[1], **section))
    return out.name


PACKAGE = Path(__file__).parent
SHARED = ("errors.py", "files.py", "typecheck.py", "domain", "domains", "models")
# The taskalign code and data each stage runs (its imports, followed through): part of the stage's fingerprint.
TAXONOMY = ("taxonomy.py",)  # its data is the built-in domain's taxonomy file, under domains/
STAGE_CODE = {
    "redteam": SHARED + TAXONOMY + ("redteam", "judge", "suite", "report", "gate"),
    "train": SHARED + TAXONOMY + ("train", "suite", "prefs", "judge", "redteam", "report", "gate", "attack"),  # head: variants
    "prefs": SHARED + TAXONOMY + ("prefs", "judge", "suite", "train", "redteam", "report", "gate", "attack"),
    "compare": ("errors.py", "files.py") + TAXONOMY + ("report", "domain", "domains", "suite"),
    "attack": SHARED + TAXONOMY + ("attack", "redteam", "judge", "suite", "report", "prefs", "train", "gate"),
}


def source_digest(parts: tuple[str, ...], root: Path = PACKAGE) -> str:
    """A hash of the files at root/part (code and package data such as the bank, suite cases and judge head), so an
    upgrade or edit that changes what a stage runs reruns that stage instead of reusing its stale output."""
    digest = hashlib.sha256()
    for part in parts:
        path = root / part
        for file in [path] if path.is_file() else sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def _train(kind: str, section: dict, paths: dict) -> str:
    """Run taskalign.train.{kind} (sft, dpo, kto or orpo) on the section's settings and these model/data/out paths."""
    stage = importlib.import_module(f"taskalign.train.{kind}")
    stage.run(stage.load_settings(None, **{**section, **paths}), log=console.print)
    out = Path(paths["out"])
    return str(out.relative_to(out.parent.parent))


def _head(st: "Stages", name: str, model: Path, section: dict, code: str, after: str, domain: str) -> tuple[str, ...]:
    """Fit the decision head into the model's folder (taskalign.train.head) when the `head` section names a layer;
    returns the stages that the model's red-team runs must follow."""
    from taskalign.models.head import FILE
    from taskalign.train.head import run as fit_head

    if not section.get("layer"):
        (model / FILE).unlink(missing_ok=True)  # one fitted by an earlier run of this folder would still be applied
        return (after,)
    if domain != DEFAULT_DOMAIN and str(section.get("extra_cases", "builtin")).startswith("builtin"):
        section = {**section, "extra_cases": None}  # the built-in training-only rows are TaskMaster's

    def fit() -> str:
        fit_head(str(model), domain=domain, log=console.print, **section)
        return model.name

    st.run(name, {**section, "code": code}, fit, after=(after,))
    return (name,)


def _prefs(run_dir: Path | list[Path], out: Path, section: dict) -> str:
    from taskalign.prefs import build
    from taskalign.suite import domain_cases

    build(run_dir, domain_cases(section.get("domain")), out, **section)
    return out.name


def _replay(pairs: Path, first: Path, n: int, seed: int) -> None:
    """Add n of the first pair file's benign look-alike pairs (scary words, carried out) to a round's pairs. A round's
    own pairs are mostly refusals of attacks on the aligned model, and DPO on them alone refused more look-alikes
    than the model it started from (docs/experiments.md, Q9)."""
    import random

    from taskalign.files import read_jsonl, write_jsonl_atomic

    helpful = [row for row in read_jsonl(first) if row.get("metadata", {}).get("pair_type") == "edge_case_comply"]
    random.Random(seed).shuffle(helpful)
    write_jsonl_atomic(pairs, read_jsonl(pairs) + helpful[:n])


def _compare(out: Path, runs: dict, attacks: dict | None = None, html: Path | None = None) -> str:
    """The comparison page; first each run's summary gains its model's adaptive ASR (attacks: {label: folder})."""
    from taskalign.attack.search import attach_adaptive
    from taskalign.report import compare

    from taskalign.report import write_report

    for label, folder in (attacks or {}).items():
        attach_adaptive(out / runs[label], out / folder)
        write_report(out / runs[label])  # the run's own report shows the adaptive ASR beside its static metrics
    html = html or out / "compare.html"
    compare([out / d for d in runs.values()], html, labels=list(runs))
    return str(html.relative_to(out))


def _attack(model: str, out: Path, intents: str, section: dict, judge: tuple[str, float | None]) -> str:
    from taskalign.attack.search import AttackConfig, run

    model = str(Path(model).resolve()) if Path(model).exists() else model
    run(AttackConfig(model=model, out=str(out), intents=intents, judge=judge[0], abstain=judge[1], **section))
    return out.name


def _variants_run(model: str, folder: Path, seed: int, rounds: RoundSettings, judge, precision: dict) -> str:
    """Operator variants of the train cases (harmful and benign), red-teamed on the model a round starts from."""
    from taskalign.attack.variants import write_variants

    cases = folder / "variants.jsonl"
    if not cases.is_file():  # written once per round: the red-team run resumes on the same file
        write_variants(cases, per_case=rounds.per_case, seed=seed)
    section = {"cases": str(cases), "limit": rounds.variants_limit, "max_new_tokens": rounds.max_new_tokens,
               **precision}
    return _redteam(model, folder / "variants", section, judge)


def _precision(section: dict) -> dict:
    """{"precision": ...} where a section names one (the rounds' stages follow it), else {}, which keeps their stage
    keys, and so earlier runs' finished rounds, as they were."""
    return {"precision": section["precision"]} if "precision" in section else {}


def _round(st: "Stages", out: Path, r: int, start: tuple[str, str, str], s: dict, j, code: dict,
           method: str = "dpo") -> tuple[str, str, str]:
    """Round r: attack + variants on the model `start` = (model folder, its training stage, its red-team run), pairs
    from their failures, `method` training from that model, red-team and compare. Returns the triple for the new model."""
    rounds = RoundSettings(**s["rounds"])
    model, dpo_stage, run_dir = start
    folder, new_model = out / f"round{r}", out / "models" / f"aligned_r{r}"
    folder.mkdir(parents=True, exist_ok=True)
    attack = {"budget": rounds.budget, "seed": r, "max_new_tokens": rounds.max_new_tokens, **_precision(s["attack"])}
    st.run(f"attack_train_r{r}", {**attack, "code": code["attack"]},
           lambda: _attack(model, folder / "attack_train", "train", attack, j), folder / "attack_train",
           after=(dpo_stage,))
    precision = _precision(s["eval"])
    st.run(f"variants_r{r}", {**s["rounds"], **precision, "code": code["attack"]},
           lambda: _variants_run(model, folder, r, rounds, j, precision), folder / "variants", after=(dpo_stage,))
    prefs_section = {"anchors": rounds.anchors, "max_pairs": rounds.max_pairs, "balance": rounds.balance, "seed": r,
                     **({"match_surface": True} if s["prefs"].get("match_surface") else {})}
    replay = {"replay": rounds.replay} if rounds.replay else {}  # absent when 0: earlier runs' stage keys hold

    def prefs() -> str:
        name = _prefs([folder / "attack_train", folder / "variants"], folder / "prefs.jsonl", prefs_section)
        if rounds.replay:
            _replay(folder / "prefs.jsonl", out / "prefs.jsonl", rounds.replay, seed=r)
        return name

    st.run(f"prefs_r{r}", {**prefs_section, **replay, "code": code["prefs"]}, prefs, folder / "prefs.jsonl",
           after=(f"attack_train_r{r}", f"variants_r{r}"))
    train = {**s[method], **({"learning_rate": rounds.learning_rate} if rounds.learning_rate else {})}
    st.run(f"{method}_r{r}", {**train, "code": code["train"]},
           lambda: _train(method, train, {"model": model, "data": str(folder / "prefs.jsonl"), "out": str(new_model)}),
           new_model, after=(f"prefs_r{r}",))
    trained = _head(st, f"head_r{r}", new_model, s["head"], code["train"], f"{method}_r{r}", s["prefs"].get(
        "domain", DEFAULT_DOMAIN))
    st.run(f"redteam_aligned_r{r}", {**s["eval"], "code": code["redteam"]},
           lambda: _redteam(str(new_model), out / f"aligned_r{r}", s["eval"], j), out / f"aligned_r{r}",
           after=trained)
    st.run(f"compare_r{r}", {"code": code["compare"]},
           lambda: _compare(out, {run_dir: run_dir, f"aligned_r{r}": f"aligned_r{r}"}, html=folder / "compare.html"),
           after=(f"redteam_aligned_r{r}",))
    return str(new_model), trained[0], f"aligned_r{r}"


def run(config: PipelineConfig) -> Path:
    """Run (or resume) every stage; write pipeline.json and the three-column results table."""
    s, out = load_settings(config), Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "config.json", {"profile": config.profile, "method": config.method, "judge": config.judge,
                                              "abstain": config.abstain, "domain": config.domain, **s})
    st, base, j = Stages(out), s["model"], (config.judge, config.abstain)
    sft_dir, aligned_dir, prefs = out / "models" / "sft", out / "models" / "aligned", out / "prefs.jsonl"
    code = {stage: source_digest(parts) for stage, parts in STAGE_CODE.items()}
    if config.domain != DEFAULT_DOMAIN:  # an edit to the domain's files reruns every stage that reads them
        domain_root = load_domain(config.domain).root
        code = {stage: digest + "+" + source_digest(tuple(p.name for p in domain_root.iterdir()), domain_root)
                for stage, digest in code.items()}
    st.run("redteam_base", {"model": base, **s["base_eval"], "code": code["redteam"]},
           lambda: _redteam(base, out / "base", s["base_eval"], j), out / "base")
    st.run("sft", {"model": base, **s["sft"], "code": code["train"]},
           lambda: _train("sft", s["sft"], {"model": base, "out": str(sft_dir)}), sft_dir)
    st.run("redteam_sft", {**s["eval"], "code": code["redteam"]},
           lambda: _redteam(str(sft_dir), out / "sft", s["eval"], j), out / "sft", after=("sft",))
    st.run("redteam_sft_train", {**s["prefs_eval"], "code": code["redteam"]},
           lambda: _redteam(str(sft_dir), out / "sft_train", s["prefs_eval"], j), out / "sft_train", after=("sft",))
    st.run("prefs", {**s["prefs"], "code": code["prefs"]}, lambda: _prefs(out / "sft_train", prefs, s["prefs"]), prefs,
           after=("redteam_sft_train",))
    method = config.method
    st.run(method, {**s[method], "code": code["train"]},
           lambda: _train(method, s[method], {"model": str(sft_dir), "data": str(prefs), "out": str(aligned_dir)}),
           aligned_dir, after=("prefs",))
    trained = _head(st, "head", aligned_dir, s["head"], code["train"], method, s["prefs"].get("domain",
                                                                                               DEFAULT_DOMAIN))
    st.run("redteam_aligned", {**s["eval"], "code": code["redteam"]},
           lambda: _redteam(str(aligned_dir), out / "aligned", s["eval"], j), out / "aligned", after=trained)
    final = (str(aligned_dir), trained[0], "aligned")
    for r in range(1, s["rounds"]["n"] + 1):
        final = _round(st, out, r, final, s, j, code, method)
    runs = {"base": "base", "sft": "sft", "aligned": "aligned"}
    if final[2] != "aligned":
        runs[final[2]] = final[2]
    attacks = {}
    if s["attack"].get("budget"):
        models = {"base": (base, ()), "sft": (str(sft_dir), ("sft",)), final[2]: (final[0], (final[1],))}
        for label, (model, after) in models.items():
            st.run(f"attack_{label}", {**s["attack"], "code": code["attack"]},
                   lambda model=model, label=label: _attack(model, out / f"attack_{label}", "test", s["attack"], j),
                   out / f"attack_{label}", after=after)
            attacks[label] = f"attack_{label}"
    st.run("compare", {"code": code["compare"], "attacks": attacks},
           lambda: _compare(out, runs, attacks), after=tuple(f"redteam_{k}" for k in runs) + tuple(attacks.values()))
    models = {"base": base, "sft": "models/sft", "aligned": "models/aligned"}
    models.update({f"aligned_r{r}": f"models/aligned_r{r}" for r in range(1, s["rounds"]["n"] + 1)})
    manifest = {"models": models, "runs": runs, "attacks": attacks, "prefs": "prefs.jsonl", "report": "compare.html",
                "timings_s": st.timings(), "profile": config.profile, "method": method, "rounds": s["rounds"]["n"]}
    write_json_atomic(out / "pipeline.json", manifest)
    print_results(out, runs)
    return out


def results_table(out: Path, runs: dict) -> dict:
    """metric -> {run label: value} from each run's summary (the runs use the test split only)."""
    summaries = {label: read_json(out / d / "summary.json", dict) for label, d in runs.items()}
    first = next(iter(summaries.values()))
    names = list(first["metrics"]) + sorted({m for s in summaries.values() for m in s["metrics"]} - set(first["metrics"]))
    return {m: {label: (s["metrics"].get(m) or {}).get("value") for label, s in summaries.items()} for m in names}


def print_results(out: Path, runs: dict) -> None:
    from rich.table import Table

    table_data = results_table(out, runs)
    table = Table(title=f"{out}: red-team test split (intents never seen in training)")
    table.add_column("metric")
    for label in runs:
        table.add_column(label, justify="right")
    lines = ["| metric | " + " | ".join(runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for metric, values in table_data.items():
        cells = ["—" if v is None else f"{v:.3f}" for v in values.values()]
        table.add_row(metric, *cells)
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    console.print(table)
    write_json_atomic(out / "results.json", table_data)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    console.print(f"Comparison report: {out / 'compare.html'}")
