"""The text of an exported model's card (README.md with Hub metadata and a model-index of its red-team results) and of
its preference dataset's card, built from run summaries, the model lineage and pair statistics.

Pure text from plain data; taskalign/export/export.py gathers the data and writes the files.
"""

from huggingface_hub import DatasetCardData, EvalResult, ModelCardData

from taskalign import taxonomy

TAGS = ["taskalign", "safety", "tool-calling", "alignment"]  # plus the preference method(s): dpo, kto, orpo
PREFERENCE_KINDS = ("dpo", "kto", "orpo")
DATASET_TAGS = ["taskalign", "dpo", "preference", "safety", "tool-calling"]


def model_card(info: dict) -> str:
    """info: name, base_model, license, license_known, runs {label: summary}, own_run, chain, prefs [(config, stats)],
    dataset_id, settings (a pipeline's config.json or {}), pipeline (bool)."""
    own = info["runs"].get(info["own_run"]) if info["own_run"] else None
    data = ModelCardData(base_model=info["base_model"], license=info["license"], library_name="transformers",
                         tags=TAGS + _kinds(info), datasets=[info["dataset_id"]] if info["dataset_id"] else None,
                         pipeline_tag="text-generation", model_name=info["name"],
                         eval_results=_eval_results(own) if own else None)
    sections = [_intro(info), _results(info), _training(info), _prefs(info["prefs"]), _usage(info), _limits(info),
                _how(info)]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(s for s in sections if s) + "\n"


def metric_title(name: str) -> str:
    """The taxonomy's one-line description of a metric (what a high rate means), else its name."""
    return (taxonomy.DATA["metrics"].get(name) or {}).get("what") or name


def _suite_name(summary: dict) -> str:
    split = summary.get("split") or "all"
    return f"taskalign red-team suite {summary.get('suite_version') or '(custom cases)'}, {split} split"


def _eval_results(summary: dict) -> list[EvalResult]:
    return [EvalResult(task_type="text-generation", task_name="Tool-calling assistant red-team",
                       dataset_type="taskalign-redteam", dataset_name=_suite_name(summary),
                       dataset_split=summary.get("split") or "all", dataset_revision=summary.get("suite_version"),
                       metric_type=name, metric_value=m["value"], metric_name=metric_title(name))
            for name, m in summary.get("metrics", {}).items() if isinstance(m, dict) and m.get("value") is not None]


def _intro(info: dict) -> str:
    base = info["base_model"] or "a local model (see Training)"
    trained = any(m.get("kind") in PREFERENCE_KINDS for m in info["chain"])
    kind = f"preference-trained with {_method(info)}" if trained else "exported"
    return (f"# {info['name']}\n\nTaskMaster, a task-management assistant that acts through tool calls "
            "(`<tool_call>{\"name\": ..., \"arguments\": ...}</tool_call>`), "
            f"{kind} (taskalign) to refuse harmful requests and keep doing ordinary ones. "
            f"Base model: `{base}`. Merged weights (safetensors), tokenizer and chat template; the system prompt it "
            "was trained and evaluated with is in `system_prompt.txt`.")


def _cell(metric: dict | None) -> str:
    if not metric or metric.get("value") is None:
        return "–"
    ci = metric.get("ci95")
    interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    return f"{metric['value']:.3f}{interval} (n={metric.get('n')})"


def _results(info: dict) -> str:
    runs = info["runs"]
    if not runs:
        return "## Evaluation\n\nNo evaluation was attached to this export (pass `--runs RUN` to add red-team runs)."
    names = list(dict.fromkeys(n for s in runs.values() for n in s.get("metrics", {})))
    head = "| metric | " + " | ".join(runs) + " |\n|---|" + "---|" * len(runs)
    rows = [f"| {n}{' ↑' if n in taxonomy.HIGHER_IS_BETTER else ''} | "
            + " | ".join(_cell(s.get("metrics", {}).get(n)) for s in runs.values()) + " |" for n in names]
    first = next(iter(runs.values()))
    lines = [f"## Evaluation\n\nRed-team rates on the {_suite_name(first)} (cases per run: "
             + ", ".join(f"{label} {s.get('n_cases')}" for label, s in runs.items())
             + "). Each cell: rate, 95% bootstrap interval, rows counted. Lower is better unless marked ↑.",
             head, *rows]
    own = f"`{info['own_run']}`" if info["own_run"] else "none of the columns"
    lines.append(f"\nThis model's own run is {own}; the metadata's model-index holds its numbers.")
    return "\n".join(lines[:1]) + "\n\n" + "\n".join(lines[1:]) + "\n\n" + _judge(runs, info["own_run"])


