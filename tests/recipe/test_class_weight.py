"""class_weight / --class-weight: scikit-learn's balanced weights from the training labels,
a weighted loss in the Trainer, a better minority-class recall on imbalanced data, errors."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.cli import main
from deltaprop.errors import ConfigError
from deltaprop.recipe import Recipe, build_trainer, run


def imbalanced_csv(path, n=600, seed=0):
    """90/10 two classes; the minority is shifted, but overlaps the majority."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    a = rng.standard_normal(n) + 1.2 * y
    b = rng.standard_normal(n) + 0.8 * y
    lines = ["a,b,label"] + [f"{u:.4f},{v:.4f},{'yes' if c else 'no'}" for u, v, c in zip(a, b, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_balanced_weights_follow_sklearns_rule():
    y = np.array([0] * 9 + [1] * 3)
    trainer = build_trainer(Recipe(class_weight="balanced"), 4, 2, "classification", y_train=y)
    np.testing.assert_allclose(trainer.loss.weight, [12 / (2 * 9), 12 / (2 * 3)])
    assert build_trainer(Recipe(), 4, 2, "classification").loss.weight is None


def test_class_weight_errors():
    with pytest.raises(ConfigError, match="--class-weight: unknown name 'even'"):
        Recipe(class_weight="even", source="cli")
    recipe = Recipe(class_weight="balanced", source="cli")
    with pytest.raises(ConfigError, match="--class-weight: class weights need a classification"):
        build_trainer(recipe, 4, 1, "regression")
    with pytest.raises(ConfigError, match="--class-weight: 'balanced' needs every class"):
        build_trainer(recipe, 4, 3, "classification", y_train=np.array([0, 1, 1]))
    with pytest.raises(ConfigError, match="class_weight: 'balanced' needs the training labels"):
        build_trainer(Recipe(class_weight="balanced"), 4, 2, "classification")


@pytest.mark.slow
def test_balanced_raises_minority_recall(tmp_path):
    path = str(imbalanced_csv(tmp_path / "imb.csv"))
    options = {"dataset": path, "hidden": "16", "epochs": 20, "seed": 0}
    recalls = {}
    for weight in (None, "balanced"):
        result = run(Recipe(class_weight=weight, **options), verbose=False)
        recalls[weight] = result.metrics["test_report"]["per_class"]["yes"]["recall"]
        if weight:  # about 9 times the weight for the 10% class
            w = result.trainer.loss.weight
            assert 6 < w[1] / w[0] < 12
    # Unweighted, the 10% class is mostly called the majority; weighted, most of it is found.
    assert recalls["balanced"] > recalls[None] + 0.2


@pytest.mark.slow
def test_cli_train_balanced_then_predict(tmp_path, capsys):
    path = str(imbalanced_csv(tmp_path / "imb.csv", n=200))
    model = str(tmp_path / "m.safetensors")
    main(["train", "--dataset", path, "--class-weight", "balanced", "--epochs", "2",
          "--hidden", "8", "--save", model, "--quiet"])  # fmt: skip
    main(["predict", model, "--dataset", path])
    out = capsys.readouterr().out
    assert "accuracy" in out and "on 200 rows" in out
