"""Where a sweep's runs are computed, all behind one call: `execute(tasks, how, on_result)`.

- `serial`: in this process, one run after another (one worker, or one job-array task);
- `local`: a pool of worker processes on this machine, started by spawn (never fork: the
  parent's threads and HiGHS state must not be copied), each with BLAS pinned to one thread,
  each reusing its imports for every run it is given;
- `dask`: Dask workers, from a LocalCluster on 127.0.0.1, a scheduler at tcp://HOST:PORT, or
  SLURM jobs started by dask-jobqueue.

Results come back to this process, which writes them as they arrive.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from optimiser.sweep_spec import Slurm
from optimiser.sweep_worker import THREAD_VARIABLES, RunResult, Task, pin_threads, run_one

log = logging.getLogger(__name__)


class SchedulerError(RuntimeError):
    """The scheduler could not be started or reached."""


@dataclass(frozen=True)
class How:
    scheduler: str  # "local", "dask-local", "slurm" or tcp://HOST:PORT
    workers: int
    slurm: Slurm

    @property
    def label(self) -> str:
        if self.scheduler == "local":
            if self.workers == 1:
                return "this process alone"
            return f"a local pool of {self.workers} worker processes"
        if self.scheduler == "dask-local":
            return f"a Dask LocalCluster of {self.workers} workers"
        if self.scheduler == "slurm":
            jobs = -(-self.workers // self.slurm.cores)
            return (f"Dask on SLURM: {self.workers} workers in {jobs} job(s) of "
                    f"{self.slurm.cores} core(s)")  # fmt: skip
        return f"the Dask scheduler at {self.scheduler}"


def default_workers() -> int:
    """This task's CPUs under SLURM, else the cores this process may use."""
    given = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    return len(os.sched_getaffinity(0))


def execute(tasks: list[Task], how: How, on_result: Callable[[RunResult], bool]) -> None:
    """Run every task and hand each result to `on_result` as it arrives; `on_result` returns
    False to stop (the runs not started are dropped)."""
    if not tasks:
        return
    if how.scheduler == "local" and (how.workers == 1 or len(tasks) == 1):
        for task in tasks:
            if not on_result(run_one(task)):
                return
    elif how.scheduler == "local":
        _local_pool(tasks, how.workers, on_result)
    else:
        _dask(tasks, how, on_result)


@contextlib.contextmanager
def _one_thread_environment() -> Iterator[None]:
    """Thread variables at 1 while worker processes start (they inherit the environment and
    their BLAS reads it as it loads); restored afterwards."""
    saved = {n: os.environ.get(n) for n in THREAD_VARIABLES}
    os.environ.update({n: "1" for n in THREAD_VARIABLES})
    try:
        yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


def _local_pool(tasks: list[Task], workers: int, on_result: Callable[[RunResult], bool]) -> None:
    context = multiprocessing.get_context("spawn")
    with _one_thread_environment():
        pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context,
                                   initializer=pin_threads)  # fmt: skip
        # Two tasks queued per worker: enough to keep each busy, few to cancel on a stop.
        queue = iter(tasks)
        running = {pool.submit(run_one, t) for t in _take(queue, 2 * workers)}
    stopped = False
    try:
        while running and not stopped:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            stopped = not all(on_result(future.result()) for future in done)
            running |= {pool.submit(run_one, t) for t in _take(queue, len(done) * (not stopped))}
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        raise SchedulerError(
            "a worker process died (killed, or out of memory; --workers fewer if memory ran "
            "out)"
        ) from None
    except BaseException:  # interrupted: do not wait for the runs in flight
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True, cancel_futures=True)


def _take(queue: Iterator[Task], n: int) -> list[Task]:
    return [t for _, t in zip(range(n), queue, strict=False)]


def _dask(tasks: list[Task], how: How, on_result: Callable[[RunResult], bool]) -> None:
    from distributed import as_completed

    with _client(how) as client:
        futures = [client.submit(run_one, t, key=f"aidopt-run-{t.run}", pure=False)
                   for t in tasks]  # fmt: skip
        try:
            for future in as_completed(futures):
                if not on_result(future.result()):
                    return
        finally:
            client.cancel(futures)


@contextlib.contextmanager
def _client(how: How) -> Iterator:
    from distributed import Client, LocalCluster

    if how.scheduler == "dask-local":
        cluster = LocalCluster(n_workers=how.workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.ERROR)  # fmt: skip
        with cluster, Client(cluster) as client:
            yield client
    elif how.scheduler == "slurm":
        with _slurm_cluster(how) as cluster, Client(cluster) as client:
            try:
                client.wait_for_workers(1, timeout=how.slurm.start_timeout_s)
            except TimeoutError:
                raise SchedulerError(
                    f"no SLURM worker started within {how.slurm.start_timeout_s:g} s; see "
                    f"squeue and the jobs' slurm-*.out (slurm.start_timeout_s waits longer)"
                ) from None
            yield client
    else:
        try:
            client = Client(how.scheduler, timeout="30s")
        except OSError as exc:
            raise SchedulerError(f"--scheduler {how.scheduler}: cannot connect ({exc})") from None
        with client:
            yield client


@contextlib.contextmanager
def _slurm_cluster(how: How) -> Iterator:
    """Dask workers as SLURM jobs: one worker process per core, one thread each."""
    from dask_jobqueue import SLURMCluster

    s = how.slurm
    exports = " ".join(f"{n}=1" for n in THREAD_VARIABLES)
    host = s.scheduler_host
    local = host in ("127.0.0.1", "localhost", "::1")
    try:
        cluster = SLURMCluster(
            queue=s.queue, account=s.account, cores=s.cores, processes=s.cores,
            memory=f"{s.memory_mb}MB", walltime=s.walltime,
            job_script_prologue=[f"export {exports}", *s.prologue],
            job_extra_directives=list(s.directives), python=sys.executable,
            scheduler_options={"host": host, "dashboard_address": None},
            worker_extra_args=["--host", host] if local else [],
            job_name="aidopt-sweep",
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        raise SchedulerError(f"--scheduler slurm: cannot start ({exc})") from None
    with cluster:
        log.debug("SLURM job script:\n%s", cluster.job_script())
        cluster.scale(n=how.workers)
        yield cluster
