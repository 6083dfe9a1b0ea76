"""Running a sweep's tasks: in the calling process, over local worker processes, or on a
Dask cluster; results come back to the caller (which writes the cache and the files)
as each task finishes. The caller also passes the worker function (`evaluate_point`,
`evaluate_synth`): this module knows no kind of task. The worker must be a module-level
function, so that it pickles (by name) for the worker processes and Dask."""

from __future__ import annotations

import sys

from eie_hw.errors import EIEError

DASK_CONNECT_TIMEOUT = "20s"


def progress_bar(total: int, initial: int, enabled: bool, desc: str):
    """A tqdm bar on stderr (None without tqdm); `initial` counts the cached tasks."""
    try:
        from tqdm import tqdm
    except ImportError:          # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit="pt", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True, leave=True)


def run_tasks(tasks: list, jobs: int, scheduler: str | None, on_done, *, worker) -> None:
    """Run worker(task) for each of `tasks`, calling on_done(task, result) as each
    finishes (any order)."""
    if not tasks:
        return
    if scheduler:
        _execute_dask(tasks, scheduler, on_done, worker)
    elif jobs <= 1 or len(tasks) == 1:
        for task in tasks:
            on_done(task, worker(task))
    else:
        _execute_pool(tasks, jobs, on_done, worker)


def _execute_pool(tasks: list, jobs: int, on_done, worker) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    # fork: workers start at once with the modules already imported, and scripts that
    # call run_sweep need no `if __name__ == "__main__"` guard (spawn elsewhere).
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context)
    try:
        futures = {pool.submit(worker, task): task for task in tasks}
        for future in as_completed(futures):
            on_done(futures[future], future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _execute_dask(tasks: list, scheduler: str, on_done, worker) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise EIEError("--scheduler needs dask.distributed: pip install 'dask[distributed]' "
                       "(it is in the dev extra)") from None
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise EIEError(f"cannot reach the Dask scheduler at {scheduler} ({exc}): start one "
                       f"(`dask scheduler` and `dask worker ADDRESS` on each machine, with "
                       f"this project installed) or drop --scheduler") from None
    try:
        futures = client.map(worker, tasks, pure=False)
        index = {f.key: t for f, t in zip(futures, tasks)}
        for future in as_completed(futures):
            on_done(index[future.key], future.result())
    finally:
        client.close()
