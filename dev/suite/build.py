"""Build the built-in suite (development tool: it writes the package's data files): the TaskMaster domain's intents x
strategies, benign look-alikes, ambiguous and capability cases -> its cases.jsonl.

    python -m dev.suite.build [--seed 0] [--out PATH] [--resplit] [--domain NAME|DIR]

The same seed and data files give a byte-identical cases.jsonl. `--resplit` rewrites the `split` of every intent,
benign and ambiguous row (seeded, stratified per harm category), e.g. after adding rows.
"""

import argparse
from pathlib import Path

from taskalign.domain.load import DEFAULT_DOMAIN, load_domain
from taskalign.files import read_jsonl, write_jsonl_atomic
from taskalign.suite.build import build_cases, stratified_split


def resplit(domain, seed: int = 0) -> None:
    for key in ("intents", "lookalikes", "ambiguous"):
        path = domain.path(key)
        if path is None:
            continue
        rows = read_jsonl(path)
        split = stratified_split(rows, "harm_category", seed)
        write_jsonl_atomic(path, [{**r, "split": split[r["id"]]} for r in rows])


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="picks templates, capability prompts and splits")
    parser.add_argument("--domain", default=DEFAULT_DOMAIN, help="a built-in domain name or a domain folder")
    parser.add_argument("--out", type=Path, default=None, help="where to write the cases (default: the domain's cases file)")
    parser.add_argument("--resplit", action="store_true", help="reassign train/test splits in the data files first")
    args = parser.parse_args(argv)
    domain = load_domain(args.domain)
    if args.resplit:
        resplit(domain, args.seed)
    cases = build_cases(_fresh(domain) if args.resplit else domain, args.seed)
    out = args.out or domain.path("cases") or domain.root / "cases.jsonl"
    write_jsonl_atomic(out, cases)
    print(f"wrote {len(cases)} cases to {out}")
    return out


def _fresh(domain):
    """The domain read again from disk (its rows were cached before the resplit rewrote them)."""
    from taskalign.domain.load import Domain, read_spec

    return Domain(domain.root, read_spec(domain.root))


if __name__ == "__main__":
    main()
