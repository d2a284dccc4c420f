"""The Lightning logger and the Hugging Face callback, driving real training on the CPU (skipped only
when torch, lightning or transformers is not installed: scripts/python-test installs them)."""
import pytest

import dreamlake_engine as dl
from conftest import command

torch = pytest.importorskip("torch")


def tiny_data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    return x, y


def test_a_lightning_trainer_records_its_metrics_and_hyperparameters(root):
    L = pytest.importorskip("lightning.pytorch")
    from dreamlake_engine.lightning_logger import DreamlakeLogger

    class Model(L.LightningModule):
        def __init__(self, lr=0.05, width=4):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(width, 1)

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    x, y = tiny_data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    logger = DreamlakeLogger(name="lit", workspace="ws", local_path=str(root))
    trainer = L.Trainer(max_epochs=3, logger=logger, log_every_n_steps=2, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(Model(), loader)
    with dl.Session(name="lit", workspace="ws", local_path=str(root)) as s:
        assert s.parameters().get() == {"lr": 0.05, "width": 4}
        points = s.track("train_loss").read(limit=100)["data"]
        assert len(points) == 12 and all(isinstance(p["data"]["value"], float) for p in points)
        assert [p["data"]["step"] for p in points] == sorted(p["data"]["step"] for p in points)
        assert "epoch" in [t["name"] for t in s.track("train_loss").list_all()]
    assert "training success" in command("show", "ws/lit", "--root", str(root))


def test_a_transformers_trainer_records_its_logs(root, tmp_path):
    transformers = pytest.importorskip("transformers")
    from dreamlake_engine.hf_callback import DreamlakeCallback

    class Regressor(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def forward(self, x, labels=None):
            out = self.layer(x)
            return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}

    x, y = tiny_data()
    data = [{"x": x[i], "labels": y[i]} for i in range(len(x))]
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=20, logging_steps=5,
                                          per_device_train_batch_size=8, report_to=[], use_cpu=True, save_strategy="no",
                                          disable_tqdm=True)
    callback = DreamlakeCallback(name="hf", workspace="ws", local_path=str(root))
    transformers.Trainer(model=Regressor(), args=args, train_dataset=data, callbacks=[callback]).train()
    with dl.Session(name="hf", workspace="ws", local_path=str(root)) as s:
        assert s.parameters().get()["max_steps"] == 20
        steps = [p["data"]["step"] for p in s.track("loss").read()["data"]]
        assert steps == [5, 10, 15, 20]
    shown = command("show", "ws/hf", "--root", str(root))
    assert "training started" in shown and "training ended" in shown


class _Logging(torch.utils.data.Dataset if "torch" in globals() else object):
    """A dataset whose items try to log through the session the parent opened (a forked worker must be
    refused) and then write through a session of their own."""

    def __init__(self, session, root):
        self.session = session
        self.root = root

    def __len__(self):
        return 8

    def __getitem__(self, i):
        try:
            self.session.track("from_worker").append(value=float(i), step=i)
            outcome = "wrote through the parent's session"
        except dl.NotOpenError as e:
            outcome = "refused: " + e.message
        info = torch.utils.data.get_worker_info()
        with dl.Session(name=f"worker-{info.id}", workspace="ws", local_path=self.root) as own:
            own.track("items").append(value=float(i), step=i)
        return outcome


def test_dataloader_workers_are_refused_the_parents_session_and_the_parent_goes_on(root):
    with dl.Session(name="parent", workspace="ws", local_path=str(root)) as s:
        s.track("loss").append(value=1.0, step=0)
        loader = torch.utils.data.DataLoader(_Logging(s, str(root)), batch_size=None, num_workers=2,
                                             multiprocessing_context="fork")
        outcomes = list(loader)
        assert len(outcomes) == 8 and all(o.startswith("refused: ") and "fork" in o for o in outcomes), outcomes
        s.track("loss").append(value=2.0, step=1)
        assert s.track("loss").stats()["totalDataPoints"] == "2"
    total = 0
    for worker in (0, 1):
        with dl.Session(name=f"worker-{worker}", workspace="ws", local_path=str(root)) as w:
            total += int(w.track("items").stats()["totalDataPoints"])
    assert total == 8
    command("verify", "--root", str(root))


TORCHRUN = """
import os, sys
import torch.distributed as dist
import dreamlake_engine as dl
dist.init_process_group("gloo")
rank = dist.get_rank()
with dl.Session(name="ddp", workspace="ws", local_path=sys.argv[1]) as s:
    for i in range(10_000):
        s.track("loss").append(value=float(rank), step=i)
    dist.barrier()
dist.destroy_process_group()
"""


def test_the_ranks_of_torchrun_each_write_the_session_as_their_own_writer(root, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "ddp.py"
    script.write_text(TORCHRUN)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "3", "--master_port", "29517",
                           str(script), str(root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with dl.Session(name="ddp", workspace="ws", local_path=str(root)) as s:
        assert s.track("loss").stats()["totalDataPoints"] == "30000"
    for r in range(3):
        out = command("cat", "ws/ddp", "--track", "loss", "--rank", str(r), "--root", str(root), "--limit", "2")
        assert f'"value": {float(r)}' in out, out
    command("verify", "--root", str(root))
