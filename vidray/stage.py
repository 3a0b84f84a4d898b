"""Pipeline stages and how they run on Ray Data: each stage declares what one of its workers needs,
and :func:`stream` asks Ray for that much per worker, never sized by the nodes up at the start.

On an autoscaling cluster the demand of an unbounded task pool (or an actor pool's ``max_actors``)
is what makes the autoscaler add nodes; ``Scale.workers`` caps the task pools when a user wants to.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from vidray.errors import ConfigError


@dataclass(frozen=True)
class Resources:
    """What one task or actor of a stage reserves on its node (Ray schedules, and autoscales, by it)."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory: int | None = None                     # bytes; also keeps Ray Data from fusing unlike stages
    custom: dict[str, float] = field(default_factory=dict)  # e.g. {"decode": 1} for cluster.yaml's CPU nodes

    def bundle(self) -> dict[str, float]:
        """As one resource bundle (what the autoscaler packs onto node types)."""
        bundle = {"CPU": float(self.cpus), **{k: float(v) for k, v in self.custom.items()}}
        if self.gpus:
            bundle["GPU"] = float(self.gpus)
        if self.memory:
            bundle["memory"] = float(self.memory)
        return {k: v for k, v in bundle.items() if v > 0}

    def ray_options(self) -> dict:
        """As keyword arguments of ``map_batches`` / ``ray.remote``."""
        options: dict[str, Any] = {"num_cpus": self.cpus}
        if self.gpus:
            options["num_gpus"] = self.gpus
        if self.memory:
            options["memory"] = self.memory
        if self.custom:
            options["resources"] = dict(self.custom)
        return options


@dataclass(frozen=True)
class Scale:
    """How a run asks for workers: ``workers`` caps each task pool (None = as many as Ray can place,
    growing the cluster); ``task_cpus``/``task_resources`` replace what CPU work tasks declare."""

    workers: int | None = None
    task_cpus: float | None = None
    task_resources: dict[str, float] = field(default_factory=dict)

    def for_tasks(self, declared: Resources) -> Resources:
        """``declared`` with this run's task overrides applied."""
        return dataclasses.replace(declared, cpus=self.task_cpus or declared.cpus,
                                   custom={**declared.custom, **self.task_resources})


def parse_resources(items: list[str] | None, flag: str = "--task-resources") -> dict[str, float]:
    """``["decode=1", "ssd=0.5"]`` → ``{"decode": 1.0, "ssd": 0.5}``; a bad item is a ConfigError naming ``flag``."""
    out = {}
    for item in items or ():
        name, sep, amount = item.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = -1.0
        if not sep or not name or not math.isfinite(value) or value < 0:
            raise ConfigError([f"{flag} {item!r}: expected NAME=AMOUNT with AMOUNT >= 0, e.g. decode=1"],
                              source="arguments")
        out[name] = value
    return out


@dataclass(frozen=True)
class Stage:
    """One map of a job's pipeline: a function over numpy batches (tasks) or a callable class (actors)."""

    name: str
    fn: Callable
    resources: Resources = Resources()
    batch_size: int | None = 1                    # rows per call; None = one whole block
    fn_kwargs: dict = field(default_factory=dict)
    constructor_kwargs: dict = field(default_factory=dict)  # actor stages: the class's __init__ arguments
    min_actors: int = 1                           # actor stages: the pool autoscales in [min, max]
    max_actors: int = 1
    cpu_work: bool = True                         # task stage whose resources --task-cpus/-resources replace

    @property
    def is_actor(self) -> bool:
        return isinstance(self.fn, type)

    def worker_resources(self, scale: Scale) -> Resources:
        """What one worker of this stage reserves under ``scale``."""
        return scale.for_tasks(self.resources) if self.cpu_work and not self.is_actor else self.resources

    def map_options(self, scale: Scale) -> dict:
        """Keyword arguments of ``Dataset.map_batches`` for this stage under ``scale``."""
        import ray.data

        options = dict(batch_size=self.batch_size, batch_format="numpy", fn_kwargs=self.fn_kwargs or None)
        if self.is_actor:
            options["fn_constructor_kwargs"] = self.constructor_kwargs or None
            options["compute"] = ray.data.ActorPoolStrategy(min_size=self.min_actors,
                                                            max_size=max(self.min_actors, self.max_actors))
            resources = self.resources
        else:
            options["compute"] = ray.data.TaskPoolStrategy(size=scale.workers)
            resources = scale.for_tasks(self.resources) if self.cpu_work else self.resources
        return options | resources.ray_options()


