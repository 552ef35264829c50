"""Study workers on a cluster engine that already runs: Dask (``distributed``) or Ray.

``lamina nn --backend dask --scheduler tcp://HOST:8786 --workers 4`` connects to an existing
Dask scheduler and runs the study's workers as tasks on its workers; ``--backend ray
--address HOST:6379`` does the same on a Ray cluster. Either way the cells are still claimed
through the study's storage (see :mod:`lamina.studies.runner`): the cluster only provides the
processes, so the storage must be one every cluster worker reaches — a PostgreSQL URL for
workers on other machines (a SQLite file works only for workers sharing this file system).

Nothing is started or shut down here but the client's connection, which is closed when the
study ends. The cluster's workers need lamina (and PyTorch for ``lamina nn``) installed.
"""
from __future__ import annotations

import contextlib

CONNECT_TIMEOUT_S = 20


@contextlib.contextmanager
def cluster_backend(backend: str | None, *, scheduler: str | None = None, address: str | None = None):
    """Connect to the named cluster for the duration of the block; yields the joblib backend.

    ``backend`` None or "loky": this machine's processes (``scheduler``/``address`` refused).
    "dask": a ``distributed.Client`` on ``scheduler`` (an address or a scheduler file).
    "ray": ``ray.init(address)`` and Ray's joblib backend.
    """
    if backend in (None, "loky", "multiprocessing", "threading"):
        if scheduler or address:
            raise ValueError("--scheduler/--address need --backend dask or --backend ray")
        yield backend
    elif backend == "dask":
        with _dask(scheduler) as name:
            yield name
    elif backend == "ray":
        with _ray(address) as name:
            yield name
    else:
        raise ValueError(f"--backend must be one of 'loky', 'dask', 'ray'; got {backend!r}")


@contextlib.contextmanager
def _dask(scheduler: str | None):
    if not scheduler:
        raise ValueError("--backend dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786) of a running "
                         "Dask scheduler, or the path of its scheduler file")
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("--backend dask needs the distributed package: pip install 'lamina[cluster]'") from None
    is_file = scheduler.endswith(".json")
    try:
        client = (Client(scheduler_file=scheduler, timeout=CONNECT_TIMEOUT_S) if is_file
                  else Client(scheduler, timeout=CONNECT_TIMEOUT_S))
    except (OSError, TimeoutError) as error:
        raise OSError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there "
                      f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no answer'})") from None
    try:
        yield "dask"
    finally:
        client.close()


@contextlib.contextmanager
def _ray(address: str | None):
    if not address:
        raise ValueError("--backend ray needs --address HOST:PORT of a running Ray cluster ('auto' for the local one)")
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError:
        raise ImportError("--backend ray needs Ray: pip install 'ray[default]'") from None
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    except ConnectionError as error:
        raise OSError(f"--address {address}: cannot reach a Ray cluster there ({error})") from None
    register_ray()
    try:
        yield "ray"
    finally:
        ray.shutdown()
