"""Dreamlake's engine in the training process, behind Python dreamlake 0.2.4's API.

Switch an existing program with its import line::

    from dreamlake_engine import Session, dreamlake_session   # was: from dreamlake import ...

Sessions, logs, parameters, tracks and files are what Python dreamlake's local mode has, name for
name; they are written into Dreamlake's store (README, "From Python"), which ``dreamlake ls``,
``show``, ``cat``, ``export``, ``verify`` and ``ui`` read, and which ``dreamlake export`` turns into
Python dreamlake's JSONL layout byte for byte. ``local_path`` may also be an S3 root,
``s3://bucket/prefix``.
"""

import functools
import json
import operator
import os

from . import _engine

__all__ = [
    "Session",
    "dreamlake_session",
    "DreamlakeError",
    "InvalidNameError",
    "NotOpenError",
    "WriteProtectedError",
    "ReadOnlyError",
    "NotFoundError",
    "ChecksumMismatchError",
    "InvalidValueError",
    "InvalidArgumentError",
    "StoreError",
    "DreamlakeIOError",
    "InvalidInputError",
    "ExistsError",
    "RemoteError",
    "BusyError",
]

__version__ = _engine.version()


class DreamlakeError(Exception):
    """A failure of the engine: ``message`` says what happened and what to do, ``code`` is the
    C API's error code (DREAMLAKE_E_*), ``path`` the file it is about, or None."""

    def __init__(self, message, code=99, path=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.path = path


# Each is also the built-in exception Python dreamlake raises for it, so that code written for it
# catches these as it caught those (RuntimeError for a session that is not open, ValueError for a
# bad argument).
class InvalidNameError(DreamlakeError, ValueError):
    """A session, workspace, track or file name was refused."""


class NotOpenError(DreamlakeError, RuntimeError):
    """The session is not open (or was opened before this process forked)."""


class WriteProtectedError(DreamlakeError, RuntimeError):
    """The session is write-protected."""


class ReadOnlyError(DreamlakeError, RuntimeError):
    """The session was opened for reading only."""


class NotFoundError(DreamlakeError, LookupError, ValueError):
    """No such session, track or file."""


class ChecksumMismatchError(DreamlakeError, ValueError):
    """A stored file's bytes are not those it was stored with."""


class InvalidValueError(DreamlakeError, ValueError):
    """A value the store cannot keep."""


class InvalidArgumentError(DreamlakeError, ValueError):
    """An argument out of range or malformed."""


class StoreError(DreamlakeError, OSError):
    """The store failed, or is damaged."""


class DreamlakeIOError(DreamlakeError, OSError):
    """A file or the network failed."""


class InvalidInputError(DreamlakeError, ValueError):
    """Input that is not what it should be (JSON that is not an object, say)."""


class ExistsError(DreamlakeError, FileExistsError):
    """Something of that name is there already."""


class RemoteError(DreamlakeError, RuntimeError):
    """A remote session's server refused, or could not be reached."""


class BusyError(DreamlakeError, RuntimeError):
    """Another machine writes the session (an S3 root's)."""


_engine._set_errors(
    DreamlakeError,
    {
        1: InvalidNameError,
        2: NotOpenError,
        3: WriteProtectedError,
        4: ReadOnlyError,
        5: NotFoundError,
        6: ChecksumMismatchError,
        7: InvalidValueError,
        8: InvalidArgumentError,
        9: StoreError,
        10: DreamlakeIOError,
        11: InvalidInputError,
        12: ExistsError,
        13: RemoteError,
        14: BusyError,
    },
)

_LEVELS = ("debug", "info", "warn", "error", "fatal")


def _json(value, what):
    try:
        return json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise InvalidValueError(f"{what} cannot be stored: {e}", 7) from None


def _storable(value):
    """A value as the store keeps it, for the integrations' hyperparameters: numbers, strings, bools, None,
    and lists and dicts of them; anything else as its str."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    return str(value)


def _given(**fields):
    """The fields given (those not None), as the engine takes its options: tags as a list."""
    given = {key: value for key, value in fields.items() if value is not None}
    if "tags" in given:
        given["tags"] = list(given["tags"])
    return given


class LogBuilder:
    """``session.log(metadata=...)``'s fluent form: ``.info("message", **more_metadata)``."""

    def __init__(self, session, metadata=None):
        self._session = session
        self._metadata = metadata

    def _write(self, level, message, extra):
        metadata = {**(self._metadata or {}), **extra}
        self._session._write_log(message, level, metadata or None)

    def debug(self, message, **extra_metadata):
        self._write("debug", message, extra_metadata)

    def info(self, message, **extra_metadata):
        self._write("info", message, extra_metadata)

    def warn(self, message, **extra_metadata):
        self._write("warn", message, extra_metadata)

    def error(self, message, **extra_metadata):
        self._write("error", message, extra_metadata)

    def fatal(self, message, **extra_metadata):
        self._write("fatal", message, extra_metadata)


class ParametersBuilder:
    """``session.parameters()``: ``set(**values)`` (nested dicts become dot keys) and ``get(flatten=)``."""

    def __init__(self, session):
        self._session = session

    def set(self, **kwargs):
        engine = self._session._require_open()
        if kwargs:
            engine.set_parameters(_json(kwargs, "the parameters"))
        return self

    def get(self, flatten=True):
        engine = self._session._require_open()
        return json.loads(engine.get_parameters(bool(flatten)))


class FilesBuilder:
    """``session.files()``: ``upload(file_path, path=, description=, tags=, metadata=)`` and
    ``list(path=, tags=)``; each file's record is a dict (id, path, filename, checksum, ...)."""

    def __init__(self, session):
        self._session = session

    def upload(self, file_path, *, path="/", description=None, tags=None, metadata=None):
        engine = self._session._require_open()
        file_path = os.fspath(file_path)
        if not os.path.exists(file_path):
            raise NotFoundError(f"File not found: {file_path}", 5, file_path)
        if not os.path.isfile(file_path):
            raise InvalidArgumentError(f"Path is not a file: {file_path}", 8, file_path)
        options = _given(path=path, description=description, tags=tags, metadata=metadata)
        return json.loads(engine.files_upload(file_path, _json(options, "the file's fields")))

    def list(self, *, path=None, tags=None):
        engine = self._session._require_open()
        return json.loads(engine.files_list(path, _json(list(tags), "the tags") if tags else None))


class FileBuilder:
    """``session.file(**kwargs)``: Python dreamlake's one-file form: ``file(file_path=, prefix=).save()``,
    ``file(file_id=, dest_path=).download()``, ``file(file_id=).delete()``, ``file(file_id=, description=).update()``,
    ``file(prefix=, tags=).list()``."""

    def __init__(self, session, **kwargs):
        self._session = session
        self._file_path = kwargs.get("file_path")
        self._prefix = kwargs.get("prefix", "/")
        self._description = kwargs.get("description")
        self._tags = kwargs.get("tags", [])
        self._metadata = kwargs.get("metadata")
        self._file_id = kwargs.get("file_id")
        self._dest_path = kwargs.get("dest_path")

    def save(self):
        if not self._file_path:
            raise ValueError("file_path is required for save() operation")
        return FilesBuilder(self._session).upload(
            self._file_path, path=self._prefix, description=self._description, tags=self._tags, metadata=self._metadata
        )

    def list(self):
        return FilesBuilder(self._session).list(
            path=self._prefix if self._prefix != "/" else None, tags=self._tags if self._tags else None
        )

    def _id(self, operation):
        if not self._file_id:
            raise ValueError(f"file_id is required for {operation}() operation")
        return self._file_id

    def download(self):
        engine = self._session._require_open()
        return engine.files_download(self._id("download"), os.fspath(self._dest_path) if self._dest_path else None)

    def delete(self):
        engine = self._session._require_open()
        return json.loads(engine.files_delete(self._id("delete")))

    def update(self):
        engine = self._session._require_open()
        changes = _given(description=self._description, tags=self._tags or None, metadata=self._metadata)
        return json.loads(engine.files_update(self._id("update"), _json(changes, "the file's changes")))


class TrackBuilder:
    """``session.track(name)``: ``append(**fields)``, ``append_batch([...])``, ``read()``, ``stats()``,
    ``list_all()``. ``append(value=FLOAT, step=INT)`` is the engine's fast path."""

    __slots__ = ("_session", "_engine", "name", "append")

    def __init__(self, session, engine_track):
        self._session = session
        self._engine = engine_track
        self.name = engine_track.name
        # The engine's own method: a call goes straight to C.
        self.append = engine_track.append

    def append_batch(self, data_points):
        if not data_points:
            raise ValueError("data_points cannot be empty")
        first = None
        last = None
        for point in data_points:
            index = self._engine._append_dict(point)
            if first is None:
                first = index
            last = index
        return {
            "startIndex": str(first),
            "endIndex": str(last),
            "count": len(data_points),
            "bufferedDataPoints": str(last + 1),
            "chunkSize": 10000,
        }

    def append_arrays(self, **fields):
        """Appends one point a position of the given arrays (NumPy arrays, or array.array), without a
        Python loop: ``append_arrays(value=np_losses, step=np.arange(n))``. float64 ``value`` and int64
        ``step`` alone take the engine's batch path. Returns ``(first index, count)``."""
        if not fields:
            raise ValueError("give each field as an array: append_arrays(value=..., step=...)")
        return self._engine._append_arrays(tuple(fields), tuple(fields.values()))

    def to_numpy(self, fields=("value", "step"), start_index=0, limit=None):
        """Points ``start_index`` on (``limit`` of them, or all) as NumPy arrays: ``{"index": uint64 array,
        field: float64 array, ...}``; a point without a field, or whose field is not a number, has NaN there."""
        import numpy as np

        if limit is None:
            try:
                total = int(json.loads(self._engine._stats())["count"])
            except NotFoundError:
                total = 0  # nothing was ever appended to it
            limit = max(0, total - int(start_index))
        fields = tuple(fields)
        columns = tuple(np.empty(limit, dtype=np.float64) for _ in fields)
        indexes = np.empty(limit, dtype=np.uint64)
        count = self._engine._read_columns(int(start_index), int(limit), fields, columns, indexes)
        out = {"index": indexes[:count]}
        for name, column in zip(fields, columns):
            out[name] = column[:count]
        return out

    def to_pandas(self, fields=("value", "step"), start_index=0, limit=None):
        """``to_numpy``'s columns as a pandas DataFrame indexed by the points' indexes (pandas must be installed)."""
        import pandas as pd

        columns = self.to_numpy(fields, start_index, limit)
        index = columns.pop("index")
        return pd.DataFrame(columns, index=pd.Index(index, name="index"))

    def to_arrow(self):
        """Every point as a pyarrow Table with the columns of this track's file in
        ``dreamlake export --format parquet``: ``workspace``, ``session``, ``index``, ``timestamp`` (UTC
        microseconds), ``rank``, then a column a field, each typed as its values are (pyarrow must be
        installed). ``to_arrow().to_pandas()`` and ``polars.from_arrow(...)`` give the same columns."""
        import os
        import tempfile

        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory(prefix="dreamlake-arrow-") as folder:
            path = os.path.join(folder, "track.parquet")
            self._engine._write_parquet(path)
            return pq.read_table(path, memory_map=False)

    def envelope(self, buckets=1000, field="value"):
        """The track's M4 envelope of ``field`` in ``buckets`` buckets: a list of dicts with each bucket's
        ``start``/``end`` indexes, ``count``, and its ``first``, ``last``, ``min`` and ``max`` points
        (``{"index", "value"}``) — every extreme of the curve, for drawing it exactly at that width."""
        return json.loads(self._engine._envelope(field, int(buckets)))

    def read(self, start_index=0, limit=1000):
        if start_index < 0 or limit < 0:
            raise InvalidArgumentError("start_index and limit are 0 or more", 8)
        page = json.loads(self._engine._read(int(start_index), int(limit)))
        data = [
            {"index": str(p["index"]), "data": p["data"], "createdAt": _iso(p["timestamp"])}
            for p in page["points"]
        ]
        return {
            "data": data,
            "startIndex": start_index,
            "endIndex": start_index + len(data) - 1 if data else start_index - 1,
            "total": len(data),
            "hasMore": page["hasMore"],
        }

    def stats(self):
        return _track_stats(json.loads(self._engine._stats()))

    def list_all(self):
        return self._session._list_tracks()


def _iso(micros):
    """Microseconds since 1970 as Python dreamlake writes times: ``datetime.utcnow().isoformat() + "Z"``."""
    import datetime

    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=micros)
    return t.isoformat() + "Z"


