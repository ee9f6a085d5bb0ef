"""Quality benchmark: how good a configuration each method finds within 50 and 100 evaluations.

One command runs the default subset (the synthetic functions and the fast Bayesmark tasks, five
seeds, budgets 50 and 100) and prints the tables::

    python benchmarks/quality.py              # default subset (7 synthetic + 4 Bayesmark tasks)
    python benchmarks/quality.py --suite wide # 27 Bayesmark tasks (under 0.25 s an evaluation)
    python benchmarks/quality.py --full       # every Bayesmark model x dataset, 10 seeds
    python benchmarks/quality.py --suite bbob # COCO's 24 BBOB functions in 5-D (pip install coco-experiment)
    python benchmarks/quality.py --methods evolution,random --seeds 3

Methods, side by side: evotune's EvolutionarySearch, RandomSearch and default strategy; Optuna's
TPE, CMA-ES, NSGA-II and random samplers; Nevergrad's NGOpt; and sklearn-genetic-opt's GASearchCV
(Bayesmark tasks only, run until it has fitted as many distinct configurations as the budget,
since it scores a repeated configuration from its cache).

Reported, per budget:

* the median (over seeds) best loss found, per task and method;
* the mean rank of each method (ranks among the methods run on a task, per task and seed, ties
  shared), overall and per task family;
* Bayesmark's normalized score, ``100 * (1 - mean normalized loss)``, where a run's normalized
  loss is ``(best - optimum) / (random - optimum)``: ``optimum`` is the known minimum of a
  synthetic function or the best loss any run ever found on a Bayesmark task, and ``random`` is the
  mean best loss of the random-search runs (evotune's and Optuna's) at the same budget. Random
  search scores about 0 and finding the optimum every time scores 100; a run's normalized loss is
  capped at 2, since on tasks where random search nearly reaches the optimum the denominator is
  tiny (where every random-search run finds the optimum, a run that misses it counts 2);
* the share of evaluations spent on a configuration already evaluated (duplicate waste);
* how many tasks each method beats random search on: a lower median best loss, or the same
  median best loss reached in fewer evaluations (median over seeds), which separates methods on
  tasks where every run finds the optimum.

Results are kept in a JSON file (``--results``), so a rerun only computes what is missing; pass
``--rerun evolution`` to recompute one method after changing it (only the runs of the chosen
tasks, budgets and seeds are made again).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
import tasks as task_module  # noqa: E402

METHODS = (
    "evolution", "random", "default", "optuna-tpe", "optuna-cmaes", "optuna-nsga2", "optuna-random",
    "ngopt", "gasearchcv",
)
RANDOM_METHODS = ("random", "optuna-random")
#: Bayesmark tasks of the default run: one per model kind (integer, log-scale, logit-scale
#: parameters) and a regression, cheap enough for a run of a few minutes.
DEFAULT_BAYESMARK = ("knn-wine", "svm-iris", "dt-wine", "dt-diabetes")
#: Methods that never see the budget: their run at a smaller budget is the start of their run at
#: the largest one (same seed), so only the largest is run and the others are read from it.
#: The package each peer method needs (module names as imported), checked before any run starts.
PEER_PACKAGES = (("optuna-cmaes", "cmaes", "cmaes"), ("optuna-", "optuna", "optuna"),
                 ("ngopt", "nevergrad", "nevergrad"), ("gasearchcv", "sklearn_genetic", "sklearn-genetic-opt"))
BUDGET_AGNOSTIC = ("random", "optuna-tpe", "optuna-cmaes", "optuna-nsga2", "optuna-random")
#: A run's normalized loss is capped here: where random search nearly reaches the optimum the
#: denominator is tiny, and one unlucky run would otherwise swamp every other task.
NORMALIZED_LOSS_CAP = 2.0
#: The raw results are saved at least this often (seconds) while runs finish.
SAVE_SECONDS = 300
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results" / "quality.json"


# --------------------------------------------------------------------------- running one job


class RecordingTask:
    """Wrap a task to record every parameter set it evaluates (to count duplicates)."""

    def __init__(self, task: task_module.Task):
        self.task = task
        self.space = task.space
        self.natural_space = task.natural_space
        self.keys: list[str] = []

    def __call__(self, params: dict[str, Any]) -> float:
        self.keys.append(configuration_key(self.natural_space, params))
        return self.task(params)


def configuration_key(natural_space: dict[str, tuple], params: dict[str, Any]) -> str:
    """Identity of a configuration as the model sees it (ints rounded, floats to 12 digits)."""
    natural = task_module.to_natural(natural_space, params)
    return json.dumps({k: f"{v:.12g}" if isinstance(v, float) else v for k, v in natural.items()})


def evotune_space(space: dict[str, tuple]) -> Any:
    import evotune as et

    result = {}
    for name, spec in space.items():
        if spec[0] == "cat":
            result[name] = et.Categorical(list(spec[1]))
        elif spec[0] == "int":
            result[name] = et.Int(spec[1], spec[2], log=spec[3] == "log")
        else:
            result[name] = et.Float(spec[1], spec[2], log=spec[3] == "log")
    return result


def run_evotune(task: RecordingTask, method: str, budget: int, seed: int) -> list[float]:
    import evotune as et
    from evotune.strategies import default_strategy

    logging.getLogger("evotune").setLevel(logging.WARNING)
    if method.startswith("evolution"):
        strategy: Any = et.EvolutionarySearch(seed=seed, **variant_settings(method))
    elif method == "random":
        strategy = et.RandomSearch(seed=seed)
    else:
        strategy = default_strategy(seed)
    study = et.Study(evotune_space(task.space), strategy=strategy)
    study.optimize(task, max_trials=budget, show_progress=False, catch=())
    return [trial.value for trial in study.trials]


def variant_settings(method: str) -> dict[str, Any]:
    """Settings of an EvolutionarySearch variant: ``evolution[candidates=1,mode="generational"]``."""
    if "[" not in method:
        return {}
    inner = method[method.index("[") + 1 : method.rindex("]")]
    return {k: json.loads(v) for k, v in (item.split("=", 1) for item in inner.split(",") if item)}


def run_job(job: tuple[str, str, int, int, bool]) -> tuple[tuple[str, str, int, int], dict[str, Any]]:
    """Run one (task, method, budget, seed); return its losses and duplicate count."""
    task_name, method, budget, seed, full = job
    task = task_module.find_task(task_name, full).for_seed(seed)
    start = time.perf_counter()
    if method == "gasearchcv":
        losses, duplicates = run_gasearchcv(task, budget, seed)
    else:
        recording = RecordingTask(task)
        if method.startswith("evolution") or method in ("random", "default"):
            losses = run_evotune(recording, method, budget, seed)
        elif method.startswith("optuna-"):
            losses = peers.run_optuna(recording, method.removeprefix("optuna-"), budget, seed)
        elif method == "ngopt":
            losses = peers.run_nevergrad(recording, budget, seed)
        else:
            raise ValueError(f"unknown method {method!r}")
        seen: set[str] = set()
        repeats = []
        for index, key in enumerate(recording.keys):
            if key in seen:
                repeats.append(index)
            seen.add(key)
        duplicates = len(repeats)
    record = {"losses": losses, "duplicates": duplicates, "seconds": time.perf_counter() - start}
    if method != "gasearchcv":
        record["repeats"] = repeats
    return (task_name, method, budget, seed), record


def run_gasearchcv(task: task_module.Task, budget: int, seed: int) -> tuple[list[float], int]:
    """GASearchCV until ``budget`` distinct configurations were fitted; return their losses."""
    proposals = int(budget * 1.4)
    while True:
        result = peers.run_genetic_search(task, proposals, seed)
        if result.unique_configurations >= budget or proposals > 20 * budget:
            break
        proposals = int(proposals * 1.3) + 1
    seen: set[str] = set()
    losses: list[float] = []
    used = 0
    for loss, configuration in zip(result.losses, result.configurations):
        used += 1
        key = json.dumps(configuration, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            losses.append(loss)
            if len(losses) == budget:
                break
    return losses, used - len(losses)


# --------------------------------------------------------------------------- scoring


#: Losses are compared at this many significant digits: two configurations with the same
#: cross-validated accuracy can differ in the last bits of its floating-point mean, and such noise
#: must not decide a rank.
SIGNIFICANT_DIGITS = 10


def significant(loss: float) -> float:
    return float(f"{loss:.{SIGNIFICANT_DIGITS}g}") if math.isfinite(loss) else loss


def best_so_far(losses: list[float], budget: int) -> float:
    finite = [x for x in losses[:budget] if x is not None and math.isfinite(x)]
    return significant(min(finite)) if finite else math.inf


def evaluations_to_reach(losses: list[float], budget: int, target: float) -> float:
    """How many evaluations a run took to find a loss at or below ``target`` (inf if never)."""
    for index, loss in enumerate(losses[:budget]):
        if loss is not None and math.isfinite(loss) and significant(loss) <= target:
            return index + 1
    return math.inf


def compare(results: dict, task: str, method: str, other: str, budget: int, seeds: list[int],
            medians: dict) -> str:
    """'better' / 'worse' on the median best loss; on equal medians, 'sooner' / 'later' / 'equal'
    on the median number of evaluations both took to reach that loss (ties broken by speed)."""
    ours, theirs = medians[(task, method)], medians[(task, other)]
    if ours != theirs:
        return "better" if ours < theirs else "worse"
    speed = {m: float(np.median([evaluations_to_reach(results[(task, m, budget, s)]["losses"], budget, ours)
                                 for s in seeds])) for m in (method, other)}
    if speed[method] == speed[other]:
        return "equal"
    return "sooner" if speed[method] < speed[other] else "later"


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1 (lowest value), ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def goal_checks(results: dict, tasks: list, present: dict, medians: dict, rank_sum: dict, families: list[str],
                budget: int, seeds: list[int]) -> list[str]:
    """EvolutionarySearch against the goals: random search, the peer GAs, Optuna's TPE."""
    lines = ["", "Goals for evolution:"]
    compared = [t for t in tasks if {"evolution", "random"} <= set(present[t.name])]
    if compared:
        verdicts = {t.name: compare(results, t.name, "evolution", "random", budget, seeds, medians) for t in compared}
        count = {v: sum(x == v for x in verdicts.values()) for v in ("better", "sooner", "equal", "later", "worse")}
        lines.append(
            f"- vs RandomSearch: better median best on {count['better']}/{len(compared)} tasks; same median "
            f"best reached sooner on {count['sooner']}, as soon on {count['equal']}, later on {count['later']}; "
            f"worse on {count['worse']} (goal: beats it on >= 90%)"
        )
        losses = [name for name, v in verdicts.items() if v in ("equal", "later", "worse")]
        if losses:
            lines.append("  not beaten: " + ", ".join(f"{name} ({verdicts[name]})" for name in losses))

    def mean(method: str, family: str) -> float | None:
        values = rank_sum[(method, family)]
        return float(np.mean(values)) if values else None

    for peer in ("optuna-nsga2", "gasearchcv", "optuna-tpe", "optuna-cmaes", "ngopt"):
        for family in ["all", *families] if peer != "gasearchcv" else ["bayesmark"]:
            ours, theirs = mean("evolution", family), mean(peer, family)
            if ours is None or theirs is None:
                continue
            verdict = "ahead" if ours < theirs else ("level" if ours == theirs else "BEHIND")
            lines.append(f"- mean rank vs {peer} ({family}): {ours:.2f} vs {theirs:.2f}, {verdict}")
    return lines


