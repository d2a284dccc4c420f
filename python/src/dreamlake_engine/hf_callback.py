"""A Hugging Face ``transformers`` callback that records a Trainer's run in a Dreamlake session::

    from dreamlake_engine.hf_callback import DreamlakeCallback
    trainer = Trainer(..., callbacks=[DreamlakeCallback(name="run-1", workspace="nlp", local_path="./runs")])

Each value the Trainer logs becomes a point ``{"value": v, "step": global_step}`` of a track of its name,
the training arguments the session's parameters, and the run's start and end log entries. Only the
main process writes (the Trainer's ``is_world_process_zero``).
"""
from transformers import TrainerCallback

from . import Session, _storable


class DreamlakeCallback(TrainerCallback):
    """Records a ``Trainer``'s run: parameters at the start, every logged number as a track, the end."""

    def __init__(self, name, workspace="transformers", local_path=None, **session_kwargs):
        self._session = Session(name=name, workspace=workspace, local_path=local_path, **session_kwargs)

    @property
    def session(self):
        return self._session

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self._session.open()
        self._session.parameters().set(**_storable(args.to_dict()))
        self._session.log("training started", max_steps=state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not self._session._is_open:
            return
        numbers = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self._session.log_metrics(numbers, step=int(state.global_step))

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self._session._is_open:
            self._session.log("training ended", global_step=state.global_step)
            self._session.close()
