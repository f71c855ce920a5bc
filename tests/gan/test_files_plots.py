"""A GAN in one model file (save -> load samples the same; a foreign, damaged or non-GAN file
is a ModelFileError), and its plots (loss curves, sample grids; atomic, written only when
training ends well)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.gan import ConditionalGAN, GANNetworks, plot_gan_history


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(0, 1, 30), rng.integers(0, 3, 30)].astype(np.float32)
    gan = ConditionalGAN(hidden=(8,))
    gan.fit(X, np.repeat(["a", "b", "c"], 10), epochs=2, batch_size=10, seed=0)
    return gan


def test_save_load_round_trip(fitted, tmp_path):
    path = tmp_path / "gan.safetensors"
    fitted.save(path)
    loaded = ConditionalGAN.load(path)
    assert loaded.classes_.tolist() == ["a", "b", "c"]
    for labels in (None, ["c", "a"] * 3):
        a, ya = fitted.sample(6, labels, seed=3)
        b, yb = loaded.sample(6, labels, seed=3)
        np.testing.assert_array_equal(a, b)
        assert ya.tolist() == yb.tolist()
    pair = dp.load(path)  # the plain model-file reader sees both networks in one file
    assert isinstance(pair, GANNetworks)
    names = list(pair.state_dict())
    assert any(n.startswith("generator.") for n in names)
    assert any(n.startswith("discriminator.") for n in names)
    with pytest.raises(dp.ConfigError, match="GANNetworks holds a generator"):
        pair(np.zeros((1, 2)))


def test_not_a_gan_file_and_damaged_files(fitted, tmp_path):
    other = tmp_path / "mlp.safetensors"
    dp.save(dp.nn.mlp(2, [4], 2), other)
    with pytest.raises(dp.ModelFileError, match="not a GAN's"):
        ConditionalGAN.load(other)
    path = tmp_path / "gan.safetensors"
    fitted.save(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(dp.ModelFileError):
        ConditionalGAN.load(path)
    with pytest.raises(dp.ModelFileError):
        ConditionalGAN.load(tmp_path / "missing.safetensors")


def test_an_unfitted_or_nonfinite_gan_writes_nothing(fitted, tmp_path):
    with pytest.raises(dp.ConfigError, match="not fitted"):
        ConditionalGAN().save(tmp_path / "a.safetensors")
    gan = ConditionalGAN.load(_saved(fitted, tmp_path))
    gan.generator.parameters()[0].data[0, 0] = np.nan
    with pytest.raises(dp.ConfigError, match="non-finite"):
        gan.save(tmp_path / "b.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.safetensors"]


def _saved(gan, folder):
    path = folder / "g.safetensors"
    gan.save(path)
    return path


def test_plots_of_an_image_gan(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    X = rng.random((8, 1, 8, 8)).astype(np.float32)
    gan = ConditionalGAN(latent_dim=4, channels=((4,), (4,)))
    gan.fit(X, np.repeat([0, 1], 4), epochs=4, batch_size=4, seed=0, plot=tmp_path / "p",
            plot_every=2, check_collapse=False)  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["loss_curves.png", "samples_epoch_0002.png", "samples_epoch_0004.png"]
    assert all((tmp_path / "p" / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)
    fig = plot_gan_history(gan.history)
    assert [ax.get_title() for ax in fig.axes] == ["losses", "discriminator accuracy",
                                                   "gradient norm"]  # fmt: skip
    with pytest.raises(dp.ConfigError, match="not a GAN's History"):
        plot_gan_history({"loss": [1.0]})


def test_a_bad_plot_folder_fails_before_training(tmp_path):
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    gan = ConditionalGAN(hidden=(4,))
    X = np.random.default_rng(0).random((6, 2))
    with pytest.raises(dp.ConfigError, match="plot: cannot create folder"):
        gan.fit(X, [0, 1] * 3, epochs=1, plot=blocker / "sub")
    assert gan.history is None and gan.space is None