def summarize(results: dict, tasks: list, methods: list[str], budgets: list[int], seeds: list[int]) -> str:
    lines: list[str] = []
    families = sorted({t.family for t in tasks})
    overall_best: dict[str, float] = {}
    for task in tasks:
        found = [best_so_far(r["losses"], len(r["losses"])) for k, r in results.items() if k[0] == task.name]
        overall_best[task.name] = task.optimum if task.optimum is not None else min(found, default=math.inf)
    for budget in budgets:
        lines.append(f"\n## Budget {budget} evaluations ({len(seeds)} seeds)\n")
        present = {t.name: [m for m in methods if all((t.name, m, budget, s) in results for s in seeds)]
                   for t in tasks}
        best = {(t.name, m, s): best_so_far(results[(t.name, m, budget, s)]["losses"], budget)
                for t in tasks for m in present[t.name] for s in seeds}
        # median best-so-far table
        header = "| task | " + " | ".join(methods) + " |"
        lines += ["Median best loss found (lower is better; **bold** = best):", "", header,
                  "|" + "---|" * (len(methods) + 1)]
        medians: dict[tuple[str, str], float] = {}
        for task in tasks:
            for m in present[task.name]:
                medians[(task.name, m)] = float(np.median([best[(task.name, m, s)] for s in seeds]))
            row_best = min((medians[(task.name, m)] for m in present[task.name]), default=math.inf)
            cells = []
            for m in methods:
                if m not in present[task.name]:
                    cells.append("")
                    continue
                text = f"{medians[(task.name, m)]:.4g}"
                cells.append(f"**{text}**" if medians[(task.name, m)] == row_best else text)
            lines.append(f"| {task.name} | " + " | ".join(cells) + " |")
        # ranks, scores, wins, duplicates
        rank_sum: dict[tuple[str, str], list[float]] = defaultdict(list)
        normalized: dict[tuple[str, str], list[float]] = defaultdict(list)
        for task in tasks:
            names = present[task.name]
            if not names:
                continue
            for s in seeds:
                for m, r in zip(names, ranks([best[(task.name, m, s)] for m in names])):
                    rank_sum[(m, task.family)].append(r)
                    rank_sum[(m, "all")].append(r)
            randoms = [best[(task.name, m, s)] for m in RANDOM_METHODS if m in names for s in seeds]
            if not randoms:
                continue
            optimum = overall_best[task.name]
            span = float(np.mean(randoms)) - optimum
            for m in names:
                for s in seeds:
                    gap = best[(task.name, m, s)] - optimum
                    if span > 0:
                        value = min(gap / span, NORMALIZED_LOSS_CAP)
                    else:  # every random run found the optimum: a run that did not is the furthest off
                        value = 0.0 if gap <= 0 else NORMALIZED_LOSS_CAP
                    normalized[(m, task.family)].append(value)
                    normalized[(m, "all")].append(value)
        columns = ["all", *families]
        lines += ["", "Mean rank (lower is better) and normalized score (higher is better; random ~ 0):", "",
                  "| method | " + " | ".join(f"rank {c}" for c in columns) + " | "
                  + " | ".join(f"score {c}" for c in columns) + " | beats random | duplicate waste |",
                  "|" + "---|" * (2 * len(columns) + 3)]
        order = sorted(methods, key=lambda m: np.mean(rank_sum[(m, "all")]) if rank_sum[(m, "all")] else 99)
        for m in order:
            if not rank_sum[(m, "all")]:
                continue
            rank_cells = [f"{np.mean(rank_sum[(m, c)]):.2f}" if rank_sum[(m, c)] else "" for c in columns]
            score_cells = [f"{100 * (1 - np.mean(normalized[(m, c)])):.1f}" if normalized[(m, c)] else ""
                           for c in columns]
            compared = [t for t in tasks if m in present[t.name] and "random" in present[t.name]]
            wins = sum(compare(results, t.name, m, "random", budget, seeds, medians) in ("better", "sooner")
                       for t in compared)
            evaluations = sum(len(results[(t.name, m, budget, s)]["losses"]) for t in compared for s in seeds)
            wasted = sum(results[(t.name, m, budget, s)]["duplicates"] for t in compared for s in seeds)
            waste = f"{100 * wasted / max(evaluations + (wasted if m == 'gasearchcv' else 0), 1):.1f}%"
            lines.append(f"| {m} | " + " | ".join(rank_cells) + " | " + " | ".join(score_cells)
                         + f" | {wins}/{len(compared)} | {waste} |")
        lines += goal_checks(results, tasks, present, medians, rank_sum, families, budget, seeds)
    return "\n".join(lines)


