"""A domain is data: one folder with domain.yaml naming the assistant's persona, its tools, its harm taxonomy, the
harmful intents, look-alikes, ambiguous requests, capability templates and refusal phrases (docs/domains.md).

    from taskalign.domain import load_domain
    domain = load_domain("taskmaster")            # a built-in name, or a folder path
    domain.system_prompt(), domain.tools, domain.intents, domain.cases_path
"""

import copy
import json
import re
from functools import cached_property, lru_cache
from pathlib import Path

from taskalign.errors import UserError
from taskalign.files import read_rows, read_yaml

BUILTIN = Path(__file__).parent.parent / "domains"
DEFAULT_DOMAIN = "taskmaster"
WIRE_FORMATS = ("tool_call", "python_tag")
# domain.yaml keys that name a file in the folder; the first two are required.
FILE_KEYS = tuple("tools persona taxonomy intents lookalikes ambiguous capability bank cases".split())
KEYS = ("name", "assistant", "wire_format") + FILE_KEYS
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
TAXONOMY_SECTIONS = ("categories", "pair_types", "metrics", "harm_categories")


def builtin_domains() -> list[str]:
    return sorted(p.name for p in BUILTIN.iterdir() if (p / "domain.yaml").is_file())


def domain_dir(name_or_dir: str | Path | None) -> Path:
    """The folder of a built-in domain name or of a path; a UserError when neither exists."""
    spec = str(name_or_dir or DEFAULT_DOMAIN)
    if (BUILTIN / spec / "domain.yaml").is_file() and "/" not in spec:
        return BUILTIN / spec
    path = Path(spec).expanduser()
    if (path / "domain.yaml").is_file():
        return path.resolve()
    raise UserError(f"--domain {spec}: no built-in domain of that name ({', '.join(builtin_domains())}) and no folder "
                    "with a domain.yaml there; pass a built-in name or a domain folder (`taskalign domain new`).")