def _track_stats(s):
    return {
        "trackId": s["name"],
        "name": s["name"],
        "description": s["description"],
        "tags": s["tags"],
        "metadata": s["metadata"],
        "totalDataPoints": str(s["count"]),
        "bufferedDataPoints": str(s["count"]),
        "chunkedDataPoints": "0",
        "totalChunks": 0,
        "chunkSize": 10000,
        "firstDataAt": _iso(s["firstTimestamp"]) if s["firstTimestamp"] is not None else None,
        "lastDataAt": _iso(s["lastTimestamp"]) if s["lastTimestamp"] is not None else None,
        "createdAt": _iso(s["createdAt"]),
        "updatedAt": _iso(s["updatedAt"]),
    }


class Session:
    """A run of an experiment, as Python dreamlake 0.2.4's ``Session`` in local mode.

    ``with Session(name=..., workspace=..., local_path=...) as session:`` opens it and closes it;
    ``open()`` and ``close()`` do it by hand. ``local_path`` is the folder sessions are kept under
    (default: ``$DREAMLAKE_PATH``, else ``./.dreamlake``), or an S3 root ``s3://bucket/prefix``.

    ``remote="http://host:port"`` with ``api_key=`` (or ``user_name=``, for which a key is made as
    Python dreamlake makes it) sends the session to a server (``dreamlake serve``, or Python
    dreamlake's): appends are written locally first and sent in the background, so they never wait
    for the network; ``flush()`` and ``close()`` wait for delivery and raise ``RemoteError`` for what
    the server refused or did not get (it is sent at the next opening). With ``local_path`` too, the
    session is also kept readable in that folder (Python dreamlake's hybrid mode).
    """

    def __init__(
        self,
        name,
        workspace,
        *,
        description=None,
        tags=None,
        folder=None,
        write_protected=False,
        metadata=None,
        remote=None,
        api_key=None,
        user_name=None,
        local_path=None,
        rank=None,
    ):
        for what, text in (("session", name), ("workspace", workspace)):
            if not isinstance(text, str):
                raise TypeError(f"the {what}'s name is a str, not {type(text).__name__}")
            if "\x00" in text:
                raise InvalidNameError(f"the {what}'s name {text!r} holds a NUL character", 1)
        self.name = name
        self.workspace = workspace
        self.description = description
        self.tags = tags
        self.folder = folder
        self.write_protected = write_protected
        self.metadata = metadata
        self.local_path = local_path
        self.remote = remote
        options = _given(
            description=description, tags=tags, folder=folder, metadata=metadata, write_protected=True if write_protected else None, rank=rank
        )
        if remote:
            # Python dreamlake's remote mode: the API key, else one made from the user name.
            options.update(_given(remote=remote, api_key=api_key or None, user_name=None if api_key else user_name))
        self._engine = _engine.Session(
            name, workspace, os.fspath(local_path) if local_path is not None else None, _json(options, "the session's fields")
        )
        self._tracks = {}
        self._metric_tracks = {}  # name -> the engine's track, for log_metrics

    # Lifecycle

    @property
    def _is_open(self):
        return self._engine.is_open

    def open(self):
        """Opens the session: creates its store, or continues the one there. Returns the session."""
        self._engine.open()
        return self

    def close(self):
        """Flushes and closes the session (closing twice is harmless)."""
        self._tracks.clear()
        self._metric_tracks.clear()
        self._engine.close()

    def flush(self):
        """Makes everything appended so far durable before it returns."""
        self._engine.flush()

    def __enter__(self):
        return self.open()

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()
        return False

    def _require_open(self):
        if not self._engine.is_open:
            self._engine.check()  # a session opened before fork() says so
            raise NotOpenError("Session not open. Use session.open() or context manager.", 2)
        return self._engine

    @property
    def id(self):
        """The session's id: ``workspace/name``."""
        return f"{self.workspace}/{self.name}"

    @property
    def data(self):
        """The stored session fields."""
        return json.loads(self._engine.info())

    # Logs

    def log(self, message=None, level=None, metadata=None, **extra_metadata):
        """``log("message", level="info", metadata={...}, **more)`` writes an entry; ``log(metadata=...)``
        without a message returns a ``LogBuilder`` (``.info("message")``)."""
        self._require_open()
        if message is None:
            combined = {**(metadata or {}), **extra_metadata}
            return LogBuilder(self, combined or None)
        combined = {**(metadata or {}), **extra_metadata}
        self._write_log(message, level or "info", combined or None)
        return None

    def _write_log(self, message, level, metadata):
        if level not in _LEVELS:
            raise ValueError(f"Invalid log level: {level}. Must be one of {list(_LEVELS)}")
        if not isinstance(message, str):
            raise TypeError(f"a log message is a str, not {type(message).__name__}")
        self._engine.log(level, message, _json(metadata, "the log's metadata") if metadata else None)

    # Parameters, tracks

    def parameters(self):
        """The session's parameters: ``parameters().set(lr=0.001)``, ``parameters().get()``."""
        return ParametersBuilder(self)

    def files(self):
        """The session's files: ``files().upload("model.pth", path="/models")``, ``files().list()``."""
        return FilesBuilder(self)

    def file(self, **kwargs):
        """One file's operations, Python dreamlake's ``file(...)`` form (see ``FileBuilder``)."""
        return FileBuilder(self, **kwargs)

    def track(self, name, description=None, tags=None, metadata=None):
        """The track ``name``: ``track("loss").append(value=0.5, step=1)``."""
        engine = self._require_open()
        track = self._tracks.get(name)
        if track is None:
            options = _given(description=description, tags=tags, metadata=metadata)
            track = TrackBuilder(self, engine.track(name, _json(options, "the track's fields") if options else None))
            self._tracks[name] = track
        return track

    def log_metrics(self, metrics, step):
        """``log_metrics({"loss": 0.31, "acc": 0.9}, step=1200)``: each name a track, given the point
        ``{"value": float(number), "step": step}``, as ``track(name).append(value=..., step=step)`` for
        each would; one call for the whole dict, in the engine (the form W&B's ``run.log``, MLflow's
        ``log_metrics`` and Lightning's ``log_metrics`` take). A value is a number, or anything
        ``float()`` takes (a NumPy number, a tensor of one value); the first that is not raises
        ``TypeError``, the metrics before it appended."""
        engine = self._require_open()
        if not isinstance(metrics, dict):
            raise TypeError(f"metrics is a dict of name: number, not {type(metrics).__name__}")
        if isinstance(step, bool) or not isinstance(step, int):
            step = operator.index(step)  # a NumPy integer; a float or a str raises TypeError
        engine.append_metrics(self._metric_tracks, metrics, step)

    def _list_tracks(self):
        return [
            {
                "trackId": s["name"],
                "name": s["name"],
                "description": s["description"],
                "tags": s["tags"],
                "totalDataPoints": str(s["count"]),
                "createdAt": _iso(s["createdAt"]),
            }
            for s in json.loads(self._require_open().list_tracks())
        ]


def dreamlake_session(name, workspace, **session_kwargs):
    """Decorates a function so that it runs inside a session, given as its ``session`` keyword::

        @dreamlake_session(name="run", workspace="ws", local_path="./experiments")
        def train(session):
            session.log("Training started")
    """

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **func_kwargs):
            with Session(name=name, workspace=workspace, **session_kwargs) as session:
                func_kwargs["session"] = session
                return func(*args, **func_kwargs)

        return wrapper

    return decorator