# --------------------------------------------------------------------------- proposal cost


def proposal_cost(marks: tuple[int, ...] = (100, 1000, 5000), window: int = 200) -> str:
    """Median seconds per ``propose`` call once a history holds ``marks`` trials (CPU time)."""
    import evotune as et
    from evotune.strategies import History
    from evotune.trial import Trial, TrialState

    space = et.Space({
        "lr": et.Float(1e-5, 1e-1, log=True), "dropout": et.Float(0.0, 0.5, step=0.1),
        "depth": et.Int(2, 12), "units": et.Int(16, 1024, log=True),
        "act": et.Categorical(["relu", "tanh", "gelu"]), "x": et.Float(-1, 1), "y": et.Float(-1, 1),
    })

    def loss(p: dict[str, Any]) -> float:
        return (math.log10(p["lr"]) + 3) ** 2 + p["x"] ** 2 + (p["y"] - 0.3) ** 2 + 0.01 * p["depth"]

    strategies = {
        "EvolutionarySearch (steady-state)": et.EvolutionarySearch(seed=0),
        "EvolutionarySearch (generational)": et.EvolutionarySearch(seed=0, mode="generational"),
        "RandomSearch": et.RandomSearch(seed=0),
    }
    lines = ["| strategy | " + " | ".join(f"at {m} trials" for m in marks) + " |",
             "|" + "---|" * (len(marks) + 1)]
    for label, strategy in strategies.items():
        history = History(space, "minimize", budget=max(marks) + window)
        costs: list[float] = []
        cells = []
        for number in range(max(marks) + window):
            begin = time.process_time()
            proposal = strategy.propose(space, history, number)
            costs.append(time.process_time() - begin)
            history._record(Trial(
                number=number, params=proposal.params, state=TrialState.COMPLETE, value=loss(proposal.params),
                generation=proposal.generation, parents=proposal.parents, origin=proposal.origin,
            ))
            if number + 1 - window in marks:
                cells.append(f"{1000 * float(np.median(costs[-window:])):.2f} ms")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def derive_prefixes(results: dict, budgets: list[int]) -> None:
    """Fill the smaller budgets of budget-agnostic methods from the start of their longest run."""
    for (task, method, budget, seed), record in list(results.items()):
        if method not in BUDGET_AGNOSTIC or "repeats" not in record:
            continue
        for smaller in budgets:
            if smaller < budget and (task, method, smaller, seed) not in results:
                results[(task, method, smaller, seed)] = {
                    "losses": record["losses"][:smaller],
                    "duplicates": sum(index < smaller for index in record["repeats"]),
                    "repeats": [index for index in record["repeats"] if index < smaller],
                    "seconds": record["seconds"] * smaller / budget, "derived": True,
                }