def read_spec(root: Path) -> dict:
    """domain.yaml, with its keys checked: unknown keys, a bad name or wire format and missing required files are
    UserErrors naming the file."""
    path = root / "domain.yaml"
    spec = read_yaml(path, "domain")
    where = str(path)
    unknown = [k for k in spec if k not in KEYS]
    if unknown:
        raise UserError(f"{where} line {_line_of(path, unknown[0])}: unknown key {unknown[0]!r}; use only "
                        f"{', '.join(KEYS)}.")
    if not isinstance(spec.get("name"), str) or not NAME.match(spec["name"]):
        raise UserError(f"{where}: 'name' must be lower-case letters, digits, '-' or '_' (e.g. name: mailbot).")
    if spec.get("wire_format", "tool_call") not in WIRE_FORMATS:
        raise UserError(f"{where} line {_line_of(path, 'wire_format')}: wire_format must be one of "
                        f"{', '.join(WIRE_FORMATS)}, not {spec['wire_format']!r}.")
    for key in ("tools", "persona"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            raise UserError(f"{where}: '{key}' is required (a file in the domain folder); add it.")
    for key in FILE_KEYS:
        if key in spec and not isinstance(spec[key], str):
            raise UserError(f"{where} line {_line_of(path, key)}: '{key}' must name a file in the domain folder.")
    return spec


def _line_of(path: Path, key: str) -> int:
    """The line where a top-level key of a YAML file starts (1 when it is not found)."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(f"{key}:"):
            return number
    return 1


def _is_file_ref(value: str) -> bool:
    return "\n" not in value and value.strip().endswith((".md", ".txt"))


class Domain:
    """One assistant's data, read lazily from its folder. Files it does not name are None: the suite then has no
    cases of that kind (see `taskalign domain check` for what that leaves unmeasured)."""

    def __init__(self, root: Path, spec: dict):
        self.root, self.spec = root, spec
        self.name: str = spec["name"]
        self.assistant: str = spec.get("assistant") or spec["name"]
        self.wire_format: str = spec.get("wire_format", "tool_call")

    def __repr__(self) -> str:
        return f"Domain({self.name!r}, {self.root})"

    def path(self, key: str) -> Path | None:
        """The file domain.yaml names under `key`, or None when it names none."""
        value = self.spec.get(key)
        if not value or (key == "persona" and not _is_file_ref(value)):
            return None
        return self.root / value

    def _need(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise UserError(f"{self.root / 'domain.yaml'}: {key} file {path} does not exist; create it or fix the "
                            f"'{key}' entry.")
        return path

    @cached_property
    def persona(self) -> str:
        """The persona text; {today} in it is the conversation's date."""
        value = self.spec["persona"]
        return self._need("persona").read_text(encoding="utf-8").strip() if _is_file_ref(value) else value.strip()

    @cached_property
    def _tools(self) -> tuple:
        from taskalign.domain.tooldefs import read_tools

        return tuple(read_tools(self._need("tools")))

    @property
    def tools(self) -> list[dict]:
        """Tool definitions in OpenAI function format; a fresh copy each time, so callers may edit theirs."""
        return copy.deepcopy(list(self._tools))

    def system_prompt(self, today: str | None = None, tools: list[dict] | None = None) -> str:
        """The persona for `today`, then a compact rendering of the tools and the call format."""
        from taskalign.domain import DEFAULT_TODAY
        from taskalign.domain.toolcalls import render_tools

        persona = self.persona.replace("{today}", today or DEFAULT_TODAY)
        return persona + "\n\n" + render_tools(tools if tools is not None else self.tools, self.wire_format)

    @cached_property
    def taxonomy(self) -> dict:
        """The harm taxonomy: the sections of the domain's taxonomy file over the built-in domain's."""
        from taskalign.taxonomy import DATA, problems

        path = self.path("taxonomy")
        if path is None or path.resolve() == default_taxonomy_path().resolve():
            return DATA
        own = read_yaml(self._need("taxonomy"), "taxonomy")
        unknown = [k for k in own if k not in TAXONOMY_SECTIONS]
        if unknown:
            raise UserError(f"{path}: unknown section {unknown[0]!r}; use {', '.join(TAXONOMY_SECTIONS)}.")
        merged = {**DATA, **own}
        if found := problems(merged):
            raise UserError(f"{path}: {found[0]}; fix the taxonomy and rerun.")
        return merged

    def rows(self, key: str) -> list[dict]:
        """The JSONL rows of intents / lookalikes / ambiguous ([] when domain.yaml names no such file)."""
        if self.path(key) is None:
            return []
        return [row for _, row in read_rows(self._need(key), key)]

    @cached_property
    def intents(self) -> list[dict]:
        return self.rows("intents")

    @cached_property
    def lookalikes(self) -> list[dict]:
        return self.rows("lookalikes")

    @cached_property
    def ambiguous(self) -> list[dict]:
        return self.rows("ambiguous")

    @cached_property
    def capability(self) -> dict | None:
        """The capability templates (vocab + per-tool requests), or None."""
        return read_yaml(self._need("capability"), "capability templates") if self.path("capability") else None

    @cached_property
    def bank(self) -> dict | None:
        """The refusal phrase bank (refusals, persona_refusals, consistent_refusals, reasons...), or None."""
        if self.path("bank") is None:
            return None
        path = self._need("bank")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(f"{path} is not valid JSON ({exc}); fix the phrase bank.") from None

    @property
    def cases_path(self) -> Path | None:
        """The prebuilt suite, when domain.yaml names one that exists; else the suite is built from the data."""
        path = self.path("cases")
        return path if path is not None and path.is_file() else None


def default_taxonomy_path() -> Path:
    """The built-in domain's taxonomy file: the base every other domain's taxonomy sections replace."""
    root = BUILTIN / DEFAULT_DOMAIN
    return root / read_yaml(root / "domain.yaml", "domain")["taxonomy"]


def run_domain(run_dir: str | Path | None) -> str | None:
    """The domain folder a red-team run folder's config.json names (None for TaskMaster's runs, or no such file), so
    commands that read a run (judge, prefs, report) use the run's domain unless told otherwise."""
    config = Path(run_dir) / "config.json" if run_dir is not None else None
    if config is None or not config.is_file():
        return None
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("domain_dir")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


@lru_cache(maxsize=None)
def _load(root: str) -> Domain:
    path = Path(root)
    return Domain(path, read_spec(path))


def load_domain(name_or_dir: "str | Path | Domain | None" = None) -> Domain:
    """The domain of a built-in name (default taskmaster) or a folder; a Domain passes through unchanged."""
    if isinstance(name_or_dir, Domain):
        return name_or_dir
    return _load(str(domain_dir(name_or_dir)))
