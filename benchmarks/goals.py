r"""Goals across suites: EvolutionarySearch against random search and Optuna's TPE on every stored task.

``quality.py`` prints its figures one suite at a time. This script runs nothing: it reads the raw
results the suites have stored and counts, over all of their tasks together, on how many
EvolutionarySearch beats random search (a lower median best loss, or the same median best
reached in fewer evaluations, exactly as ``quality.py`` counts it) and where it ranks against the
methods run on every task::

    python benchmarks/goals.py                 # results/quality-full.json and quality-bbob.json
    python benchmarks/goals.py --results benchmarks/results/quality-wide.json
    # the wide suite's 30-seed runs first, then the rest of the full suite and BBOB
    python benchmarks/goals.py --results benchmarks/results/quality-wide.json \
        --results benchmarks/results/quality-full.json --results benchmarks/results/quality-bbob.json

A task stored in several files is counted once, from the first file that holds it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_FILES = (HERE / "results" / "quality-full.json", HERE / "results" / "quality-bbob.json")
VERDICTS = ("better", "sooner", "equal", "later", "worse")
MIN_SEEDS = 5


def load(files: list[Path], budgets: list[int]) -> tuple[dict, dict[str, str]]:
    """The runs of every file, and the file each task is counted from (the first that holds it)."""
    merged: dict = {}
    source: dict[str, str] = {}
    for path in files:
        if not path.exists():
            raise SystemExit(f"Error: no results file {path}; run quality.py for its suite first")
        results = quality.load_results(path)
        quality.derive_prefixes(results, budgets)
        for key, record in results.items():
            if source.setdefault(key[0], path.name) == path.name:
                merged[key] = record
    return merged, source


def seeds_of(results: dict, task: str, methods: list[str], budget: int) -> list[int]:
    """The seeds every one of ``methods`` ran on ``task`` at ``budget``."""
    common = None
    for method in methods:
        seeds = {k[3] for k in results if k[:3] == (task, method, budget)}
        common = seeds if common is None else common & seeds
    return sorted(common or ())


def family(task: str) -> str:
    """The family of a stored task, by its name: "bbob", "synthetic" or "bayesmark"."""
    if task.startswith("bbob-"):
        return "bbob"
    return "synthetic" if task in {t.name for t in quality.task_module.synthetic_tasks()} else "bayesmark"


def against_random(results: dict, source: dict[str, str], budget: int) -> list[str]:
    """Verdict counts per task family and overall, and the tasks not beaten."""
    verdicts: dict[str, str] = {}
    for task in sorted(source):
        seeds = seeds_of(results, task, ["evolution", "random"], budget)
        if len(seeds) < MIN_SEEDS:
            continue
        medians = {(task, m): float(np.median([quality.best_so_far(results[(task, m, budget, s)]["losses"], budget)
                                                for s in seeds])) for m in ("evolution", "random")}
        verdicts[task] = quality.compare(results, task, "evolution", "random", budget, seeds, medians)
    lines = ["| family | tasks | beaten | better median | same best sooner | as soon | later | worse |",
             "|---|---|---|---|---|---|---|---|"]
    families = sorted({family(t) for t in verdicts})
    groups = [(name, [t for t in verdicts if family(t) == name]) for name in families]
    for name, tasks in [*groups, ("all", list(verdicts))]:
        count = Counter(verdicts[t] for t in tasks)
        beaten = count["better"] + count["sooner"]
        share = f"{beaten}/{len(tasks)} = {100 * beaten / len(tasks):.1f}%" if tasks else "-"
        lines.append(f"| {name} | {len(tasks)} | {share} | " + " | ".join(str(count[v]) for v in VERDICTS) + " |")
    missed = [f"{t} ({verdicts[t]})" for t in verdicts if verdicts[t] not in ("better", "sooner")]
    if missed:
        lines += ["", "Not beaten: " + ", ".join(missed)]
    return lines


def mean_ranks(results: dict, source: dict[str, str], budget: int) -> list[str]:
    """Mean rank among the methods that ran on every task (ranks per task and seed, ties shared)."""
    methods = [m for m in quality.METHODS if m != "default"
               and all(len(seeds_of(results, t, [m], budget)) >= MIN_SEEDS for t in source)]
    if len(methods) < 2:
        return ["(fewer than two methods ran on every task)"]
    ranked: dict[str, list[float]] = {m: [] for m in methods}
    for task in source:
        for seed in seeds_of(results, task, methods, budget):
            bests = [quality.best_so_far(results[(task, m, budget, seed)]["losses"], budget) for m in methods]
            for method, rank in zip(methods, quality.ranks(bests)):
                ranked[method].append(rank)
    order = sorted(methods, key=lambda m: np.mean(ranked[m]))
    return ["| method | mean rank |", "|---|---|"] + [f"| {m} | {np.mean(ranked[m]):.2f} |" for m in order]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, action="append",
                        help="a results file of quality.py (repeatable; default: the full and BBOB suites)")
    parser.add_argument("--budgets", default="50,100", help="comma-separated evaluation budgets (default 50,100)")
    args = parser.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    results, source = load(args.results or list(DEFAULT_FILES), budgets)
    for budget in budgets:
        print(f"\n## Budget {budget} evaluations, {len(source)} tasks\n")
        print("EvolutionarySearch against RandomSearch (goal: beats it on >= 90% of tasks):\n")
        print("\n".join(against_random(results, source, budget)))
        print("\nMean rank among the methods run on every task:\n")
        print("\n".join(mean_ranks(results, source, budget)))


if __name__ == "__main__":
    main()
