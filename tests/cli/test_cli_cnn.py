"""``deltaprop train --model cnn`` / ``--residual`` / an ``architecture`` in a ``--config`` TOML
file, as a user runs them: the flags, one-line errors that name the option or the layer (and
write nothing), train -> save -> predict on digits and on a folder of images."""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.cli import build_parser, main

TINY = ["--channels", "4,8", "--hidden", "16", "--epochs", "2", "--log-every", "2"]


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_flags_come_from_the_table_and_architecture_has_none(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--model MODEL", "--channels CHANNELS", "--residual, --no-residual"):
        assert flag in text
    assert "--architecture" not in text and "architecture (a list of layers" in text
    code, _, err = cli(capsys, "train", "--model", "rnn")
    assert code == 2 and "argument --model: invalid choice: 'rnn'" in err and "cnn" in err


def test_cnn_on_tabular_data_is_one_line_naming_model_and_data_and_writes_nothing(capsys, tmp_path):
    code, out, err = cli(capsys, "train", "--model", "cnn", "--dataset", "wine",
                         "--save", tmp_path / "m.safetensors",
                         "--metrics-out", tmp_path / "m.json")  # fmt: skip
    assert code == 2 and out == ""
    assert err.startswith("deltaprop: error: --model cnn needs image data, and wine is not (rows "
                          "of 13 features, no image shape); image data: digits")  # fmt: skip
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_cnn_trains_saves_and_predicts(capsys, tmp_path):
    model = tmp_path / "cnn.safetensors"
    code, out, _ = cli(capsys, "train", "--model", "cnn", *TINY, "--save", model)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == ("digits: 1293 train + 144 validation / 360 test rows, 1x8x8 images, "
                        "10 classes; CNN 1x8x8 conv 4-8 dense 16-10 relu, batchnorm")  # fmt: skip
    accuracy = float(lines[-2].split("test_accuracy ")[1].split()[0])
    assert accuracy > 0.5 and lines[-1] == f"saved model to {model}"
    code, out, _ = cli(capsys, "predict", model, "--dataset", "digits")
    assert code == 0 and out.startswith("prediction\n")
    assert float(out.splitlines()[-1].split()[1]) > 0.5  # "accuracy 0.9... on 1797 rows"


def test_mlp_residual_from_the_command_line(capsys):
    code, out, _ = cli(capsys, "train", "--hidden", "16,16,8", "--residual", "--epochs", "2",
                       "--activation", "tanh")  # fmt: skip
    assert code == 0
    assert out.splitlines()[0].endswith("MLP 64-16-16-8-10 tanh, residual")
    code, _, err = cli(capsys, "train", "--channels", "8")
    assert code == 2 and err.startswith("deltaprop: error: --channels: conv block widths need "
                                        "--model cnn, got --model mlp")  # fmt: skip


ARCH = """\
epochs = 2
log_every = 2

[[architecture]]
type = "conv2d"
out_channels = 4
kernel_size = 3
padding = 1

[[architecture]]
type = "relu"

[[architecture]]
type = "maxpool2d"
kernel_size = 2

[[architecture]]
type = "residual"
block = [
  { type = "conv2d", out_channels = 4, kernel_size = 3, padding = 1 },
  { type = "batchnorm" },
  { type = "relu" },
]

[[architecture]]
type = "flatten"
"""


def test_architecture_from_toml_runs_and_its_mistakes_name_the_layer(capsys, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(ARCH)
    model = tmp_path / "arch.safetensors"
    code, out, _ = cli(capsys, "train", "--config", path, "--save", model)
    assert code == 0
    assert out.splitlines()[0].endswith(
        "1x8x8 images, 10 classes; architecture 1x8x8 > conv2d 4x8x8 > relu > maxpool2d 4x4x4 > "
        "residual > flatten 64 > linear 10"
    )
    code, out, _ = cli(capsys, "predict", model, "--dataset", "digits")
    assert code == 0 and float(out.splitlines()[-1].split()[1]) > 0.5
    cases = [
        (ARCH.replace("kernel_size = 2", "kernal_size = 2"),
         "architecture[2]: unknown key 'kernal_size' for maxpool2d; expected one of type, "
         "kernel_size, stride, padding"),
        (ARCH.replace('"maxpool2d"', '"maxpool3d"'),
         "architecture[2]: type: unknown name 'maxpool3d'; expected one of ('conv2d', "),
        (ARCH.replace("kernel_size = 2", "kernel_size = 9"),
         "architecture[2]: maxpool2d: MaxPool2d(9x9, stride 9): the kernel 9x9 is larger than "
         "the input's 8x8 plane"),
        (ARCH.replace("out_channels = 4, kernel_size", "in_channels = 3, out_channels = 4, "
                      "kernel_size"),
         "architecture[3].block[0]: in_channels 3 does not match its input, images (N, 4, 4, 4) "
         "with 4 channels"),
        (ARCH.replace('type = "flatten"', 'type = "linear"\nout_features = 10'),
         "architecture[4]: linear expects flat rows (N, features), got images (N, 4, 4, 4)"),
    ]  # fmt: skip
    for i, (text, message) in enumerate(cases):
        bad = tmp_path / f"bad{i}.toml"
        bad.write_text(text)
        save = tmp_path / f"bad{i}.safetensors"
        code, out, err = cli(capsys, "train", "--config", bad, "--save", save)
        assert code == 2 and err.startswith(f"deltaprop: error: {message}"), err
        assert not save.exists()
    code, _, err = cli(capsys, "train", "--config", path, "--hidden", "32")
    assert code == 2 and "its layers replace --model, --hidden" in err


def test_cnn_on_a_folder_of_images(capsys, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for name, column in (("left", 1), ("right", 8)):  # a bright bar, left or right
        (tmp_path / "shapes" / name).mkdir(parents=True)
        for i in range(30):
            img = rng.integers(0, 40, size=(10, 10)).astype(np.uint8)
            img[:, column] = 255
            Image.fromarray(img).save(tmp_path / "shapes" / name / f"{i}.png")
    model = tmp_path / "shapes.safetensors"
    code, out, _ = cli(capsys, "train", "--dataset", tmp_path / "shapes", "--model", "cnn",
                       "--channels", "4", "--hidden", "8", "--epochs", "5",
                       "--save", model)  # fmt: skip
    assert code == 0 and "1x10x10 images, 2 classes; CNN 1x10x10 conv 4 dense 8-2" in out
    code, out, _ = cli(capsys, "predict", model, "--dataset", tmp_path / "shapes")
    assert code == 0 and out.splitlines()[1] in ("left", "right")
    assert float(out.splitlines()[-1].split()[1]) >= 0.9
