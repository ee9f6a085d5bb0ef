"""Per-trial cost of the tuning machinery itself (ask + tell + storage), evotune beside Optuna.

The objective is trivial, so every millisecond measured is overhead. For each method and size N
the script reports the mean cost per trial of a study grown from 0 to N trials ("mean") and the
marginal cost of the last trials at N ("at N": a study pre-filled to N - 50 trials, then 50 timed
trials), the median of several repeats. Optuna runs in the same process with the same objective.
It also measures the load time and peak memory of a 100,000-trial evotune study on SQLite.

Run:  python benchmarks/overhead.py            (about 5 minutes)
      python benchmarks/overhead.py --quick    (smaller sizes, one repeat)
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import evotune as et

logging.getLogger("evotune").setLevel(logging.WARNING)

SPACE = {"x": et.Float(-5.0, 5.0), "y": et.Float(1e-4, 1.0, log=True), "k": et.Int(1, 64),
         "c": et.Categorical(["a", "b", "c"])}
MARGINAL = 50


def objective(params: dict) -> float:
    return params["x"] ** 2 + params["y"] + params["k"] / 64 + (params["c"] == "b")


def _evotune_strategy(kind: str) -> et.Strategy:
    if kind == "random":
        return et.RandomSearch(seed=0)
    if kind == "grid":
        return et.GridSearch(points=40, seed=0)
    return et.EvolutionarySearch(seed=0)  # type: ignore[attr-defined]


def evotune_run(kind: str, storage: str | None, n: int, marginal: bool) -> float:
    study = et.Study(SPACE, strategy=_evotune_strategy(kind), storage=storage, name="bench")
    if marginal:
        study.optimize(objective, max_trials=n - MARGINAL)
        start = time.perf_counter()
        study.optimize(objective, max_trials=n)
        return (time.perf_counter() - start) / MARGINAL
    start = time.perf_counter()
    study.optimize(objective, max_trials=n)
    return (time.perf_counter() - start) / n


def _optuna_objective(trial) -> float:
    return objective({
        "x": trial.suggest_float("x", -5.0, 5.0), "y": trial.suggest_float("y", 1e-4, 1.0, log=True),
        "k": trial.suggest_int("k", 1, 64), "c": trial.suggest_categorical("c", ["a", "b", "c"]),
    })


def optuna_run(sampler: str, storage: str, n: int, marginal: bool, folder: str) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler}
    if storage == "memory":
        backend = None
    elif storage == "sqlite":
        backend = f"sqlite:///{folder}/optuna.db"
    else:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        backend = JournalStorage(JournalFileBackend(f"{folder}/optuna.log"))
    study = optuna.create_study(sampler=samplers[sampler](seed=0), storage=backend)
    if marginal:
        # Pre-fill with finished trials drawn at random (cheap), then time the last ones.
        distributions = {
            "x": optuna.distributions.FloatDistribution(-5.0, 5.0),
            "y": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
            "k": optuna.distributions.IntDistribution(1, 64),
            "c": optuna.distributions.CategoricalDistribution(["a", "b", "c"]),
        }
        filler = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
        filler.optimize(_optuna_objective, n_trials=n - MARGINAL)
        study.add_trials([
            optuna.trial.create_trial(params=t.params, distributions=distributions, value=t.value)
            for t in filler.trials
        ])
        start = time.perf_counter()
        study.optimize(_optuna_objective, n_trials=MARGINAL)
        return (time.perf_counter() - start) / MARGINAL
    start = time.perf_counter()
    study.optimize(_optuna_objective, n_trials=n)
    return (time.perf_counter() - start) / n


def _median(run: Callable[[str], float], repeats: int) -> float:
    values = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            values.append(run(folder))
    return statistics.median(values)


def overhead_table(sizes: list[int], repeats: int, include_slow: bool) -> list[tuple[str, str, int, float, float]]:
    try:
        import optuna  # noqa: F401
        has_optuna = True
    except ImportError:
        has_optuna = False
    kinds = ["random", "grid"] + (["evolution"] if hasattr(et, "EvolutionarySearch") else [])
    rows = []
    for n in sizes:
        for kind in kinds:
            for storage in ("memory", "sqlite"):
                def run(folder: str, marginal: bool, kind=kind, storage=storage, n=n) -> float:
                    url = None if storage == "memory" else f"sqlite:///{folder}/evotune.db"
                    return evotune_run(kind, url, n, marginal)
                mean = _median(lambda f, run=run: run(f, False), repeats)
                last = _median(lambda f, run=run: run(f, True), repeats)
                rows.append((f"evotune {kind}", storage, n, mean, last))
                print(f"  evotune {kind:9s} {storage:7s} n={n}: {mean * 1e3:.3f} / {last * 1e3:.3f} ms", flush=True)
        if not has_optuna:
            continue
        for sampler in ("random", "tpe"):
            for storage in ("memory", "journal", "sqlite"):
                slow = storage == "sqlite" or (sampler == "tpe" and n > 1000)
                mean = float("nan")
                if not slow or include_slow:
                    mean = _median(lambda f, s=sampler, b=storage, n=n: optuna_run(s, b, n, False, f), repeats)
                last = _median(lambda f, s=sampler, b=storage, n=n: optuna_run(s, b, n, True, f),
                               max(1, repeats // 2))
                rows.append((f"optuna {sampler}", storage, n, mean, last))
                print(f"  optuna {sampler:10s} {storage:7s} n={n}: {mean * 1e3:.3f} / {last * 1e3:.3f} ms", flush=True)
    return rows


_PEAK = (
    "def peak_mb():\n"
    "    # VmHWM: this process's peak resident memory (ru_maxrss would include the parent's before exec)\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1]) / 1024\n"
)

_SCALE_SCRIPT = _PEAK + """
import sys, time, logging
import evotune as et
logging.getLogger("evotune").setLevel(logging.WARNING)
start = time.perf_counter()
study = et.Study.load("big", sys.argv[1])
trials = study.trials
best = study.best
elapsed = time.perf_counter() - start
print(f"{len(trials)} {elapsed:.3f} {peak_mb():.1f}")
"""


def scale(n: int) -> tuple[int, float, float]:
    """Write an n-trial study, then load it in a fresh process: (trials, seconds, peak MB)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/big.db"
        study = et.Study(SPACE, strategy=et.RandomSearch(seed=0), storage=url, name="big")
        study.optimize(objective, max_trials=n)
        baseline = subprocess.run(
            [sys.executable, "-c", _PEAK + "import evotune\nprint(peak_mb())"],
            capture_output=True, text=True, check=True,
        )
        out = subprocess.run([sys.executable, "-c", _SCALE_SCRIPT, url], capture_output=True, text=True, check=True)
        count, seconds, peak = out.stdout.split()
        print(f"  (interpreter + evotune import alone: {float(baseline.stdout):.1f} MB)")
        return int(count), float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes 1000 only, one repeat, no scale test")
    parser.add_argument("--slow", action="store_true", help="also time Optuna's slow mean-over-run cases")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=int, default=100_000, help="trials in the load/memory test (0: skip)")
    args = parser.parse_args()
    sizes = [1000] if args.quick else [1000, 5000]
    repeats = 1 if args.quick else args.repeats
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; ms per trial (mean over run / at N)")
    rows = overhead_table(sizes, repeats, args.slow)
    print("\n| method | storage | N | mean ms/trial (0..N) | ms/trial at N |")
    print("|---|---|---|---|---|")
    for method, storage, n, mean, last in rows:
        mean_text = "-" if mean != mean else f"{mean * 1e3:.3f}"
        print(f"| {method} | {storage} | {n} | {mean_text} | {last * 1e3:.3f} |")
    if not args.quick and args.scale:
        count, seconds, peak = scale(args.scale)
        print(f"\nscale: a {count:,}-trial SQLite study loads in {seconds:.2f} s, peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
