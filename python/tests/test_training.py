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
