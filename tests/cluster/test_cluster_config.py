"""cluster.yaml is a launcher config Ray accepts, with the node roles and safety the docs promise, and
every command the docs quote (flags of `ray start` and of vidray) exists."""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_RESOURCES = {"CPU", "GPU", "memory", "object_store_memory"}
SHELL_SEPARATORS = {"|", "||", "&&", ";", ">", ">>", "&"}
# A line that runs vidray: optional VAR=value prefixes, then vidray, python ray_jobs/…, or ray job submit.
COMMAND_START = re.compile(r"\s*(?:[A-Za-z_]\w*=\S*\s+)*(?:\S*\bvidray\s|python\S*\s+ray_jobs/|ray\s+job\s+submit\s)")


def load_cluster() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


@functools.lru_cache(maxsize=1)
def ray_start_flags() -> frozenset[str]:
    """Every option of `ray start`, as the venv's `ray` CLI lists them in `ray start --help`."""
    ray_cli = Path(sys.executable).with_name("ray")
    out = subprocess.run([str(ray_cli), "start", "--help"], capture_output=True, text=True, check=True,
                         timeout=120, env={**os.environ, "COLUMNS": "200"}).stdout
    flags = set()
    for line in out.splitlines():
        if re.match(r"  -", line):  # the option column of click's help
            column = re.split(r"\s{2,}", line.strip())[0]
            flags.update(t for t in re.split(r"[ ,/]+", column) if t.startswith("--"))
    assert {"--head", "--address", "--num-cpus", "--resources"} <= flags, out[:500]  # the help was read
    return frozenset(flags)


def ray_start_args(command: str) -> list[str] | None:
    """The flags of the `ray start` in one shell command line (None if it runs none)."""
    for segment in re.split(r";|&&", command):
        tokens = shlex.split(segment)
        for i in range(len(tokens) - 1):
            if tokens[i] == "ray" and tokens[i + 1] == "start":
                return tokens[i + 2:]
    return None


def logical_lines(text: str) -> list[str]:
    """Shell lines with backslash continuations joined."""
    return text.replace("\\\n", " ").splitlines()


def vidray_argv(tokens: list[str]) -> list[str] | None:
    """The argv for vidray's parser if ``tokens`` run vidray, directly or through a ray_jobs/ script."""
    for i, tok in enumerate(tokens):
        if tok in SHELL_SEPARATORS:
            tokens = tokens[:i]
            break
    start = 0
    while start < len(tokens) and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", tokens[start]):  # VAR=value prefixes
        start += 1
    if start < len(tokens) and Path(tokens[start]).name == "vidray":
        return tokens[start + 1:]
    if "--" in tokens and tokens[start:start + 3] == ["ray", "job", "submit"]:  # ray job submit … -- ENTRYPOINT
        entrypoint = vidray_argv(tokens[tokens.index("--") + 1:])
        if entrypoint is not None:
            return entrypoint
    for i, tok in enumerate(tokens[:-1]):
        if Path(tok).name.startswith("python") and tokens[i + 1].startswith("ray_jobs/"):
            return [*ray_job_subcommand(tokens[i + 1]), *tokens[i + 2:]]
    return None


def ray_job_subcommand(script: str) -> list[str]:
    """The vidray subcommand a ray_jobs/ script runs: the list it passes to ``main([..., *sys.argv[1:]])``."""
    source = (ROOT / script).read_text()
    found = re.search(r"main\(\[(.*?)\*sys\.argv\[1:\]\]\)", source, re.S)
    assert found, f"{script} does not call vidray.cli.main([..., *sys.argv[1:]])"
    return list(ast.literal_eval(f"[{found.group(1)}]"))


def vidray_parse_error(argv: list[str]) -> str | None:
    """What vidray's own argparse tree says about ``argv``: None when it parses."""
    from vidray.cli import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return err.getvalue().strip() or f"exit {exc.code}"
    return None


def quoted_vidray_commands(text: str) -> list[tuple[str, list[str] | None]]:
    """(line, argv) for every line of ``text`` that runs vidray; argv None if the line is not valid shell."""
    found = []
    for line in logical_lines(text):
        if not COMMAND_START.match(line):
            continue
        try:
            argv = vidray_argv(shlex.split(line, comments=True))
        except ValueError:  # unbalanced quotes
            found.append((line.strip(), None))
            continue
        if argv is not None:
            found.append((line.strip(), argv))
    return found


def markdown_code(path: Path) -> str:
    """The fenced code blocks of a markdown file."""
    return "\n".join(m.group(1) for m in re.finditer(r"^```[^\n]*\n(.*?)^```", path.read_text(), re.M | re.S))


def yaml_comments(path: Path) -> str:
    """The comment text of a YAML file, one comment per line."""
    return "\n".join(m.group(1) for m in re.finditer(r"^\s*#(.*)$", path.read_text(), re.M))