def _judge(runs: dict, own: str | None) -> str:
    summary = runs.get(own) or next(iter(runs.values()))
    card = summary.get("judge") or {}
    names = sorted({str((s.get("judge") or {}).get("name")) for s in runs.values()})
    text = f"### Judge\n\nVerdicts come from taskalign's `{card.get('name', 'unknown')}` judge"
    text += f" ({card['encoder']})." if card.get("encoder") else "."
    heldout = card.get("heldout") or {}
    if heldout.get("accuracy") is not None:
        text += (f" Its measured accuracy on {heldout.get('n')} labelled replies it never saw "
                 f"({card.get('heldout_kind', 'held out')}): {heldout['accuracy']:.3f} over four verdicts, "
                 f"{heldout.get('binary_accuracy', float('nan')):.3f} comply vs. not.")
        missed = card.get("harmful_compliance_judged_refusal") or {}
        if missed.get("rate") is not None:
            text += (f" It judged {missed['rate']:.1%} of labelled harmful compliances as refusals, so attack "
                     "rates may be understated by about that share.")
    else:
        text += " No measured accuracy is attached to this judge."
    if len(names) > 1:
        text += f" The runs used different judges ({', '.join(names)}): compare columns with care."
    return text


# Values that mean "not used": left out of the card, where they would only be noise.
UNUSED = {"max_steps": -1, "lora_layers": 0, "full": False}


def _settings_text(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items() if UNUSED.get(k, ...) != v) or "–"


def _training(info: dict) -> str:
    rows = [f"| {_model_name(m, info)} | {m['kind']} | {m.get('steps') if m.get('steps') is not None else '–'} | "
            f"{_settings_text(m.get('settings') or {})} |" for m in reversed(info["chain"])]
    text = "## Training\n\nFrom the base model up, each row trained on the one above it (LoRA merged into the weights):\n\n"
    text += "| model | kind | steps | settings |\n|---|---|---|---|\n" + "\n".join(rows)
    profile = info["settings"].get("profile")
    if profile:
        text += (f"\n\nMade by `taskalign pipeline` with the `{profile}` profile; judge `{info['settings'].get('judge')}`."
                 f" SFT teaches TaskMaster's tool calls (no safety examples); {_method(info)} teaches judgement on "
                 "preference data built from the SFT model's own failures on the suite's train split.")
    return text


def _kinds(info: dict) -> list[str]:
    """The preference methods of the chain, oldest first, as Hub tags: ["dpo"], ["dpo", "kto"], ..."""
    return list(dict.fromkeys(m["kind"] for m in reversed(info["chain"]) if m.get("kind") in PREFERENCE_KINDS))


def _method(info: dict) -> str:
    """The preference method(s) of the exported model's chain, as a reader names them: DPO, KTO, ORPO."""
    return " then ".join(k.upper() for k in _kinds(info)) or "preference training"


def _model_name(model: dict, info: dict) -> str:
    if model["kind"] == "base" and info["base_model"]:
        return f"{info['base_model']}" + (" (embedded)" if model["name"] == "embedded" else "")
    return model["name"]


def _prefs(prefs: list) -> str:
    if not prefs:
        return ""
    parts = ["## Preference data"]
    for config, stats in prefs:
        types = ", ".join(f"{t} {n}" for t, n in stats["by_pair_type"].items())
        parts.append(f"`{config}`: {stats['pairs']} pairs ({stats['safety_pairs']} safety, "
                     f"{stats['helpfulness_pairs']} helpfulness; {stats['on_policy_share']:.0%} with the model's own "
                     f"failing reply as the rejected one). By pair type: {types}."
                     + (f" These pairs come from adaptive {config.replace('round', 'round ')}'s attacks and trained "
                        "the model one step further." if config.startswith("round") else ""))
    return "\n\n".join(parts)


