"""Parallel and distributed tuning: speed-up, Dask overhead, many workers on one study.

Four measurements, each the median of several repeats (the machine may be shared, so the
repeats of competing setups are interleaved):

1. Throughput of 0.2 s CPU-bound trials: evotune ``n_jobs=1`` vs ``n_jobs=2`` (worker
   processes), beside Optuna ``n_jobs=1`` vs ``n_jobs=2`` (threads). Every trial does the same
   fixed amount of pure-Python work, calibrated to 0.2 s on one core. evotune is timed with
   warm worker processes (a first call started them; they are reused) and cold (the timed
   call starts them).
2. Overhead per trial through Dask: a trivial objective on ``distributed.LocalCluster``
   (2 worker processes, 1 thread each) vs the same study run inline.
3. Many workers, one study: 4 OS processes call ``optimize`` on the same study with a global
   budget of 1,000 trials (about 250 each), on SQLite and on PostgreSQL; counts of recorded,
   lost and duplicated trials and of storage errors. Beside it, Optuna's nearest equivalent:
   4 processes with ``MaxTrialsCallback(1000)`` on the same kind of storage.

Run:  python benchmarks/parallel.py                    (about 4 minutes)
      python benchmarks/parallel.py --quick            (fewer trials and repeats)
      python benchmarks/parallel.py --postgres URL     (default: $EVOTUNE_TEST_POSTGRES_URL)
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable

import evotune as et
from evotune.execution import shutdown_pool

logging.getLogger("evotune").setLevel(logging.WARNING)
SPACE = {"x": et.Float(-5.0, 5.0), "k": et.Int(1, 64)}


# -- objectives ---------------------------------------------------------------------------------
def spin(iterations: int) -> float:
    total = 0.0
    for i in range(iterations):
        total += i % 7
    return total


def calibrate(seconds: float) -> int:
    """Iterations of :func:`spin` that take ``seconds`` on one core (best of five)."""
    probe = 2_000_000
    best = min(_timed(spin, probe) for _ in range(5))
    return int(probe * seconds / best)


def _timed(function: Callable[[int], object], argument: int) -> float:
    start = time.perf_counter()
    function(argument)
    return time.perf_counter() - start


class Busy:
    """A CPU-bound objective: a fixed amount of work per trial (picklable, no closure)."""

    def __init__(self, iterations: int):
        self.iterations = iterations

    def __call__(self, params: dict) -> float:
        spin(self.iterations)
        return (params["x"] - 1.0) ** 2 + params["k"] / 64


def trivial(params: dict) -> float:
    return (params["x"] - 1.0) ** 2 + params["k"] / 64


# -- 1. throughput ------------------------------------------------------------------------------
def evotune_wall(busy: Busy, trials: int, n_jobs: int, warm: bool) -> float:
    shutdown_pool()
    if warm and n_jobs > 1:
        et.Study(SPACE).optimize(busy, max_trials=n_jobs, n_jobs=n_jobs)  # starts the workers
    study = et.Study(SPACE, strategy=et.RandomSearch(seed=0))
    start = time.perf_counter()
    study.optimize(busy, max_trials=trials, n_jobs=n_jobs)
    return time.perf_counter() - start


def optuna_wall(busy: Busy, trials: int, n_jobs: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial):
        return busy({"x": trial.suggest_float("x", -5.0, 5.0), "k": trial.suggest_int("k", 1, 64)})

    start = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=n_jobs)
    return time.perf_counter() - start


def throughput(trials: int, repeats: int) -> None:
    busy = Busy(calibrate(0.2))
    setups: dict[str, Callable[[], float]] = {
        "evotune n_jobs=1": lambda: evotune_wall(busy, trials, 1, warm=False),
        "evotune n_jobs=2 (warm workers)": lambda: evotune_wall(busy, trials, 2, warm=True),
        "evotune n_jobs=2 (cold: starts them)": lambda: evotune_wall(busy, trials, 2, warm=False),
    }
    try:
        import optuna  # noqa: F401

        setups["optuna n_jobs=1"] = lambda: optuna_wall(busy, trials, 1)
        setups["optuna n_jobs=2 (threads)"] = lambda: optuna_wall(busy, trials, 2)
    except ImportError:
        print("(optuna not installed: its rows are skipped)")
    walls: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(repeats):
        for name, run in setups.items():
            walls[name].append(run())
    print(f"\n1. Throughput, {trials} CPU-bound trials of 0.2 s ({busy.iterations:,} loop iterations), "
          f"{os.cpu_count()} cores, median of {repeats}")
    print(f"{'setup':40} {'wall s':>8} {'trials/s':>9} {'speed-up':>9}   all walls")
    base = {"evotune": statistics.median(walls["evotune n_jobs=1"])}
    if "optuna n_jobs=1" in walls:
        base["optuna"] = statistics.median(walls["optuna n_jobs=1"])
    for name, values in walls.items():
        wall = statistics.median(values)
        print(f"{name:40} {wall:8.2f} {trials / wall:9.2f} {base[name.split()[0]] / wall:8.2f}x   "
              + " ".join(f"{v:.2f}" for v in values))


# -- 2. Dask overhead ---------------------------------------------------------------------------
def dask_overhead(trials: int, repeats: int) -> None:
    try:
        import distributed
    except ImportError:
        print("\n2. Dask: not installed (pip install 'dask[distributed]'); skipped")
        return
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    try:
        def run(executor: object, max_concurrent: int | None) -> float:
            study = et.Study(SPACE, strategy=et.RandomSearch(seed=0))
            start = time.perf_counter()
            study.optimize(trivial, max_trials=trials, executor=executor, max_concurrent=max_concurrent)
            return (time.perf_counter() - start) / trials * 1000

        run(client.get_executor(), None)  # warm-up: workers load the objective
        rows: dict[str, list[float]] = {"inline (no executor)": [], "dask, full cluster": [],
                                        "dask, one trial at a time": []}
        for _ in range(repeats):
            rows["inline (no executor)"].append(run(None, None))
            rows["dask, full cluster"].append(run(client.get_executor(), None))
            rows["dask, one trial at a time"].append(run(client.get_executor(), 1))
        raw = []
        executor = client.get_executor(pure=False)
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(200):
                executor.submit(trivial, {"x": 0.0, "k": i}).result()
            raw.append((time.perf_counter() - start) / 200 * 1000)
    finally:
        client.close()
        cluster.close()
    inline = statistics.median(rows["inline (no executor)"])
    print(f"\n2. Dask LocalCluster (2 worker processes x 1 thread), {trials} trivial trials, "
          f"median of {repeats}")
    print(f"{'setup':34} {'ms/trial':>9} {'overhead ms':>12}   all")
    for name, values in rows.items():
        value = statistics.median(values)
        print(f"{name:34} {value:9.2f} {value - inline:12.2f}   " + " ".join(f"{v:.2f}" for v in values))
    print(f"{'bare dask submit+result (no study)':34} {statistics.median(raw):9.2f} {'':12}   "
          + " ".join(f"{v:.2f}" for v in raw))


# -- 3. many workers, one study -----------------------------------------------------------------
def _evotune_worker(url: str, name: str, budget: int, barrier, results) -> None:
    logging.getLogger("evotune").setLevel(logging.ERROR)
    try:
        study = et.Study(SPACE, storage=url, name=name, strategy=et.RandomSearch(seed=0))
        barrier.wait(timeout=120)
        start = time.perf_counter()
        study.optimize(trivial, max_trials=budget)
        ran = sum(1 for t in study.trials if t.attrs.get("worker", "").endswith(f":{os.getpid()}"))
        results.put(("ok", ran, time.perf_counter() - start))
    except Exception as error:  # noqa: BLE001 - counted as a storage error
        results.put(("error", f"{type(error).__name__}: {error}".splitlines()[0][:200], 0.0))


def _optuna_worker(url: str, name: str, budget: int, barrier, results) -> None:
    import optuna
    from optuna.study import MaxTrialsCallback

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = optuna.create_study(storage=url, study_name=name, load_if_exists=True,
                                    sampler=optuna.samplers.RandomSampler(seed=os.getpid()))
        barrier.wait(timeout=120)
        start = time.perf_counter()
        ran = [0]

        def objective(trial):
            ran[0] += 1
            return trivial({"x": trial.suggest_float("x", -5.0, 5.0), "k": trial.suggest_int("k", 1, 64)})

        study.optimize(objective, callbacks=[MaxTrialsCallback(budget, states=None)])
        results.put(("ok", ran[0], time.perf_counter() - start))
    except Exception as error:  # noqa: BLE001 - counted as a storage error
        results.put(("error", f"{type(error).__name__}: {error}".splitlines()[0][:200], 0.0))


def many_workers(library: str, url: str, workers: int, budget: int) -> dict[str, object]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    name = f"parallel-{uuid.uuid4().hex[:8]}"
    if library == "optuna":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        optuna.create_study(storage=url, study_name=name)
    target = _evotune_worker if library == "evotune" else _optuna_worker
    processes = [context.Process(target=target, args=(url, name, budget, barrier, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=900) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    errors = [detail for kind, detail, _ in outcomes if kind == "error"]
    if library == "evotune":
        trials = et.Study.load(name, url).trials
        numbers = [t.number for t in trials]
        done = sum(t.state is et.TrialState.COMPLETE for t in trials)
        keys = {tuple(sorted(t.params.items())) for t in trials}
    else:
        import optuna

        trials = optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
        numbers = [t.number for t in trials]
        done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        keys = {tuple(sorted(t.params.items())) for t in trials}
    wall = max(seconds for _, _, seconds in outcomes)
    return {
        "recorded": len(trials), "complete": done, "lost": len(trials) - done,
        "dup numbers": len(numbers) - len(set(numbers)), "dup params": len(trials) - len(keys),
        "errors": len(errors), "per worker": sorted(ran for kind, ran, _ in outcomes if kind == "ok"),
        "trials/s": len(trials) / wall if wall else 0.0, "detail": errors[:2],
    }


def shared_study(postgres: str | None, workers: int, budget: int) -> None:
    print(f"\n3. {workers} processes, one study, global budget {budget} (about {budget // workers} each)")
    print(f"{'library / storage':26} {'recorded':>8} {'complete':>8} {'lost':>5} {'dup no.':>7} "
          f"{'dup params':>10} {'errors':>6} {'trials/s':>9}  per worker")
    with tempfile.TemporaryDirectory() as folder:
        storages = [("sqlite", f"sqlite:///{folder}/shared.db", f"sqlite:///{folder}/optuna.db")]
        if postgres:
            storages.append(("postgresql", postgres, postgres))
        libraries = ["evotune"]
        try:
            import optuna  # noqa: F401

            libraries.append("optuna")
        except ImportError:
            print("(optuna not installed: its rows are skipped)")
        for kind, url, optuna_url in storages:
            for library in libraries:
                try:
                    row = many_workers(library, url if library == "evotune" else _optuna_url(optuna_url),
                                       workers, budget)
                except Exception:  # noqa: BLE001 - report and go on with the next row
                    print(f"{library + ' / ' + kind:26} failed: {traceback.format_exc().splitlines()[-1]}")
                    continue
                print(f"{library + ' / ' + kind:26} {row['recorded']:8} {row['complete']:8} {row['lost']:5} "
                      f"{row['dup numbers']:7} {row['dup params']:10} {row['errors']:6} {row['trials/s']:9.1f}  "
                      f"{row['per worker']}" + (f"  e.g. {row['detail'][0]}" if row["detail"] else ""))
    if not postgres:
        print("(PostgreSQL skipped: give --postgres URL or set EVOTUNE_TEST_POSTGRES_URL)")


def _optuna_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials and repeats")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of each measurement (default 3, --quick 1)")
    parser.add_argument("--postgres", default=os.environ.get("EVOTUNE_TEST_POSTGRES_URL"), metavar="URL",
                        help="also run the shared-study test on this PostgreSQL database "
                             "(default: EVOTUNE_TEST_POSTGRES_URL)")
    parser.add_argument("--only", choices=["throughput", "dask", "shared"], action="append",
                        help="run only this section (repeat for several)")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    only = set(args.only or ["throughput", "dask", "shared"])
    print(f"python {sys.version.split()[0]}, evotune {et.__version__}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    if "throughput" in only:
        throughput(10 if args.quick else 30, repeats)
    if "dask" in only:
        dask_overhead(100 if args.quick else 400, repeats)
    if "shared" in only:
        shared_study(args.postgres, 4, 200 if args.quick else 1000)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