def test_cluster_yaml_has_cpu_and_gpu_workers_and_a_private_dashboard():
    cfg = load_cluster()
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    assert types["cpu_worker"]["resources"].get("decode", 0) > 0 and "GPU" not in types["cpu_worker"]["resources"]
    assert types["gpu_worker"]["resources"]["GPU"] >= 1 and "decode" not in types["gpu_worker"]["resources"]
    assert "GPU" not in types[cfg["head_node_type"]]["resources"]
    head = " ".join(cfg["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    assert any("/mnt/shared" in c for c in cfg["initialization_commands"])
    assert any("pip install" in c and "vidray" in c for c in cfg["setup_commands"])


def test_ray_validates_the_launcher_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(load_cluster()))  # raises if invalid


def test_the_head_takes_no_work_and_workers_autoscale_from_zero():
    cfg = load_cluster()
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    # The launcher passes `resources` to the head's `ray start` (RAY_OVERRIDE_RESOURCES, which wins
    # over --num-cpus): CPU 0 there is what counts; a --num-cpus in the command must agree.
    assert head["resources"].get("CPU") == 0 and set(head["resources"]) <= {"CPU"}
    head_args = [a for c in cfg["head_start_ray_commands"] if (a := ray_start_args(c)) is not None]
    assert len(head_args) == 1 and "--head" in head_args[0]
    for arg in head_args[0]:
        if arg.startswith("--num-cpus"):
            assert arg == "--num-cpus=0", arg
    assert any(a.startswith("--autoscaling-config=") for a in head_args[0])  # without it no worker is ever launched
    workers = {name: t for name, t in types.items() if name != cfg["head_node_type"]}
    assert all(t["min_workers"] == 0 and t["max_workers"] >= 1 for t in workers.values())
    assert sum(t["max_workers"] for t in workers.values()) <= cfg["max_workers"]
    assert cfg["idle_timeout_minutes"] > 0 and cfg["upscaling_speed"] > 0


def test_every_ray_start_raises_the_open_file_limit_first():
    cfg = load_cluster()
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in cfg[key] if ray_start_args(c) is not None]
        assert starts, key
        for command in starts:
            limit = re.search(r"ulimit -n (\d+)\s*;.*\bray start\b", command)  # same shell, before ray start
            assert limit and int(limit.group(1)) >= 65536, command


def test_every_ray_start_flag_exists():
    cfg = load_cluster()
    known = ray_start_flags()
    used = [arg.split("=")[0] for key in ("head_start_ray_commands", "worker_start_ray_commands")
            for c in cfg[key] for arg in (ray_start_args(c) or []) if arg.startswith("--")]
    assert used and not set(used) - known, f"not flags of `ray start`: {sorted(set(used) - known)}"


def test_custom_resources_are_the_ones_vidray_tasks_ask_for():
    """A custom resource no task asks for (the old `accelerator`) only misleads: GPU already says it."""
    cfg = load_cluster()
    requested = set()
    for text in (markdown_code(ROOT / "docs" / "cluster.md"), yaml_comments(ROOT / "cluster.yaml")):
        for _, argv in quoted_vidray_commands(text):
            for i, tok in enumerate(argv or []):
                if tok == "--task-resources":
                    requested.update(item.split("=")[0] for item in argv[i + 1:] if "=" in item)
    vidray_source = "\n".join(p.read_text() for p in (ROOT / "vidray").rglob("*.py"))
    assert "decode" in requested
    for name, node_type in cfg["available_node_types"].items():
        for resource in set(node_type["resources"]) - BUILTIN_RESOURCES:
            assert resource in requested or re.search(rf"[\"']{resource}[\"']", vidray_source), (name, resource)
    assert all("accelerator" not in t["resources"] for t in cfg["available_node_types"].values())
    # decode lives on the CPU worker type only, so decode tasks never take the GPU nodes' CPUs.
    assert [n for n, t in cfg["available_node_types"].items() if "decode" in t["resources"]] == ["cpu_worker"]


def test_every_vidray_command_in_the_docs_parses():
    """Each `vidray …` / `python ray_jobs/… ` line in a code block (and in cluster.yaml's comments)
    parses with vidray's own argparse tree, so no doc names a flag that does not exist."""
    sources = {"README.md": markdown_code(ROOT / "README.md"),
               "docs/cluster.md": markdown_code(ROOT / "docs" / "cluster.md"),
               "cluster.yaml": yaml_comments(ROOT / "cluster.yaml")}
    failures, counts = [], {}
    for name, text in sources.items():
        commands = quoted_vidray_commands(text)
        counts[name] = len(commands)
        for line, argv in commands:
            error = "not valid shell" if argv is None else vidray_parse_error(argv)
            if error:
                failures.append(f"{name}: {line}\n    {error}")
    assert counts["README.md"] >= 8 and counts["docs/cluster.md"] >= 5 and counts["cluster.yaml"] >= 1, counts
    assert not failures, "\n".join(failures)


def test_the_docs_command_check_catches_a_flag_that_does_not_exist():
    ((line, argv),) = quoted_vidray_commands("vidray patches /mnt/shared/f.json --output /mnt/shared/p --decoders 4")
    assert vidray_parse_error(argv) and "--decoders" in vidray_parse_error(argv)
    ((_, argv),) = quoted_vidray_commands("RAY_AUTH_MODE=disabled ray job submit --working-dir . -- \\\n"
                                          "    python ray_jobs/synth_moving_mnist.py /mnt/shared/mm --num-sequences 8")
    assert argv[:2] == ["synth", "moving-mnist"] and vidray_parse_error(argv) is None
