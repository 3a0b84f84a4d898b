"""k8s/rayjob.yaml is a KubeRay RayJob with what vidray's patch job relies on: a head that takes no work,
a CPU group declaring `decode`, a GPU group, one shared volume at one path, and an entrypoint that
vidray's own parser accepts with absolute paths on that volume."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path, PurePosixPath

import ray
import yaml

import vidray

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from test_cluster_config import ray_start_flags, vidray_parse_error  # noqa: E402


def load_manifests() -> dict[str, dict]:
    """The documents of k8s/rayjob.yaml by kind."""
    docs = [d for d in yaml.safe_load_all((ROOT / "k8s" / "rayjob.yaml").read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one document per kind"
    return by_kind


def groups(cluster: dict) -> dict[str, dict]:
    """Head and worker groups by name ("head" for the head)."""
    return {"head": cluster["headGroupSpec"], **{g["groupName"]: g for g in cluster["workerGroupSpecs"]}}


def ray_container(group: dict) -> dict:
    """The Ray container: KubeRay runs `ray start` in the pod's first container."""
    return group["template"]["spec"]["containers"][0]


def start_resources(group: dict) -> dict[str, float]:
    """Custom resources the group's `ray start` declares, decoded as KubeRay passes them
    (`--resources=<value>` in a shell command line)."""
    value = group.get("rayStartParams", {}).get("resources")
    if value is None:
        return {}
    words = shlex.split(f"--resources={value}")
    assert len(words) == 1, f"resources {value!r} reaches ray start as {words}: quote it as '\"{{...}}\"'"
    return json.loads(words[0].removeprefix("--resources="))


def entrypoint_args(job: dict):
    """The entrypoint parsed by vidray's own argparse tree."""
    from vidray.cli import build_parser

    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[0] == "vidray"
    error = vidray_parse_error(argv[1:])
    assert error is None, error
    return build_parser().parse_args(argv[1:])


def test_a_rayjob_that_deletes_its_cluster_when_done():
    job = load_manifests()["RayJob"]
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] >= 0
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__  # the Ray the tests ran against
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["autoscalerOptions"]["version"] == "v2"
    # KubeRay refuses autoscaler v2 with a restartPolicy other than Never, and v2 set twice.
    for name, group in groups(cluster).items():
        assert group["template"]["spec"].get("restartPolicy", "Never") == "Never", name
        assert all(e["name"] != "RAY_enable_autoscaler_v2" for e in ray_container(group).get("env", [])), name


def test_head_takes_no_work_and_every_start_param_is_a_ray_start_flag():
    cluster = load_manifests()["RayJob"]["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    for name, group in groups(cluster).items():
        params = group.get("rayStartParams", {})
        assert all(isinstance(v, str) for v in params.values()), (name, params)  # the CRD's map[string]string
        unknown = {f"--{k}" for k in params} - ray_start_flags()
        assert not unknown, (name, unknown)


def test_decode_lives_on_the_cpu_group_and_the_gpu_group_has_a_gpu():
    job = load_manifests()["RayJob"]
    cluster = job["spec"]["rayClusterSpec"]
    by_name = groups(cluster)
    declaring_decode = [n for n, g in by_name.items() if start_resources(g).get("decode", 0) > 0]
    assert declaring_decode == ["cpu"]
    cpu = by_name["cpu"]
    assert cpu["minReplicas"] == 0 and cpu["maxReplicas"] >= 1 and cpu["replicas"] == 0
    assert "nvidia.com/gpu" not in ray_container(cpu)["resources"].get("limits", {})
    # What the entrypoint's tasks ask for, one pod of the group can give.
    args = entrypoint_args(job)
    from vidray.cli_flags import scale_of

    asked = scale_of(args).task_resources
    assert asked and all(start_resources(cpu).get(r, 0) >= amount for r, amount in asked.items()), asked
    gpu_groups = [g for g in by_name.values() if int(ray_container(g)["resources"].get("limits", {})
                                                      .get("nvidia.com/gpu", 0)) >= 1]
    assert len(gpu_groups) == 1 and gpu_groups[0]["minReplicas"] == 0 and gpu_groups[0]["maxReplicas"] >= 1
    assert "nvidia.com/gpu" not in ray_container(by_name["head"])["resources"].get("limits", {})


def test_one_shared_volume_at_one_path_in_every_pod():
    manifests = load_manifests()
    cluster = manifests["RayJob"]["spec"]["rayClusterSpec"]
    claim = manifests["PersistentVolumeClaim"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # pods on many nodes mount it at once
    mounts = set()
    for name, group in groups(cluster).items():
        volumes = {v["name"]: v for v in group["template"]["spec"].get("volumes", [])}
        shared = [(m["mountPath"], volumes[m["name"]]["persistentVolumeClaim"]["claimName"])
                  for m in ray_container(group).get("volumeMounts", [])
                  if "persistentVolumeClaim" in volumes.get(m["name"], {})]
        assert len(shared) == 1, (name, shared)
        mounts.add(shared[0])
    assert mounts == {("/mnt/shared", claim["metadata"]["name"])}


def test_the_entrypoint_parses_with_absolute_paths_on_the_shared_volume():
    job = load_manifests()["RayJob"]
    args = entrypoint_args(job)
    assert args.command == "patches"
    for path in (args.config, args.output):
        path = PurePosixPath(path)
        assert path.is_absolute() and path.is_relative_to("/mnt/shared"), path


def test_the_image_is_built_on_the_ray_it_runs():
    cluster = load_manifests()["RayJob"]["spec"]["rayClusterSpec"]
    images = {ray_container(g)["image"] for g in groups(cluster).values()}
    assert len(images) == 1 and images.pop().endswith(f"/vidray:{vidray.__version__}")
    dockerfile = (ROOT / "k8s" / "Dockerfile").read_text()
    base = next(line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM "))
    assert base.startswith(f"rayproject/ray:{cluster['rayVersion']}-")