def default_is_evolution() -> bool:
    """True when the study's default strategy is EvolutionarySearch with its default settings."""
    import evotune as et
    from evotune.strategies import default_strategy

    return default_strategy(0).to_config() == et.EvolutionarySearch(seed=0).to_config()


def copy_default_runs(results: dict) -> None:
    """The default strategy's runs are the EvolutionarySearch runs when both are the same strategy."""
    for (task, method, budget, seed), record in list(results.items()):
        if method == "evolution":
            results[(task, "default", budget, seed)] = {**record, "same_as": "evolution"}


def load_results(path: Path) -> dict:
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    return {tuple(json.loads(k)): v for k, v in raw.items()}


def save_results(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({json.dumps(list(k)): v for k, v in sorted(results.items())}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=("default", "wide", "full", "bbob"), default="default",
                        help="Bayesmark tasks: the 4 fast ones (default), the 27 whose evaluation takes "
                        "under 0.25 s (wide), or all 38 with 10 seeds (full, hours of work); or, instead, "
                        "the 24 functions of COCO's BBOB suite in 5 dimensions (bbob)")
    parser.add_argument("--full", action="store_true", help="the same as --suite full")
    parser.add_argument("--methods", default=None,
                        help="comma-separated methods (';'-separated when a variant such as "
                        "'evolution[candidates=1,crossover_rate=0.5]' has commas); default: all of them")
    parser.add_argument("--tasks", default="", help="comma-separated task names (default: all of the set)")
    parser.add_argument("--budgets", default="50,100", help="comma-separated evaluation budgets (default 50,100)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 5, --full 10)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    parser.add_argument("--results", type=Path, default=None,
                        help="JSON file of raw results (default: results/quality.json, or "
                        "quality-wide.json / quality-full.json / quality-bbob.json for those suites)")
    parser.add_argument("--rerun", default="", help="comma-separated methods to recompute")
    parser.add_argument("--proposal-cost", action="store_true",
                        help="only measure the cost of one proposal at 100, 1,000 and 5,000 trials")
    args = parser.parse_args(argv)
    if args.proposal_cost:
        print("Median CPU time of one proposal (7 parameters), with that many trials in the history:\n")
        print(proposal_cost())
        return

    if args.full:
        args.suite = "full"
    if args.methods is None:
        args.methods = ",".join(METHODS)
    if args.results is None:
        suffix = "" if args.suite == "default" else f"-{args.suite}"
        args.results = DEFAULT_RESULTS.with_name(f"quality{suffix}.json")
    methods = [m for m in args.methods.split(";" if ";" in args.methods else ",") if m]
    unknown = sorted(m for m in set(methods) - set(METHODS) if not m.startswith("evolution["))
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    missing = [(method, package) for method in methods for prefix, module, package in PEER_PACKAGES
               if method.startswith(prefix) and importlib.util.find_spec(module) is None]
    if missing:
        method, package = missing[0]
        parser.error(f"method {method!r} needs the package {package!r}: pip install {package} "
                     f"(or pip install -e '.[bench]'), or leave it out with --methods")
    args.full = args.suite != "default"  # the run jobs look tasks up among all of them
    tasks = task_module.bbob_tasks() if args.suite == "bbob" else task_module.all_tasks(args.full)
    if args.suite == "default":
        tasks = [t for t in tasks if t.family != "bayesmark" or t.name in DEFAULT_BAYESMARK]
    elif args.suite == "wide":
        tasks = [t for t in tasks if t.name not in task_module.SLOW_BAYESMARK]
    if args.tasks:
        wanted = set(args.tasks.split(","))
        missing = sorted(wanted - {t.name for t in tasks})
        if missing:
            parser.error(f"--tasks: {missing[0]!r} is not a task of the {args.suite} suite; choose from "
                         f"{', '.join(t.name for t in tasks)}")
        tasks = [t for t in tasks if t.name in wanted]
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = list(range(args.seeds or (10 if args.suite == "full" else 5)))
    results = load_results(args.results)
    chosen_tasks = {t.name for t in tasks}
    for key in [k for k in results if k[1] in set(args.rerun.split(",")) and k[0] in chosen_tasks
                and k[2] in budgets and k[3] in seeds]:  # only the runs this command would make again
        del results[key]
    largest = max(budgets)
    derive_prefixes(results, budgets)
    shared_default = "default" in methods and "evolution" in methods and default_is_evolution()
    if shared_default:
        methods_to_run = [m for m in methods if m != "default"]
        for key in [k for k in results if k[1] == "default"]:
            del results[key]
    else:
        methods_to_run = methods
    jobs = [(t.name, m, b, s, args.full) for t in tasks for m in methods_to_run for b in budgets for s in seeds
            if (t.name, m, b, s) not in results and not (m == "gasearchcv" and t.family != "bayesmark")
            and not (m in BUDGET_AGNOSTIC and b != largest)]
    # Longest jobs first keeps both cores busy until the end.
    slow = {t.name for t in tasks if t.family == "bayesmark"}
    jobs.sort(key=lambda job: (job[0] not in slow, -job[2]))
    print(f"{len(jobs)} runs to do ({len(tasks)} tasks, {len(methods)} methods, budgets {budgets}, "
          f"{len(seeds)} seeds), {args.jobs} processes", file=sys.stderr)
    start = saved = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=20) as pool:
        for done, (key, record) in enumerate(pool.imap_unordered(run_job, jobs), 1):
            results[key] = record
            # Every 25 runs, and at least every SAVE_SECONDS: runs of the slow tasks take minutes each.
            if done % 25 == 0 or done == len(jobs) or time.perf_counter() - saved > SAVE_SECONDS:
                save_results(args.results, results)
                saved = time.perf_counter()
                print(f"  {done}/{len(jobs)} runs, {saved - start:.0f} s", file=sys.stderr)
    derive_prefixes(results, budgets)
    if shared_default:
        copy_default_runs(results)
        print("The default strategy is EvolutionarySearch(): its column repeats that one.", file=sys.stderr)
    save_results(args.results, results)
    seconds = defaultdict(list)
    for key, record in results.items():
        if key[1] in methods and key[0] in chosen_tasks and key[2] in budgets and key[3] in seeds:
            seconds[key[1]].append(record["seconds"])
    print(summarize(results, tasks, methods, budgets, seeds))
    print("\nMean seconds per run (evaluations included; the machine is shared, so only a rough guide):")
    print(", ".join(f"{m} {np.mean(seconds[m]):.2f}" for m in methods if seconds[m]))


if __name__ == "__main__":
    main()