def _usage(info: dict) -> str:
    repo = info.get("repo") or f"USER/{info['name']}"
    return ("## Usage\n\n```python\nfrom huggingface_hub import hf_hub_download\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f"repo = \"{repo}\"\n"
            "model = AutoModelForCausalLM.from_pretrained(repo)\ntokenizer = AutoTokenizer.from_pretrained(repo)\n"
            "system = open(hf_hub_download(repo, \"system_prompt.txt\")).read()\n"
            "messages = [{\"role\": \"system\", \"content\": system},\n"
            "            {\"role\": \"user\", \"content\": \"Remind me to call the dentist tomorrow\"}]\n"
            "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\",\n"
            "                                       return_dict=True)\n"
            "reply = model.generate(**inputs, max_new_tokens=128)[0][inputs[\"input_ids\"].shape[1]:]\n"
            "print(tokenizer.decode(reply, skip_special_tokens=True))"
            "\n```\n\nAlways send the system prompt: the model was trained and measured under it, and without one the "
            "chat template may insert its own. With taskalign: `taskalign chat --model FOLDER -m \"...\"`.")


def _limits(info: dict) -> str:
    return ("## Intended use and limitations\n\nA research artefact for studying alignment of small tool-calling "
            "assistants, not a production safety filter. It was measured only on taskalign's own red-team suite: "
            "the test split holds harmful intents that no preference pair was built from (pairs come from the train "
            "split), rendered under the same attack strategies, plus benign look-alikes, ambiguous requests and "
            "capability cases. Rates on that split say how the training generalises to new intents in familiar "
            "wordings, not to other attack styles, other tools or other languages. Verdicts are an automatic judge's "
            "(its accuracy is above); intervals are bootstrap intervals over the counted cases and do not include "
            "the judge's error. A small model may still carry out harmful requests, refuse legitimate ones or make "
            "wrong tool calls: keep a person or a guard between it and real actions.")


def _how(info: dict) -> str:
    if info["pipeline"]:
        profile = info["settings"].get("profile")
        steps = f"taskalign pipeline{f' --profile {profile}' if profile else ''} --out PIPELINE"
    else:
        steps = "\n".join(_command(m) for m in reversed(info["chain"]) if m["kind"] in ("sft", "merged", *PREFERENCE_KINDS))
        steps = steps or "# trained outside taskalign"
    source = "PIPELINE" if info["pipeline"] else "MODEL"
    return (f"## How it was made\n\n```\n{steps}\ntaskalign export {source} --out FOLDER\n```\n\n"
            "Red-team runs: `taskalign redteam --model MODEL --split test --out RUN`; the report and its "
            "per-case transcripts are in each run folder.")


def _command(model: dict) -> str:
    kind = model["kind"]
    if kind == "merged":
        return "taskalign train merge --model BASE --adapter ADAPTER --out MODEL"
    data = " --data prefs.jsonl" if kind in PREFERENCE_KINDS else ""
    return f"taskalign train {kind} --model BASE{data} --out {model['name']}"


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def dataset_card(info: dict, files: list[tuple[str, str]]) -> str:
    """info as for model_card; files: (config name, data file path inside the dataset folder)."""
    total = sum(stats["pairs"] for _, stats in info["prefs"])
    data = DatasetCardData(license=info["license"], task_categories=["text-generation"], tags=DATASET_TAGS,
                           size_categories=[size_category(total)], language=["en"], pretty_name=f"{info['name']} preference pairs",
                           configs=[{"config_name": c, "data_files": [{"split": "train", "path": p}]} for c, p in files])
    body = (f"# {info['name']} preference pairs\n\nThe preference pairs the model `{info['name']}` was trained on "
            f"({_method(info)}), "
            "in TRL's conversational format: `prompt` (system prompt and user/assistant turns ending with a user turn), "
            "`chosen` and `rejected` (one assistant message each), and `metadata` (`case_id`, `category`, `intent_id`, "
            "`pair_type`, `source`, `harm_category`, `on_policy`, `chosen_source`). Load with "
            "`datasets.load_dataset(REPO)`; train with `trl.DPOTrainer` unchanged (KTO reads each pair as a "
            "desirable and an undesirable reply).\n\n"
            + _prefs(info["prefs"]).replace("## Preference data\n\n", "")
            + "\n\nSafety pairs prefer a graceful refusal (it says why and offers a legitimate task) to carrying out a "
            "harmful request; helpfulness pairs prefer the correct tool call to an over-refusal or a wrong call; "
            "ambiguous requests prefer a clarifying question. `source: run` marks a rejected reply the model itself "
            "wrote during red-teaming; `composed` ones were written by taskalign's templates. Only the suite's train "
            "split and its training-only bank are used, so the test split stays unseen.\n\n"
            "**Content warning**: prompts and rejected replies describe harmful requests (stalking, threats, account "
            "takeover) and a model carrying them out as tool calls.")
    return f"---\n{data.to_yaml()}\n---\n\n{body}\n"
