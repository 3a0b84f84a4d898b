"""The one door to storage: a local path or a URI (``s3://``, ``gs://``, ``file://``) → a pyarrow
file system and the path inside it.

S3 follows the standard AWS environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``), so one command works against AWS, MinIO or any
S3-compatible store. Object stores have no rename and no append: writes here are whole objects
(local files: temp file + rename), so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from vidray.errors import ConfigError, EnvironmentFailure, InputError, VidrayError, os_failure

if TYPE_CHECKING:
    import pyarrow.fs

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_uri(location) -> bool:
    """True for ``scheme://…`` (a local path, str or Path, is not)."""
    return isinstance(location, str) and bool(_SCHEME.match(location))


def resolve(location) -> tuple["pyarrow.fs.FileSystem", str]:
    """``(file system, path inside it)`` of a URI or a local path (made absolute)."""
    import pyarrow.fs as pafs

    if not is_uri(location):
        return pafs.LocalFileSystem(), str(Path(location).expanduser().absolute())
    try:
        return pafs.FileSystem.from_uri(location)
    except (OSError, ValueError) as exc:  # unknown scheme, bad bucket name, no credentials source
        raise InputError(location, f"cannot open this storage location: {exc}") from exc


def join(location, *parts: str) -> str:
    """``location`` / parts, keeping a URI a URI."""
    if is_uri(location):
        return "/".join([str(location).rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(location).joinpath(*parts))


def open_input(location):
    """A seekable binary file (random reads, e.g. for PyAV) of a local path or URI."""
    fs, path = resolve(location)
    try:
        return fs.open_input_file(path)
    except FileNotFoundError as exc:
        raise InputError(location, "does not exist") from exc
    except OSError as exc:
        raise InputError(location, f"cannot be read: {_reason(exc)}") from exc


def read_bytes(location) -> bytes:
    """The whole content of a local path or URI."""
    with open_input(location) as f:
        return f.read()


def write_bytes(location, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` as one whole object (object store) or atomically (local: temp + rename, fsynced
    unless ``fsync=False``)."""
    path = local_path(location)
    if path is not None:
        from vidray.io.atomic import write_bytes_atomic

        write_bytes_atomic(path, data, fsync=fsync)
        return
    fs, path = resolve(location)
    try:
        with fs.open_output_stream(path) as f:  # S3: the object appears only when the upload completes
            f.write(data)
    except OSError as exc:
        raise storage_error(location, exc, fs) from exc


def exists(location) -> bool:
    """Whether a file/object exists at ``location``."""
    import pyarrow.fs as pafs

    fs, path = resolve(location)
    try:
        return fs.get_file_info(path).type != pafs.FileType.NotFound
    except OSError as exc:
        raise InputError(location, f"cannot be checked: {_reason(exc)}") from exc


class PendingFile:
    """A local file ``tmp`` to write ``location``'s content into (MP4, tars, Parquet, HDF5: written by
    libraries that want a file); :meth:`publish` makes it whole at ``location`` (local: rename beside it;
    object store: one upload), :meth:`discard` drops it."""

    def __init__(self, location, suffix: str = ""):
        from vidray.io.atomic import part_path

        self.location = location
        self._local = local_path(location)
        if self._local is not None:
            self._local.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = part_path(self._local)
        else:
            fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="vidray-upload-")
            os.close(fd)
            self.tmp = Path(tmp)

    def publish(self):
        """Put the finished file at ``location``; returns the local Path or the URI."""
        if self._local is not None:
            os.replace(self.tmp, self._local)
            return self._local
        fs, target = resolve(self.location)
        try:
            with open(self.tmp, "rb") as src, fs.open_output_stream(target) as dst:
                shutil.copyfileobj(src, dst, 8 << 20)
        except OSError as exc:
            raise storage_error(self.location, exc, fs) from exc
        finally:
            self.tmp.unlink(missing_ok=True)
        return str(self.location)

    def discard(self) -> None:
        """Drop the unfinished file."""
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def output_file(location, suffix: str = "") -> Iterator[Path]:
    """:class:`PendingFile` as a context: yields its local path, publishes on success, discards on error."""
    pending = PendingFile(location, suffix)
    try:
        yield pending.tmp
    except BaseException:
        pending.discard()
        raise
    pending.publish()


def delete(location) -> None:
    """Remove the file/object at ``location`` (nothing there is fine)."""
    fs, path = resolve(location)
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass


def delete_tree(location) -> None:
    """Remove a file or a whole directory/prefix (local or object store); nothing there is fine."""
    import pyarrow.fs as pafs

    fs, path = resolve(location)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif kind == pafs.FileType.File:
        fs.delete_file(path)
    elif is_uri(location) and list_files(location):  # an object prefix
        fs.delete_dir_contents(path, missing_dir_ok=True)


def write_json(location, obj) -> None:
    """``obj`` as indented JSON, one whole object / atomic file."""
    import json

    write_bytes(location, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def list_files(location, recursive: bool = True) -> list[str]:
    """Locations (URIs stay URIs) of the files under the directory/prefix ``location``, sorted; [] if none."""
    import pyarrow.fs as pafs

    fs, path = resolve(location)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=recursive, allow_not_found=True))
    except OSError as exc:
        raise InputError(location, f"cannot be listed: {_reason(exc)}") from exc
    base = path.rstrip("/")
    return sorted(join(location, info.path[len(base):].lstrip("/")) for info in infos
                  if info.type == pafs.FileType.File)


def list_names(location) -> list[str]:
    """Names of the entries (files and "directories") right under ``location``; [] if none."""
    import pyarrow.fs as pafs

    fs, path = resolve(location)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=False, allow_not_found=True))
    except OSError as exc:
        raise InputError(location, f"cannot be listed: {_reason(exc)}") from exc
    return sorted(info.base_name for info in infos)


def _reason(exc: OSError) -> str:
    """The useful part of a pyarrow/AWS error: ``NO_SUCH_BUCKET …`` rather than the request id."""
    text = str(exc).split(" (Request ID", 1)[0]
    match = re.search(r"AWS Error (\w+)[^:]*: (.*)", text)
    return f"{match.group(1)}: {match.group(2)}" if match else text


def local_path(location) -> Path | None:
    """The local path of ``location`` if it is on the local file system, else None."""
    if not is_uri(location):
        return Path(location).expanduser().absolute()
    if str(location).startswith("file://"):
        return Path(str(location)[len("file://"):])
    return None


def cache_dir() -> Path:
    """This node's cache of objects that must be local files (``VIDRAY_CACHE``, else ~/.cache/vidray)."""
    return Path(os.environ.get("VIDRAY_CACHE") or Path.home() / ".cache" / "vidray").expanduser()


def cached_copy(location) -> Path:
    """A local file with ``location``'s content: a local path itself, an object copied once into
    :func:`cache_dir` (keyed by URI, size and modification time, 1 s resolution on S3; temp file + rename,
    so concurrent readers on one node never see half a copy). For readers that need a file: .npy, HDF5."""
    import hashlib

    import pyarrow.fs as pafs

    local = local_path(location)
    if local is not None:
        return local
    fs, path = resolve(location)
    try:
        info = fs.get_file_info(path)
    except OSError as exc:
        raise storage_error(location, exc, fs) from exc
    if info.type != pafs.FileType.File:
        raise InputError(location, "does not exist" if info.type == pafs.FileType.NotFound else "is not a file")
    key = hashlib.sha1(f"{location}|{info.size}|{info.mtime_ns}".encode()).hexdigest()[:20]
    dest = cache_dir() / "objects" / key / posixpath.basename(path)
    if dest.is_file() and dest.stat().st_size == info.size:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with fs.open_input_stream(path) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 8 << 20)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise storage_error(location, exc, fs) from exc
    return dest


def env_summary() -> str:
    """Which S3 endpoint the environment points at (for error messages)."""
    return os.environ.get("AWS_ENDPOINT_URL") or "AWS (no AWS_ENDPOINT_URL set)"


class ReadAheadFile:
    """A seekable read-only binary file over a random-access handle (pyarrow ``NativeFile``) that fetches
    ranges with read-ahead: reads that continue the last fetch double its size (``min_fetch`` →
    ``max_fetch``), a jump starts small again, and the last ``keep`` ranges stay cached so a demuxer's
    short seeks back are free. PyAV reads a film on object storage through it: one request per range,
    never the whole object. ``bytes_read`` / ``requests`` count what came from storage."""

    def __init__(self, raw, name: str = "", min_fetch: int = 256 << 10, max_fetch: int = 8 << 20, keep: int = 4):
        self.raw, self.name = raw, name
        self.size = raw.size()
        self.min_fetch, self.max_fetch, self.keep = min_fetch, max_fetch, keep
        self.pos = 0
        self.bytes_read = 0
        self.requests = 0
        self._fetch = min_fetch
        self._next: int | None = None  # where the last fetch ended: a read there is sequential
        self._ranges: list[tuple[int, bytes]] = []  # (start, data), most recently used last

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move the position (whence 0/1/2 as in ``io``); nothing is fetched until a read."""
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes from the position (all the rest if ``n`` < 0); b"" at the end."""
        n = self.size - self.pos if n is None or n < 0 else min(n, self.size - self.pos)
        parts = []
        while n > 0:
            start, data = self._range_at(self.pos)
            piece = data[self.pos - start: self.pos - start + n]
            parts.append(piece)
            self.pos += len(piece)
            n -= len(piece)
        return b"".join(parts)

    def _range_at(self, pos: int) -> tuple[int, bytes]:
        for i, (start, data) in enumerate(self._ranges):
            if start <= pos < start + len(data):
                self._ranges.append(self._ranges.pop(i))
                return start, data
        self._fetch = min(2 * self._fetch, self.max_fetch) if pos == self._next else self.min_fetch
        data = self.raw.read_at(min(self._fetch, self.size - pos), pos)
        if not data:
            raise OSError(f"{self.name}: no data at byte {pos} of {self.size}")
        self.bytes_read += len(data)
        self.requests += 1
        self._next = pos + len(data)
        self._ranges = self._ranges[-(self.keep - 1):] + [(pos, data)] if self.keep > 1 else [(pos, data)]
        return pos, data

    def close(self) -> None:
        self._ranges = []
        self.raw.close()

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_readahead(location, **kwargs) -> ReadAheadFile:
    """A :class:`ReadAheadFile` on ``location`` (local path or URI); InputError if missing or unreadable."""
    return ReadAheadFile(open_input(location), name=str(location), **kwargs)


def parent(location) -> str:
    """The directory / prefix holding ``location`` (a URI stays a URI)."""
    if is_uri(location):
        head, _, _ = str(location).rstrip("/").rpartition("/")
        return head if not head.endswith(":/") else str(location)
    return str(Path(location).parent)


def exist_all(locations, threads: int = 8) -> list[bool]:
    """:func:`exists` of each location, checked concurrently (one request each on object storage);
    a location that cannot be checked raises its :class:`InputError`."""
    from concurrent.futures import ThreadPoolExecutor

    locations = list(locations)
    if len(locations) < 2:
        return [exists(x) for x in locations]
    with ThreadPoolExecutor(max_workers=min(threads, len(locations))) as pool:
        return list(pool.map(exists, locations))


def kind(location) -> str | None:
    """``"file"``, ``"directory"`` (a folder, or a prefix holding objects) or None if nothing is there."""
    import pyarrow.fs as pafs

    fs, path = resolve(location)
    try:
        t = fs.get_file_info(path).type
    except OSError as exc:
        raise InputError(location, f"cannot be checked: {_reason(exc)}") from exc
    return {pafs.FileType.File: "file", pafs.FileType.Directory: "directory"}.get(t)


def locate(path, base_dir=None) -> str:
    """Where a path listed in a file under ``base_dir`` points: a URI as given; a relative path resolved
    against ``base_dir`` (a folder, or a prefix: ``s3://b/lists`` + ``a.mp4`` → ``s3://b/lists/a.mp4``)."""
    if is_uri(path):
        return str(path)
    local = Path(path).expanduser()
    if base_dir is None or local.is_absolute():
        return str(local)
    if is_uri(base_dir):  # object keys are literal: resolve "." and ".." here, as a file system would
        scheme, _, rest = join(base_dir, local.as_posix()).partition("://")
        bucket, _, key = rest.partition("/")
        return f"{scheme}://{bucket}" + posixpath.normpath("/" + key).rstrip("/")
    return str(Path(base_dir) / local)


# --- The door's error contract: one line naming the location and what to change. A user's mistake
# (no such bucket, credentials refused, a malformed URI) is a ConfigError (the CLI exits 2); storage that
# does not answer is the environment's (exit 1).

_CREDENTIAL_CODES = ("SIGNATURE_DOES_NOT_MATCH", "INVALID_ACCESS_KEY_ID", "INVALID_TOKEN", "EXPIRED_TOKEN",
                     "INVALID_CLIENT_TOKEN_ID", "UNRECOGNIZED_CLIENT", "SignatureDoesNotMatch",
                     "InvalidAccessKeyId", "ExpiredToken", "InvalidToken")
_DENIED_CODES = ("ACCESS_DENIED", "AccessDenied", "Forbidden")
_NETWORK_CODES = ("NETWORK_CONNECTION", "curlCode", "Could not connect", "Could not resolve", "timed out",
                  "Connection refused", "REQUEST_TIMEOUT")
PROBE_CONNECT_TIMEOUT_S = 2.0  # the door's probe: a dead endpoint fails in seconds, not after minutes of retries
PROBE_REQUEST_TIMEOUT_S = 10.0


class StorageRefused(ConfigError):
    """A storage location the user must change: no such bucket, credentials refused, access denied, a
    malformed URI (the CLI exits 2)."""

    def __init__(self, location, reason: str, flag: str | None = None):
        self.location, self.reason, self.flag = str(location), reason, flag
        super().__init__([reason], source=f"{flag} {location}" if flag else str(location))

    def __reduce__(self):  # raised in Ray workers too: must survive pickling
        return type(self), (self.location, self.reason, self.flag)


class StorageUnreachable(VidrayError):
    """The storage endpoint does not answer (down, firewalled, unknown host): the environment, not the
    command (the CLI exits 1)."""

    def __init__(self, location, reason: str, flag: str | None = None):
        self.location, self.reason, self.flag = str(location), reason, flag
        super().__init__(f"{flag} {location}: {reason}" if flag else f"{location}: {reason}")

    def __reduce__(self):
        return type(self), (self.location, self.reason, self.flag)


def endpoint_of(fs) -> str:
    """Where an S3 file system sends its requests (``AWS_ENDPOINT_URL`` or AWS itself), for messages."""
    try:
        endpoint = fs.__reduce__()[1][0].get("endpoint_override") or ""
    except (AttributeError, IndexError, TypeError):
        endpoint = ""
    return endpoint or env_summary()


def storage_error(location, exc: OSError, fs=None, flag: str | None = None) -> VidrayError:
    """The one-line error for an OSError met at ``location``: :class:`StorageRefused` for credentials
    or permissions, :class:`StorageUnreachable` for the network, else :class:`EnvironmentFailure`."""
    text = str(exc)
    reason = _reason(exc)
    where = endpoint_of(fs) if fs is not None else env_summary()
    if any(code in text for code in _NETWORK_CODES):
        detail = text.rsplit("Details: ", 1)[-1].strip() if "Details: " in text else reason
        return StorageUnreachable(location, f"cannot reach the storage endpoint {where} ({detail}); check "
                                            "AWS_ENDPOINT_URL and that the endpoint is up and reachable", flag)
    if any(code in text for code in _CREDENTIAL_CODES):
        return StorageRefused(location, f"credentials refused by {where} ({reason}); check AWS_ACCESS_KEY_ID "
                                        "and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)", flag)
    if any(code in text for code in _DENIED_CODES):
        key = os.environ.get("AWS_ACCESS_KEY_ID") or "the default credentials"
        return StorageRefused(location, f"access denied by {where} for {key} ({reason}); grant it list/read/write "
                                        "on this bucket or use other credentials", flag)
    if getattr(exc, "errno", None):  # a local file system: disk full, permissions, read-only
        return os_failure(exc, f"{flag} {location}" if flag else location)
    return EnvironmentFailure(f"{flag} {location}" if flag else location,
                              f"cannot be used: {reason}; rerun the same command once it is fixed: it resumes")


def _probe_filesystem(fs):
    """``fs`` with short timeouts and no retries (S3), so that checking a dead endpoint takes seconds."""
    import pyarrow.fs as pafs

    if not isinstance(fs, pafs.S3FileSystem):
        return fs
    _, (options,) = fs.__reduce__()
    options = dict(options, connect_timeout=PROBE_CONNECT_TIMEOUT_S, request_timeout=PROBE_REQUEST_TIMEOUT_S,
                   retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))
    return pafs.S3FileSystem(**options)


def check_location(location, flag: str | None = None) -> None:
    """Fail fast, in one line, when the storage at ``location`` (an output root such as ``--storage``)
    cannot be used: a malformed URI, no such bucket, refused credentials, an unreachable endpoint.
    Two small requests on object storage (a listing, then the bucket); a local path is not checked."""
    import pyarrow.fs as pafs

    if local_path(location) is not None:
        return
    try:
        fs, path = resolve(location)
    except InputError as exc:
        raise StorageRefused(location, f"{exc.reason}; give s3://BUCKET/PREFIX (or gs://, file://)", flag) from exc
    probe = _probe_filesystem(fs)
    bucket = path.split("/", 1)[0]
    try:  # a listing has a response body: it tells a bad signature from an unknown key from a denial
        probe.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
        missing = probe.get_file_info(bucket).type == pafs.FileType.NotFound
    except OSError as exc:
        raise storage_error(location, exc, fs, flag) from exc
    if missing:
        raise StorageRefused(location, f"bucket {bucket!r} does not exist at {endpoint_of(fs)}; create it "
                                       f"or give an existing bucket", flag)


def location_of(fs, path: str) -> str:
    """The URI (object storage) or local path of ``path`` on the pyarrow file system ``fs`` — e.g. a
    Ray checkpoint's ``(filesystem, path)`` → ``s3://bucket/runs/…``."""
    scheme = {"s3": "s3", "gcs": "gs", "hdfs": "hdfs"}.get(getattr(fs, "type_name", ""), "")
    return f"{scheme}://{path.lstrip('/')}" if scheme else path
