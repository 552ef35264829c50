"""Studies on real cluster engines: a Dask scheduler and two workers started as separate processes
on loopback (a small ``lamina nn`` study run through them with PostgreSQL storage), and a Ray
head node on loopback."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import distributed  # the 'cluster' extra (in dev: the suite runs these wherever it runs)

from lamina.cli import main


@pytest.fixture
def dask_cluster(tmp_path):
    """(scheduler file, address): `dask scheduler` + 2 × `dask worker`, 1 thread each."""
    dask = str(pathlib.Path(sys.executable).with_name("dask"))
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["--no-dashboard"]
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--scheduler-file", str(scheduler_file), *common],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scheduler_file.exists(), "the Dask scheduler did not start"
        for _ in range(2):
            processes.append(subprocess.Popen([dask, "worker", "--scheduler-file", str(scheduler_file),
                                               "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                                               *common],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        with distributed.Client(scheduler_file=str(scheduler_file), timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
        yield scheduler_file, json.loads(scheduler_file.read_text())["address"]
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.slow
def test_nn_study_runs_on_a_dask_cluster_with_postgresql(dask_cluster, postgres_url, tmp_path, capsys):
    scheduler_file, address = dask_cluster
    with distributed.Client(scheduler_file=str(scheduler_file), timeout=30) as client:
        with distributed.get_task_stream(client) as stream:
            code = main(["nn", "--methods", "none", "uniform", "--seeds", "2", "--epochs", "2", "--hidden", "8",
                         "--storage", postgres_url, "--study", "on-dask", "--workers", "2", "--backend", "dask",
                         "--scheduler", address, "--out", str(tmp_path / "out"), "--json"])
        tasks = stream.data
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] == [] and result["missing"] == []
    assert {row["method"] for row in result["results"]} == {"none", "uniform"}
    workers = {task["worker"] for task in tasks}
    assert len(tasks) >= 2 and len(workers) == 2          # both cluster workers ran study workers


def test_cluster_options_get_clear_errors(tmp_path, capsys, monkeypatch):
    import lamina.studies.cluster as cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)   # a closed port: Dask retries until the timeout
    argv = ["nn", "--methods", "none", "--seeds", "1", "--epochs", "1", "--hidden", "4", "--out", str(tmp_path)]
    assert main(argv + ["--backend", "dask"]) == 1
    assert "--scheduler" in capsys.readouterr().err
    assert main(argv + ["--scheduler", "tcp://127.0.0.1:1"]) == 1
    assert "need --backend dask" in capsys.readouterr().err
    assert main(argv + ["--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"]) == 1
    assert "cannot reach a Dask scheduler" in capsys.readouterr().err


@pytest.fixture
def ray_cluster():
    """A Ray head node on loopback (`ray start --head`, 2 CPUs), stopped afterwards."""
    ray_cli = str(pathlib.Path(sys.executable).with_name("ray"))
    port = "6391"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    short = tempfile.mkdtemp(prefix="ray")   # Ray's socket paths must stay under 107 bytes
    started = subprocess.run([ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", port,
                              "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
                              "--temp-dir", short], env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(short, ignore_errors=True)


@pytest.mark.slow
def test_nn_study_runs_on_a_ray_cluster(ray_cluster, tmp_path, capsys):
    code = main(["nn", "--methods", "none", "uniform", "--seeds", "2", "--epochs", "2", "--hidden", "8",
                 "--storage", str(tmp_path / "study.db"), "--workers", "2", "--backend", "ray",
                 "--address", ray_cluster, "--out", str(tmp_path / "out"), "--json"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] == [] and result["missing"] == []
    assert {row["method"] for row in result["results"]} == {"none", "uniform"}