def stream(items: list[dict], stages: list[Stage], scale: Scale = Scale(), *, rows_per_block: int = 1,
           ordered: bool = False) -> Iterator[dict]:
    """Run ``items`` through ``stages`` on Ray Data; yield each output batch (numpy dict) as it finishes.

    ``rows_per_block`` items form one input block (one task's work); ``ordered`` keeps input order
    (the driver then waits for stragglers), else batches come as soon as they are done.
    """
    import ray.data

    if not items:
        return
    ctx = ray.data.DataContext.get_current()
    previous = ctx.execution_options.preserve_order
    ctx.execution_options.preserve_order = ordered
    blocks = math.ceil(len(items) / max(1, rows_per_block))
    asked = ask_autoscaler(demand(stages, scale, blocks))
    try:
        ds = ray.data.from_items(items, override_num_blocks=blocks)
        for stage in stages:
            ds = ds.map_batches(stage.fn, **stage.map_options(scale))
        try:
            yield from ds.iter_batches(batch_size=None, batch_format="numpy")
        except Exception as exc:
            cause = worker_failure(exc)
            if cause is None:
                raise
            raise cause from exc
    finally:
        ctx.execution_options.preserve_order = previous
        if asked:
            ask_autoscaler([])  # withdraw the request: idle nodes may go again


def worker_failure(exc: BaseException):
    """The one-line error inside a failed Ray task (Ray Data wraps it in UserCodeException / RayTaskError):
    a :class:`VidrayError` as raised, or an OS failure (disk full, permissions, read-only) as
    :class:`EnvironmentFailure`; None when it is neither (then the traceback is the right report)."""
    import errno

    from vidray.errors import VidrayError, os_failure

    seen, todo = set(), [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        original = getattr(e, "cause", None)  # RayTaskError keeps the worker's exception here
        if isinstance(original, BaseException):
            todo.insert(0, original)
        if isinstance(e, VidrayError) and type(e).__module__.startswith("vidray"):
            return e
        if isinstance(e, OSError) and type(e) is not OSError and e.errno is None:
            pass  # a RayTaskError(OSError) shell: its cause says more
        elif isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                                                     errno.EROFS):
            return os_failure(e)
        todo += [e.__cause__, e.__context__]
    # Ray Data re-raises a UDF's exception as text only (UserCodeException keeps no cause): read the errno there
    import re

    disk = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)
    for match in re.finditer(r"\[Errno (\d+)\] ([^\n:']+)(?:: '([^'\n]+)')?", str(exc)):
        if int(match.group(1)) in disk:
            return os_failure(OSError(int(match.group(1)), match.group(2).strip(), match.group(3)))
    return None


def demand(stages: list[Stage], scale: Scale, blocks: int, capacity: dict[str, float] | None = None) -> list[dict]:
    """The bundles a run can use at once: per task stage one per block (at most ``scale.workers``), per
    actor stage ``max_actors``; never more of a shape than the cluster at its largest can hold."""
    if capacity is None:
        from vidray.capacity import cluster_capacity

        capacity = cluster_capacity()
    bundles: list[dict] = []
    for stage in stages:
        bundle = stage.worker_resources(scale).bundle()
        wanted = max(stage.min_actors, stage.max_actors) if stage.is_actor else min(blocks, scale.workers or blocks)
        fits = min((int(capacity.get(k, 0.0) // v) for k, v in bundle.items() if k != "memory"), default=0)
        bundles += [bundle] * max(0, min(wanted, fits))
    return bundles


def ask_autoscaler(bundles: list[dict]) -> bool:
    """Tell the autoscaler up front what the run can use (``ray.autoscaler.sdk.request_resources``), so a
    short job scales too, not only after Ray Data has seen its tasks queue; ``[]`` withdraws it.
    A no-op where no autoscaler listens; never fails the job."""
    import logging

    try:
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=bundles)
        return bool(bundles)
    except Exception as exc:
        logging.getLogger("vidray.stage").debug("resource request not sent: %s", exc)
        return False


def rows_per_block(n_items: int, scale: Scale, *, blocks_per_worker: int = 4, most: int = 64) -> int:
    """Items per input block: about ``blocks_per_worker`` blocks for each worker the cluster can grow to
    (or ``scale.workers``), so every worker gets work and stragglers stay short; at most ``most``."""
    from vidray.capacity import cluster_capacity

    workers = scale.workers or max(1, int(cluster_capacity().get("CPU", 1)))
    return max(1, min(most, math.ceil(n_items / (blocks_per_worker * workers))))
