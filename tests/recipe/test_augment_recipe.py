"""The recipe key ``augment`` (TOML ``augment = "shift,noise,mixup"``, ``deltaprop train
--augment shift,noise,mixup``): names checked once, image steps only on image data, the
augmentation reaching fit (and a checkpoint), and every bad value a one-line error naming the
key, with nothing written.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from deltaprop.cli import main
from deltaprop.data import load_dataset
from deltaprop.errors import ConfigError
from deltaprop.recipe import Recipe, build, diagnose_run, run
from deltaprop.train import state as ckpt

FAST = {"hidden": "16", "epochs": 2, "log_every": 1, "seed": 1}


@pytest.fixture
def digits_images(monkeypatch):
    """digits with its image shape (1, 8, 8): the data layer's own where it gives one, else
    set here, so these tests do not depend on which of the two lands first."""
    if getattr(load_dataset("digits"), "image_shape", None) is None:
        original = build.load_dataset

        def load(name, **kwargs):
            ds = original(name, **kwargs)
            if ds.name == "digits":
                ds.image_shape = (1, 8, 8)
            return ds

        monkeypatch.setattr(build, "load_dataset", load)


def write_csv(path, regression=False, n=90):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    lines = ["a,b,c,target"]
    for row in X:
        target = f"{row[0] * 2 + row[1]:.4f}" if regression else ("yes" if row[0] > 0 else "no")
        lines.append(",".join(f"{v:.4f}" for v in row) + "," + target)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# --- the value ------------------------------------------------------------------------------


def test_names_are_checked_and_spelled_once():
    assert Recipe().augment is None
    assert Recipe(augment=" Shift, NOISE,smote").augment == "shift,noise,neighbours"
    assert Recipe(augment=["mixup", "rotation"]).augment == "mixup,rotate"
    assert Recipe(augment="none").augment is None and Recipe(augment="").augment is None
    assert Recipe(augment="noise").to_dict()["augment"] == "noise"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("shift,wobble", r"unknown name 'wobble'; expected one of \('shift', 'rotate', 'flip'"),
        ("noise,noise", "'noise' is named twice"),
        ("noise,,mixup", "expected names separated by commas"),
        (3, "expected names separated by commas, got int"),
    ],
)
def test_bad_values_name_the_key(value, expected):
    with pytest.raises(ConfigError, match="augment: " + expected):
        Recipe(augment=value)
    with pytest.raises(ConfigError, match="--augment: " + expected):
        Recipe(augment=value, source="cli")


def test_toml_takes_a_string_or_a_list(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('augment = "noise, mixup"\n')
    assert Recipe.from_toml(path).augment == "noise,mixup"
    path.write_text('[train]\naugment = ["shift", "cutout"]\n')
    assert Recipe.from_toml(path).augment == "shift,cutout"
    path.write_text("augment = 2\n")
    with pytest.raises(ConfigError, match="config key 'augment': expected str, got 2"):
        Recipe.from_toml(path)
    path.write_text('augment = ["noise", "spin"]\n')
    with pytest.raises(ConfigError, match="augment: unknown name 'spin'"):
        Recipe.from_toml(path)


# --- the run --------------------------------------------------------------------------------


def test_digits_train_with_image_augmentation_from_the_cli(tmp_path, capsys, digits_images):
    path = tmp_path / "state.ckpt"
    argv = ["train", "--augment", "shift,noise,mixup", "--hidden", "16", "--epochs", "2",
            "--checkpoint", str(path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "augment shift,noise,mixup" in out.splitlines()[0]  # the header says so
    assert "test_accuracy" in out
    spec = ckpt.read(str(path)).state["fit"]["augment"]
    assert spec.startswith("shift(") and spec.endswith("on (1, 8, 8)")


def test_a_table_takes_the_table_augmentations(tmp_path):
    data = write_csv(tmp_path / "t.csv")
    result = run(Recipe(dataset=data, augment="noise,neighbours,mixup", cv=2, **FAST),
                 verbose=False)  # fmt: skip
    assert 0 <= result.metrics["test_accuracy"] <= 1 and "cv" in result.metrics
    reg = write_csv(tmp_path / "r.csv", regression=True)
    result = run(Recipe(dataset=reg, augment="noise,mixup", **FAST), verbose=False)
    assert np.isfinite(result.metrics["test_r2"])
    diagnosed = diagnose_run(Recipe(dataset=data, augment="noise", **FAST))
    assert diagnosed.history is not None and diagnosed.test is not None


@pytest.mark.parametrize(
    "augment, regression, expected",
    [
        ("noise,shift,flip", False, "--augment: shift, flip need images, and {data} has no image"),
        ("cutout", False, "--augment: cutout needs images"),
        ("neighbours", True, "--augment: neighbours moves rows towards rows of their own class"),
    ],
)
def test_augmentation_that_does_not_fit_the_data_is_one_line_and_writes_nothing(
    tmp_path, capsys, augment, regression, expected
):
    data = write_csv(tmp_path / "d.csv", regression=regression)
    outputs = {"--save": tmp_path / "m.safetensors", "--metrics-out": tmp_path / "m.json",
               "--checkpoint": tmp_path / "s.ckpt"}  # fmt: skip
    argv = ["train", "--dataset", data, "--augment", augment, "--epochs", "2"]
    for flag, path in outputs.items():
        argv += [flag, str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deltaprop: error: ")
    assert expected.format(data=data) in err[0]
    assert not any(p.exists() for p in outputs.values())


def test_an_unknown_name_on_the_command_line(capsys):
    assert main(["train", "--augment", "shift,wobble"]) == 2
    err = capsys.readouterr().err
    assert "--augment: unknown name 'wobble'" in err and "mixup" in err


def test_the_metrics_of_an_augmented_run_are_its_own(tmp_path, digits_images):
    plain = run(Recipe(**FAST), verbose=False).metrics
    noisy = run(Recipe(augment="noise", **FAST), verbose=False).metrics
    assert plain["test_loss"] != noisy["test_loss"]
    path = tmp_path / "m.json"
    again = run(Recipe(augment="noise", metrics_out=str(path), **FAST), verbose=False).metrics
    saved = json.loads(path.read_text())
    assert saved["test_loss"] == noisy["test_loss"] == again["test_loss"]  # seeded
