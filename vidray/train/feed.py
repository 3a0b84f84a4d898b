"""Ray Data into Ray Train for VSR: the patch index's rows → PNG decode + crop on CPU tasks → each Train
worker's share through ``get_dataset_shard(...).iter_torch_batches``, from the folder tree or the shards.

Driver side (:func:`build_feed`): the selection (:mod:`vidray.train.patch_index`) becomes two datasets. Folders:
the train rows, permuted once by the seed, are cut into units of ``UNIT_ROWS`` rows; each epoch shuffles the
unit numbers and decode tasks read their units' PNGs. Shards: ``read_webdataset`` on the tars that hold the
rows (file order shuffled each epoch); decode tasks keep the samples of the split. Either way a task yields
``{"lr", "gt"}`` uint8 crops and ``"id"`` (:func:`~vidray.train.patch_index.sample_id`); train rows are split
equally across workers (DDP steps stay in lockstep), validation rows each go to exactly one worker.

Worker side (:func:`worker_batches`): batches as the training loop takes them, ``((lr, gt) float, id)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import numpy as np

from vidray.errors import ConfigError
from vidray.stage import Resources, Scale, Stage
from vidray.train.patch_index import PatchSelection, in_val, sample_id
from vidray.train.patch_pairs import PAIR_MEMBERS, crop_patch_pair, decode_patch_pair

TRAIN, VAL = "train", "val"
FEED_KEY = "feed"         # loop-config key: rows per split, for the workers' step counts
UNIT_ROWS = 16            # folder rows per unit of work: the grain of each epoch's shuffle
PREFETCH_BATCHES = 4      # batches each Train worker keeps decoded ahead of its step
OUTPUT_BLOCK_BYTES = 4 << 20  # decode tasks hand on ~100 crops at a time, not their whole share at the end


def decode_units(batch: dict, rows, root: str, crop: int, train: bool):
    """Decode task (folders): the index rows of each unit number in ``batch["id"]`` → uint8 crops."""
    from vidray.io import storage

    fs, base = storage.resolve(root)
    for unit in batch["id"]:
        part = rows.slice(int(unit) * UNIT_ROWS, UNIT_ROWS).to_pylist()
        pairs = []
        for row in part:
            gt, lr = (_read(fs, f"{base}/{row[k]}", storage.join(root, row[k])) for k in ("gt", "lr"))
            pairs.append((row["key"], gt, lr, storage.join(root, row["gt"])))
        yield _crops(pairs, crop, train)


def _read(fs, path: str, name: str) -> bytes:
    """A whole file through ``fs``; a missing one is an :class:`InputError` (the index lists it)."""
    from vidray.errors import InputError

    try:
        with fs.open_input_stream(path) as f:  # one GET on object storage (a random-access file adds a HEAD)
            return f.read()
    except FileNotFoundError:
        raise InputError(name, "is listed in the patch index but does not exist; rerun the patch job") from None


def decode_samples(batch: dict, crop: int, train: bool, val_fraction: float, keep: frozenset | None):
    """Decode task (shards): the WebDataset samples of ``batch`` that belong to this split → uint8 crops."""
    pairs = []
    for i, meta in enumerate(batch["json"]):
        key = json.loads(meta)["key"]
        if in_val(key, val_fraction) == train or (keep is not None and key not in keep):
            continue
        gt, lr = (batch[m][i] for m in PAIR_MEMBERS)
        pairs.append((key, gt, lr, f"{batch['__url__'][i]}:{batch['__key__'][i]}"))
    return _crops(pairs, crop, train)


def _crops(pairs: list[tuple], crop: int, train: bool) -> dict[str, np.ndarray]:
    """``(key, GT png, LR png, name)`` → ``{"lr": uint8 [N,5,3,c/3,c/3], "gt": uint8 [N,3,c,c], "id": int64 [N]}``;
    training crops are drawn afresh (Ray Data tells a task no epoch number), validation takes the centre."""
    rng = np.random.default_rng() if train else None
    lc = crop // 3
    lr = np.empty((len(pairs), 5, 3, lc, lc), np.uint8)
    gt = np.empty((len(pairs), 3, crop, crop), np.uint8)
    ids = np.empty(len(pairs), np.int64)
    for i, (key, gt_png, lr_png, name) in enumerate(pairs):
        g, stack = decode_patch_pair(bytes(gt_png), bytes(lr_png), name)
        lr[i], gt[i] = crop_patch_pair(g, stack, crop, name, rng)
        ids[i] = sample_id(key)
    return {"lr": lr, "gt": gt, "id": ids}


# what one decode task reserves; `--task-resources decode=1` adds the custom resource that keeps these tasks
# on cluster.yaml's CPU nodes, as for the patch and embedding jobs
DECODE_UNITS = Stage("decode_patches", decode_units, Resources(cpus=1), batch_size=1)
# (shards: whole read blocks, so that Ray Data fuses the tar read and the decode into one task: the PNG bytes
# never pass through the object store)
DECODE_SAMPLES = Stage("decode_patches", decode_samples, Resources(cpus=1), batch_size=None)


@dataclass
class Feed:
    """What the trainer needs: ``datasets`` for ``TorchTrainer(datasets=…)``, ``rows`` per split (for the
    workers' step counts), and the selection they come from."""

    datasets: dict
    rows: dict[str, int]
    selection: PatchSelection


def build_feed(cfg, scale: Scale | None = None) -> Feed:
    """The train/val datasets of ``cfg`` (a VSR run) on the connected cluster; bad data raises one
    :class:`~vidray.errors.InputError` here, on the driver, before any worker starts."""
    from vidray.train.tasks import vsr_selection

    scale = scale or Scale()
    check_feed_fits(cfg, scale)
    sel = vsr_selection(cfg)
    build = _folder_dataset if sel.source == "folders" else _shard_dataset
    datasets = {TRAIN: build(sel, True, cfg, scale)}
    if sel.val.num_rows:
        datasets[VAL] = build(sel, False, cfg, scale)
    for ds in datasets.values():
        ds.context.target_max_block_size = OUTPUT_BLOCK_BYTES
    return Feed(datasets, {TRAIN: sel.train.num_rows, VAL: sel.val.num_rows}, sel)


def _folder_dataset(sel: PatchSelection, train: bool, cfg, scale: Scale):
    import ray.data

    rows = (sel.train if train else sel.val).select(["key", "gt", "lr"])
    if train:  # a unit is a random sample of the rows, not 16 neighbours of one film
        rows = rows.take(np.random.default_rng(cfg.seed).permutation(rows.num_rows))
    units = math.ceil(rows.num_rows / UNIT_ROWS)
    ds = ray.data.range(units, override_num_blocks=_blocks(units, scale))
    if train:
        ds = ds.random_shuffle(seed=ray.data.RandomSeedConfig(seed=cfg.seed, reseed_after_execution=True))
    stage = dataclasses.replace(DECODE_UNITS, fn_kwargs={"rows": rows, "root": sel.root, "crop": cfg.vsr_crop,
                                                         "train": train})
    return ds.map_batches(stage.fn, **stage.map_options(scale))


def _shard_dataset(sel: PatchSelection, train: bool, cfg, scale: Scale):
    import ray.data

    from vidray.io import storage

    rows = sel.train if train else sel.val
    full = sel.train.num_rows + sel.val.num_rows
    limited = (cfg.max_train_samples if train else cfg.max_val_samples) is not None
    keep = frozenset(rows["key"].to_pylist()) if limited and rows.num_rows < full else None
    shards = sorted(set(rows["shard"].to_pylist()))
    fs, _ = storage.resolve(sel.root)
    paths = [storage.resolve(storage.join(sel.root, s))[1] for s in shards]
    stage = dataclasses.replace(DECODE_SAMPLES, fn_kwargs={"crop": cfg.vsr_crop, "train": train,
                                                           "val_fraction": cfg.val_fraction, "keep": keep})
    read = stage.worker_resources(scale)
    ds = ray.data.read_webdataset(
        paths, filesystem=fs, decoder=None, suffixes=[*PAIR_MEMBERS, "json"], num_cpus=read.cpus,
        resources=read.custom or None, override_num_blocks=len(paths),
        shuffle=ray.data.FileShuffleConfig(seed=cfg.seed) if train else None)
    return ds.map_batches(stage.fn, **stage.map_options(scale))


def _blocks(units: int, scale: Scale) -> int:
    """Blocks of unit numbers: about 4 per CPU the cluster can grow to (or ``scale.workers``), so every
    decode task has a share and a straggler's share stays short."""
    from vidray.capacity import cluster_capacity

    workers = scale.workers or max(1, int(cluster_capacity().get("CPU", 1)))
    return max(1, min(units, 4 * workers))


def check_feed_fits(cfg, scale: Scale, capacity: dict[str, float] | None = None) -> None:
    """Refuse a run whose Train workers leave no room for a decode task (Ray Data would wait for ever):
    the cluster at its largest must hold every worker and one decode task beside them."""
    if capacity is None:
        from vidray.capacity import cluster_capacity

        capacity = cluster_capacity()
    task = DECODE_UNITS.worker_resources(scale)
    workers = cfg.num_workers * cfg.cpus_per_worker
    left = capacity.get("CPU", 0.0) - workers
    problems = []
    if left < task.cpus:
        problems.append(f"{cfg.num_workers} Train worker(s) x {cfg.cpus_per_worker:g} CPU leave {max(left, 0):g} of "
                        f"the cluster's {capacity.get('CPU', 0):g} CPUs for the Ray Data tasks that decode the "
                        f"patches ({task.cpus:g} CPU each): lower --cpus-per-worker or --num-workers, or add CPUs")
    for name, amount in task.custom.items():
        if capacity.get(name, 0.0) < amount:
            problems.append(f"--task-resources {name}={amount:g}: no node of this cluster has a {name!r} resource "
                            "(cluster.yaml's CPU nodes declare decode)")
    if problems:
        raise ConfigError(problems, source="arguments")


def data_config():
    """Ray Train's DataConfig: the train split equal across workers (DDP steps in lockstep), the validation
    split not (each sample validated exactly once, however the rows divide)."""
    from ray.train import DataConfig

    class FeedDataConfig(DataConfig):
        def configure(self, datasets, world_size, worker_handles, worker_node_ids, **kwargs):
            if VAL not in datasets:
                return super().configure(datasets, world_size, worker_handles, worker_node_ids, **kwargs)
            ds = datasets[VAL].copy(datasets[VAL])
            ds.context.execution_options = self._resolve_execution_options(VAL)
            return [{VAL: split} for split in ds.streaming_split(world_size, equal=False,
                                                                 locality_hints=worker_node_ids)]

    return FeedDataConfig()


class ShardBatches:
    """One Train worker's share of a feed dataset as ``((lr float [B,5,3,h,w], gt float [B,3,H,W]), id [B])``
    in [0,1]; ``len`` = batches per epoch (train: the equal split of ``rows``).

    Bad data (a PNG that does not decode, a file the index lists but storage lacks) is recorded in the run
    folder before it fails the worker: a retry of the run meets the record at once instead of training up to
    the same sample again, and the driver reports it as one line (:func:`data_error`).
    """

    def __init__(self, name: str, rows: int, batch_size: int, world: int, shuffle: bool):
        import ray.train

        raise_recorded_data_error(ray.train.get_context().get_storage())
        self.shard = ray.train.get_dataset_shard(name) if rows else None
        self.batch_size, self.shuffle = batch_size, shuffle
        self.length = math.ceil(rows // world / batch_size) if shuffle else math.ceil(rows / world / batch_size)

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        if self.shard is None:
            return
        buffer = shuffle_buffer(self.batch_size) if self.shuffle else None
        batches = self.shard.iter_torch_batches(batch_size=self.batch_size, prefetch_batches=PREFETCH_BATCHES,
                                                local_shuffle_buffer_size=buffer)
        try:
            for b in batches:
                yield (b["lr"].float().div_(255.0), b["gt"].float().div_(255.0)), b["id"]
        except Exception as exc:
            bad = data_error(exc)
            if bad is None:
                raise
            import ray.train

            record_data_error(ray.train.get_context().get_storage(), bad)
            raise bad from None


DATA_ERROR_FILE = "data_error.json"  # in the run folder: the bad input that stopped this attempt


def data_error(exc: BaseException):
    """The :class:`~vidray.errors.InputError` inside a failed Ray Data iteration or Ray Train run, else None."""
    from vidray.errors import InputError
    from vidray.stage import worker_failure

    for e in [exc, *getattr(exc, "worker_failures", {}).values()]:
        found = worker_failure(e)
        if isinstance(found, InputError):
            return found
    return None


def _record_path(storage_ctx) -> str:
    return f"{storage_ctx.storage_fs_path}/{storage_ctx.experiment_dir_name}/{DATA_ERROR_FILE}"


def record_data_error(storage_ctx, error) -> None:
    """Write ``error`` (an InputError) to the run folder through Ray Train's storage context."""
    with storage_ctx.storage_filesystem.open_output_stream(_record_path(storage_ctx)) as f:
        f.write(json.dumps({"path": error.path, "reason": error.reason}).encode())


def raise_recorded_data_error(storage_ctx) -> None:
    """Raise the InputError an earlier attempt of this run recorded, if any (the driver clears it per run)."""
    import pyarrow.fs as pafs

    from vidray.errors import InputError

    path, fs = _record_path(storage_ctx), storage_ctx.storage_filesystem
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return
    with fs.open_input_stream(path) as f:
        record = json.loads(f.read().decode())
    raise InputError(record["path"], record["reason"])


def shuffle_buffer(batch_size: int) -> int:
    """Crops a worker mixes before each training batch: enough to break up a tar's run of one film, few
    enough that the first batch of an epoch waits for little more than a batch (it waits for a full buffer)."""
    return max(64, 4 * batch_size)


def worker_batches(cfg, rows: dict[str, int], world: int) -> tuple[ShardBatches, ShardBatches, int]:
    """(train batches, validation batches, steps per epoch) of this Train worker."""
    batch = cfg.worker_batch_size  # batch_scope=global: batch_size split over the workers
    train = ShardBatches(TRAIN, rows[TRAIN], batch, world, shuffle=True)
    return train, ShardBatches(VAL, rows[VAL], batch, world, shuffle=False), len(train)
