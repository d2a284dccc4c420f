"""The Python examples of the seed document (../shared/seeds/sessions.md), with only their
import line made a parameter (and, in the remote ones, the placeholders for the server and its key filled
in): `python seed_examples.py MODULE ROOT [URL KEY]` runs them all with `from MODULE
import Session, dreamlake_session` against the folder ROOT. test_seed_examples.py runs it with
dreamlake_engine and with Python dreamlake 0.2.4, and compares what each wrote."""
import importlib
import os
import sys

module = importlib.import_module(sys.argv[1])
Session = module.Session
dreamlake_session = module.dreamlake_session
data = sys.argv[2]
os.makedirs(data, exist_ok=True)
os.chdir(data)

losses = iter([0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1] * 4)


def train_epoch():
    return next(losses)


# 1. Decorator style.
@dreamlake_session(name="my-experiment", workspace="my-workspace", local_path="./experiments")
def train_model(session):
    """Session is automatically injected as a parameter"""
    session.log("Training started")
    session.parameters().set(learning_rate=0.001)
    for epoch in range(10):
        loss = train_epoch()
        session.track("loss").append(value=loss, epoch=epoch)
    return "Training complete!"


assert train_model() == "Training complete!"

# 2. Context manager style.
with Session(name="my-experiment", workspace="my-workspace", local_path="./experiments") as session:
    session.log("Session started")
    session.parameters().set(learning_rate=0.001)

# 3. Direct instantiation.
session = Session(name="my-experiment", workspace="my-workspace", local_path="./experiments")
session.open()
try:
    session.log("Session started")
    session.parameters().set(learning_rate=0.001)
finally:
    session.close()

# With metadata.
with Session(
    name="resnet50-imagenet",
    workspace="computer-vision",
    local_path="./experiments",
    description="ResNet-50 training on ImageNet with new augmentation",
    tags=["resnet", "imagenet", "augmentation"],
    folder="/experiments/2025/resnet",
) as session:
    session.log("Training started")

# Lifecycle.
session = Session(name="test", workspace="test", local_path="./data")
session.open()
assert session._is_open is True
session.log("Working...")
session.close()
assert session._is_open is False
with Session(name="test", workspace="test", local_path="./data") as session:
    assert session._is_open is True
    session.log("Working...")
assert session._is_open is False

# Properties.
with Session(name="my-session", workspace="my-workspace", local_path="./data") as session:
    print(f"Name: {session.name}")
    print(f"Workspace: {session.workspace}")
    print(f"Folder: {session.folder}")
    print(f"Tags: {session.tags}")
    print(f"Description: {session.description}")

# Reusing sessions.
with Session(name="long-training", workspace="ml", local_path="./data") as session:
    session.parameters().set(epoch=0, learning_rate=0.001)
    session.log("Starting epoch 1")
    session.track("loss").append(value=0.5, epoch=1)
with Session(name="long-training", workspace="ml", local_path="./data") as session:
    session.log("Continuing training from checkpoint")
    session.track("loss").append(value=0.3, epoch=2)

# Folders.
with Session(name="baseline", workspace="mnist", local_path="./data", folder="/experiments/2025/january") as session:
    session.log("Baseline experiment")
with Session(name="improved", workspace="mnist", local_path="./data", folder="/experiments/2025/january") as session:
    session.log("Improved experiment")

# Error handling.
try:
    with Session(name="test", workspace="test", local_path="./data") as session:
        session.log("Starting risky operation")
        1 / 0
except ZeroDivisionError:
    print("Error occurred, but session was properly closed")
assert session._is_open is False

# Session operations.
with open("model.pth", "wb") as f:
    f.write(b"\x00weights" * 1000)
with Session(name="demo", workspace="test", local_path="./data") as session:
    session.log("Hello", level="info")
    session.parameters().set(lr=0.001, batch_size=32)
    session.track("loss").append(value=0.5)
    session.files().upload("model.pth", path="/models")


# Experiment tracking.
def train_model_config(config):
    with Session(
        name=f"model-{config['architecture']}-run-{config['run_id']}",
        workspace="experiments",
        local_path="./results",
        tags=[config["architecture"], config["dataset"]],
    ) as session:
        session.parameters().set(**config)
        session.log(f"Starting training with {config['architecture']}")
        for epoch in range(config["epochs"]):
            loss = train_epoch()
            session.track("train_loss").append(value=loss, epoch=epoch)
        with open(f"model_{config['run_id']}.pth", "wb") as f:
            f.write(b"model")
        session.files().upload(f"model_{config['run_id']}.pth", path="/models")


train_model_config({"architecture": "cnn", "run_id": 7, "dataset": "mnist", "epochs": 3})


# Resuming training.
def load_checkpoint(path):
    return {"epoch": 2}


total_epochs = 5


def resume_training(checkpoint_path):
    with Session(name="long-running-experiment", workspace="research", local_path="./data") as session:
        checkpoint = load_checkpoint(checkpoint_path)
        start_epoch = checkpoint["epoch"]
        session.log(f"Resuming from epoch {start_epoch}")
        for epoch in range(start_epoch, total_epochs):
            loss = train_epoch()
            session.track("loss").append(value=loss, epoch=epoch)


resume_training("checkpoint.pt")

# Remote mode, when a server is given (`python seed_examples.py MODULE ROOT URL API_KEY`): the seed's
# placeholders, the server's address and "your-api-key-here" / "key", filled in, and nothing else changed.
if len(sys.argv) > 4:
    server, api_key = sys.argv[3], sys.argv[4]

    # Remote mode (requires API server) - with username
    with Session(
        name="cloud-training",
        workspace="production",
        remote=server,
        user_name="your-username"
    ) as session:
        session.log("Cloud session started")

    # Or with API key (advanced)
    with Session(
        name="cloud-training",
        workspace="production",
        remote=server,
        api_key=api_key
    ) as session:
        session.log("Cloud session started")

    # Write protection.
    with Session(
        name="final-model",
        workspace="production",
        remote=server,
        api_key=api_key
    ) as session:
        session.log("Training complete")

print("seed examples: done")
