"""Trainer(compile=True), the recipe key and ``deltaprop train --compile``: the same run as
eager, bit for bit, with clipping, penalties, schedules and checkpoints; the NaN guard still
stops a diverging compiled run."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.optim import StepLR

RNG = np.random.default_rng(3)
X = RNG.standard_normal((50, 5)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def fit(compile: bool, epochs: int = 3, opt: str = "adam", **options):
    dp.seed(0)
    model = nn.Sequential(
        nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2)
    )
    optimizer = (
        optim.Adam(model.parameters(), lr=1e-2)
        if opt == "adam"
        else optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    )
    fit_args = {k: options.pop(k) for k in ("checkpoint", "resume_from") if k in options}
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5) if options.pop("schedule", 0) else None
    trainer = dp.Trainer(
        model, nn.CrossEntropyLoss(), optimizer, compile=compile, scheduler=scheduler, **options
    )
    history = trainer.fit(
        X, Y, epochs=epochs, batch_size=16, seed=1, verbose=False, **fit_args
    )  # 16, 16, 16, 2: the short last batch gets its own recording
    return trainer, history


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"clip_norm": 0.5, "opt": "sgd"},
        {"clip_value": 0.05, "l1": 1e-3, "l2": 1e-2},
        {"schedule": 1, "opt": "sgd"},
    ],
)
def test_compiled_fit_is_the_eager_fit(options):
    eager, h_eager = fit(False, **dict(options))
    compiled, h_compiled = fit(True, **dict(options))
    for key in ("loss", "accuracy", "lr", "grad_norm"):
        assert h_eager.history.get(key) == h_compiled.history.get(key), key
    for (name, a), b in zip(
        eager.model.state_dict().items(), compiled.model.state_dict().values(), strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)
    step = compiled._compiled
    assert step.fallback is None and step.recordings == 2 and step.replays == 3 * 4 - 2


def test_checkpoint_of_a_compiled_run_resumes_bit_for_bit(tmp_path):
    path = tmp_path / "state.dpstate"
    whole, _ = fit(True, epochs=4)
    fit(True, epochs=2, checkpoint=path)
    resumed, history = fit(True, epochs=4, checkpoint=path, resume_from=path)
    assert len(history.history["loss"]) == 4
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow itself, as in eager
def test_nan_guard_stops_a_diverging_compiled_run():
    dp.seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    trainer = dp.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e6),
                         compile=True)  # fmt: skip
    with pytest.raises(dp.TrainingError, match="epoch 1"):
        trainer.fit(X * 1e3, Y, epochs=5, batch_size=8, verbose=False)
    for p in model.parameters():
        assert np.isfinite(p.data).all()
    assert trainer._compiled.replays >= 1  # it diverged while replaying


def test_compile_must_be_a_bool():
    model = nn.Sequential(nn.Linear(5, 2))
    with pytest.raises(dp.ConfigError, match="compile"):
        dp.Trainer(model, nn.CrossEntropyLoss(), "sgd", compile="yes")


def test_recipe_key_and_cli_flag(tmp_path):
    from deltaprop.cli import main

    csv = tmp_path / "data.csv"
    rows = ["a,b,c,label"] + [f"{a:.3f},{b:.3f},{c:.3f},{int(a + b > 0)}" for a, b, c in X[:, :3]]
    csv.write_text("\n".join(rows) + "\n")
    results = []
    for flag in ([], ["--compile"]):
        out = tmp_path / f"m{len(results)}.json"
        argv = ["train", "--dataset", str(csv), "--epochs", "3", "--hidden", "8",
                "--metrics-out", str(out), "--log-every", "3", *flag]  # fmt: skip
        assert main(argv) == 0
        metrics = json.loads(out.read_text())
        results.append({k: v for k, v in metrics.items() if "second" not in k})
    assert results[0] == results[1]
    with pytest.raises(dp.ConfigError, match="compile"):
        dp.Recipe(compile="maybe")
    assert dp.Recipe(compile=True).compile is True


def test_compile_is_refused_with_a_device_and_lanes_with_distributed():
    model = dp.nn.Sequential(dp.nn.Linear(3, 2))
    opt = dp.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(dp.ConfigError, match="compile: the compiled step runs on the CPU"):
        dp.Trainer(model, loss=dp.nn.CrossEntropyLoss(), optimizer=opt, compile=True,
                   device="cuda")  # fmt: skip
    with pytest.raises(dp.ConfigError, match="lanes: a data-parallel rank's compiled step"):
        dp.Trainer(model, loss=dp.nn.CrossEntropyLoss(), optimizer=opt, compile=True,
                   lanes=2, distributed=True)  # fmt: skip
    # the recipe refuses both before any data is read (the CLI names the flags: below)
    with pytest.raises(dp.ConfigError, match="compile: .* expected it without device cuda"):
        dp.Recipe(dataset="iris", compile=True, device="cuda")
    with pytest.raises(dp.ConfigError, match="lanes: a data-parallel rank's compiled step"):
        dp.Recipe(dataset="iris", compile=True, lanes=2, distributed=True)
    assert dp.Recipe(dataset="iris", compile=True, distributed=True).compile is True


def test_the_cli_refuses_lanes_with_distributed_by_its_flags(tmp_path, capsys):
    from deltaprop.cli import main

    save = tmp_path / "m.safetensors"
    argv = ["train", "--dataset", "iris", "--compile", "--lanes", "2", "--distributed",
            "--save", str(save)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--lanes: a data-parallel rank's compiled step runs one lane" in err
    assert "with --distributed" in err and not save.exists()


class GradReader(dp.callbacks.Callback):
    """Reads every weight's gradient after each batch, as a gradient monitor does."""

    def __init__(self) -> None:
        self.missing = 0

    def on_batch_end(self, batch, logs=None):
        self.missing += sum(p.grad is None for p in self.trainer.model.parameters())


def test_fused_update_stands_aside_for_a_callback_added_later():
    """Plain SGD fuses linear updates into the backward (no weight gradient kept) only while
    nothing reads gradients: a callback appended after the constructor sees every one."""
    dp.seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    trainer = dp.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                         compile=True)  # fmt: skip
    trainer.fit(X, Y, epochs=1, batch_size=10, verbose=False)  # 5 batches: 1 recorded, 4 replayed
    assert model[0].weight.grad is None  # fused: the update ran inside the backward
    reader = GradReader()
    trainer.callbacks.append(reader)
    trainer.fit(X, Y, epochs=2, batch_size=10, verbose=False)
    assert reader.missing == 0 and model[0].weight.grad is not None
