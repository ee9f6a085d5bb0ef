"""Per-trial cost of the tuning machinery itself (ask + tell + storage), evotune beside Optuna.

The objective is trivial, so every millisecond measured is overhead. For each method and size N
the script reports the mean cost per trial of a study grown from 0 to N trials ("mean") and the
marginal cost of the last trials at N ("at N": a study pre-filled to N - 50 trials, then 50 timed
trials), the median of several repeats. Optuna runs in the same process with the same objective.
It also measures the load time and peak memory of a 100,000-trial evotune study on SQLite.

Run:  python benchmarks/overhead.py            (about 5 minutes)
      python benchmarks/overhead.py --quick    (smaller sizes, one repeat)
      python benchmarks/overhead.py --postgres postgresql://user:password@host/db
                                               (also both libraries on that PostgreSQL database,
                                               at 1,000 trials; `source .ci/postgres.sh` starts one)
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
import uuid
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


def _is_server(storage: str | None) -> bool:
    return bool(storage) and storage.startswith(("postgresql:", "postgresql+", "postgres:"))


def _drop(delete: Callable[[], None], name: str) -> None:
    """Delete a benchmark study from the server, warning (not raising) when that fails."""
    try:
        delete()
    except Exception as error:  # the timing is what matters; a leftover study is only untidy
        print(f"  (could not delete study {name!r}: {error})", file=sys.stderr)


def evotune_run(kind: str, storage: str | None, n: int, marginal: bool) -> float:
    # A database server outlives the run: each run gets a study of its own, deleted afterwards.
    name = f"bench-{uuid.uuid4().hex[:8]}" if _is_server(storage) else "bench"
    study = et.Study(SPACE, strategy=_evotune_strategy(kind), storage=storage, name=name)
    try:
        if marginal:
            study.optimize(objective, max_trials=n - MARGINAL)
            start = time.perf_counter()
            study.optimize(objective, max_trials=n)
            return (time.perf_counter() - start) / MARGINAL
        start = time.perf_counter()
        study.optimize(objective, max_trials=n)
        return (time.perf_counter() - start) / n
    finally:
        if name != "bench":
            _drop(lambda: study.storage.delete_study(name), name)


def _optuna_objective(trial) -> float:
    return objective({
        "x": trial.suggest_float("x", -5.0, 5.0), "y": trial.suggest_float("y", 1e-4, 1.0, log=True),
        "k": trial.suggest_int("k", 1, 64), "c": trial.suggest_categorical("c", ["a", "b", "c"]),
    })


def optuna_run(sampler: str, storage: str, n: int, marginal: bool, folder: str) -> float:
    """Optuna's cost per trial; ``storage`` is "memory", "sqlite", "journal" or a PostgreSQL URL."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler}
    name = None
    if storage == "memory":
        backend = None
    elif storage == "sqlite":
        backend = f"sqlite:///{folder}/optuna.db"
    elif storage == "journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        backend = JournalStorage(JournalFileBackend(f"{folder}/optuna.log"))
    else:  # the same server and driver (psycopg 3) as evotune's
        backend = "postgresql+psycopg://" + storage.split("://", 1)[1]
        name = f"bench-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(sampler=samplers[sampler](seed=0), storage=backend, study_name=name)
    try:
        return _time_optuna(optuna, study, n, marginal)
    finally:
        if name is not None:
            _drop(lambda: optuna.delete_study(study_name=name, storage=backend), name)


def _time_optuna(optuna, study, n: int, marginal: bool) -> float:
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


def overhead_table(
    sizes: list[int], repeats: int, include_slow: bool, postgres: str | None = None
) -> list[tuple[str, str, int, float, float]]:
    try:
        import optuna  # noqa: F401
        has_optuna = True
    except ImportError:
        has_optuna = False
        print("(optuna not installed: its rows are skipped; pip install optuna)")
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
    if postgres:
        rows += postgres_table(postgres, min(sizes), repeats, has_optuna)
    return rows


def postgres_table(url: str, n: int, repeats: int, has_optuna: bool) -> list[tuple[str, str, int, float, float]]:
    """Both libraries on one PostgreSQL database, ``n`` trials (Optuna's TPE only at N)."""
    rows = []
    for kind in ("random", "evolution"):
        mean = _median(lambda f, k=kind: evotune_run(k, url, n, False), repeats)
        last = _median(lambda f, k=kind: evotune_run(k, url, n, True), repeats)
        rows.append((f"evotune {kind}", "postgres", n, mean, last))
        print(f"  evotune {kind:9s} postgres n={n}: {mean * 1e3:.3f} / {last * 1e3:.3f} ms", flush=True)
    for sampler in ("random", "tpe") if has_optuna else ():
        mean = float("nan")
        if sampler == "random":
            mean = _median(lambda f, s=sampler: optuna_run(s, url, n, False, f), repeats)
        last = _median(lambda f, s=sampler: optuna_run(s, url, n, True, f), repeats)
        rows.append((f"optuna {sampler}", "postgres", n, mean, last))
        print(f"  optuna {sampler:10s} postgres n={n}: {mean * 1e3:.3f} / {last * 1e3:.3f} ms", flush=True)
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
    parser.add_argument("--quick", action="store_true",
                        help="sizes 1000 only, no scale test, one repeat unless --repeats is given")
    parser.add_argument("--slow", action="store_true", help="also time Optuna's slow mean-over-run cases")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of each measurement (default 3, --quick 1)")
    parser.add_argument("--scale", type=int, default=100_000, help="trials in the load/memory test (0: skip)")
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="also measure both libraries on this PostgreSQL database (at the smallest size)")
    args = parser.parse_args()
    if args.postgres:  # a wrong URL fails now, not after the other measurements
        et.storage.open_storage(args.postgres).close()
    sizes = [1000] if args.quick else [1000, 5000]
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; ms per trial (mean over run / at N)")
    rows = overhead_table(sizes, repeats, args.slow, args.postgres)
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
