import os

from vidray.runtime import ray_session, ray_temp_dir


def test_running_ray_is_reused_and_left_running(ray_local):
    with ray_session(address="ray://unreachable:1"):  # an initialised Ray wins over any address
        assert ray_local.is_initialized()
    assert ray_local.is_initialized()
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"


def test_temp_dir_is_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDRAY_RAY_TMPDIR", str(tmp_path))
    assert ray_temp_dir() == str(tmp_path)
    monkeypatch.delenv("VIDRAY_RAY_TMPDIR")
    assert "vidray-ray" in ray_temp_dir()


def test_task_flags_become_the_declared_resources_of_cpu_stages():
    from vidray.cli_flags import OneLineParser, add_ray_flags, scale_of
    from vidray.stage import Resources, Stage

    parser = OneLineParser(prog="t")
    add_ray_flags(parser)
    scale = scale_of(parser.parse_args(["--task-cpus", "2", "--task-resources", "decode=1", "ssd=0.5"]))
    work = Stage("w", len, Resources(cpus=1, memory=2**20))
    options = work.map_options(scale)
    assert (options["num_cpus"], options["memory"], options["resources"]) == (2.0, 2**20, {"decode": 1.0, "ssd": 0.5})
    assert options["compute"].size is None  # unbounded: the autoscaler sees the whole demand
    model = Stage("m", type("Model", (), {}), Resources(cpus=1, gpus=1), min_actors=1, max_actors=4,
                  cpu_work=False)
    options = model.map_options(scale)
    assert options["num_gpus"] == 1 and "resources" not in options
    assert (options["compute"].min_size, options["compute"].max_size) == (1, 4)
    capped = scale_of(parser.parse_args(["--workers", "3"]))
    assert work.map_options(capped)["compute"].size == 3 and work.map_options(capped)["num_cpus"] == 1.0


def test_bad_task_resources_flag_is_a_one_line_error(tmp_path, capsys):
    from vidray.cli import main

    assert main(["synth", "moving-mnist", str(tmp_path / "o"), "--task-resources", "decode"]) == 2
    assert "--task-resources 'decode'" in capsys.readouterr().err


LISTENERS_SCRIPT = r'''
import json, os, sys
from vidray.runtime import ray_session

def listening():
    """Local address of every listening TCP socket on the machine, by socket inode (from /proc/net)."""
    found = {}
    for name in ("tcp", "tcp6"):
        with open(f"/proc/net/{name}") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A":  # LISTEN
                    found[cols[9]] = cols[1].split(":")[0]
    return found

def descendants(root):
    children = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [str(root)]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out

import ray, time
time.sleep(max(0.0, float(os.environ["START_AT"]) - time.time()))  # both runs start Ray at the same moment
with ray_session(num_cpus=1, dashboard=True):
    # both Rays up: a worker's state-API call with no address must still find its own Ray
    open(os.path.join(os.environ["READY_DIR"], str(os.getpid())), "w").close()
    while len(os.listdir(os.environ["READY_DIR"])) < 2:
        time.sleep(0.2)

    @ray.remote
    def own_state():
        from ray.util.state import list_nodes
        return len(list_nodes())

    assert ray.get(own_state.remote()) == 1
    ray.get(ray.remote(lambda: 1).remote())  # a worker process too
    sockets = listening()
    mine = []
    for pid in descendants(os.getpid()):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            inode = target[len("socket:["):-1] if target.startswith("socket:[") else None
            if inode in sockets:
                mine.append(sockets[inode])
    print(json.dumps(mine))
'''


def test_local_ray_listens_on_loopback_only():
    """Every socket a local vidray Ray listens on (GCS, raylet, dashboard, agents, workers) is bound to
    127.0.0.1; two runs started at the same moment both start (they would race for the dashboard port),
    and while both run, Ray's state API called in a worker with no address finds its own Ray."""
    import json
    import shutil
    import subprocess
    import sys
    import tempfile

    temp = tempfile.mkdtemp(prefix="vr-", dir="/tmp")  # Ray's socket paths must stay under 107 bytes
    import time

    from vidray.runtime import dashboard_port

    env = {**os.environ, "VIDRAY_RAY_TMPDIR": temp, "RAY_USAGE_STATS_ENABLED": "0", "START_AT": str(time.time() + 8),
           "VIDRAY_DASHBOARD_PORT": str(dashboard_port(preferred=0)),  # free now: both runs prefer it
           "READY_DIR": tempfile.mkdtemp(prefix="ready-", dir=temp)}
    env.pop("RAY_ADDRESS", None)
    procs = [subprocess.Popen([sys.executable, "-c", LISTENERS_SCRIPT], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    shutil.rmtree(temp, ignore_errors=True)
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    addresses = [a for out, _ in outs for a in json.loads(out.strip().splitlines()[-1])]
    assert len(addresses) >= 4, addresses  # the GCS, the raylet, its agents and a worker at least
    loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
    assert set(addresses) <= loopback, addresses
