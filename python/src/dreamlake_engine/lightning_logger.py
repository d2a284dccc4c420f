"""A PyTorch Lightning logger that records a run in a Dreamlake session::

    from dreamlake_engine.lightning_logger import DreamlakeLogger
    trainer = Trainer(logger=DreamlakeLogger(name="run-1", workspace="mnist", local_path="./runs"))

Metrics become tracks (one a metric, points ``{"value": v, "step": step}``, the engine's fast path),
hyperparameters the session's parameters, and the run's end a log entry. As Lightning's own loggers
do, only the process of global rank 0 writes.
"""
from argparse import Namespace

from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from . import Session, _storable


class DreamlakeLogger(Logger):
    """Lightning's ``Logger`` over a Dreamlake ``Session`` (``experiment``), opened at the first log."""

    def __init__(self, name, workspace="lightning", local_path=None, **session_kwargs):
        super().__init__()
        self._session_name = name
        self._workspace = workspace
        self._local_path = local_path
        self._session_kwargs = session_kwargs
        self._session = None

    @property
    def name(self):
        return self._workspace

    @property
    def version(self):
        return self._session_name

    @property
    @rank_zero_experiment
    def experiment(self):
        """The session, opened when first used."""
        if self._session is None:
            self._session = Session(name=self._session_name, workspace=self._workspace, local_path=self._local_path,
                                    **self._session_kwargs)
            self._session.open()
        return self._session

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs):
        if isinstance(params, Namespace):
            params = vars(params)
        values = _storable(dict(params or {}))
        if values:
            self.experiment.parameters().set(**values)

    @rank_zero_only
    def log_metrics(self, metrics, step=None):
        session = self.experiment
        if step is not None:
            session.log_metrics(metrics, step=int(step))  # each value float()ed: a tensor of one value, a NumPy number
            return
        for key, value in metrics.items():
            session.track(key).append(value=float(value))

    @rank_zero_only
    def save(self):
        if self._session is not None and self._session._is_open:
            self._session.flush()

    @rank_zero_only
    def finalize(self, status):
        if self._session is not None and self._session._is_open:
            self._session.log(f"training {status}", level="info" if status == "success" else "warn")
            self._session.close()
