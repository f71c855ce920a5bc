"""Data augmentation (deltaprop.data.augment), one batch at a time: every step keeps the batch's
shape and dtype, keeps the labels (except mixup), never writes into the batch, draws only from
the generator it is given, and does what its docstring says; bad names and parameters are
ConfigErrors naming them.
"""

from __future__ import annotations

import numpy as np
import pytest

from deltaprop.data.augment import (
    AUGMENTATIONS,
    IMAGE_AUGMENTATIONS,
    Augment,
    Cutout,
    GaussianNoise,
    Mixup,
    Neighbours,
    RandomFlip,
    RandomRotation,
    RandomShift,
    parse_names,
    resolve,
)
from deltaprop.errors import ConfigError, ShapeError

SHAPE = (1, 6, 5)  # (C, H, W): H != W catches a swapped axis


def images(n=12, shape=SHAPE, seed=0, dtype=np.float32):
    """Flat images (n, C*H*W) of distinct values, labels 0..2."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, int(np.prod(shape)))).astype(dtype)
    return X, np.arange(n) % 3


def fitted(steps, X, y, shape=SHAPE, n_classes=3):
    return Augment(steps, image_shape=shape).fit(X, y, classes=y, n_classes=n_classes)


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_step_keeps_shape_and_dtype_and_labels_and_the_batch(name, dtype):
    X, y = images(dtype=dtype)
    before = X.copy()
    aug = fitted(name, X, y)
    Xa, ya = aug(X[:8], y[:8], np.random.default_rng(1), rows=np.arange(8))
    assert Xa.shape == (8, X.shape[1]) and Xa.dtype == dtype
    assert np.array_equal(X, before)  # the batch is a view of the training data: never written
    assert np.isfinite(Xa).all()
    if name == "mixup":
        assert ya.shape == (8, 3) and ya.dtype == dtype
        np.testing.assert_allclose(ya.sum(axis=1), 1, rtol=1e-6)
    else:
        assert ya is y[:8] or np.array_equal(ya, y[:8])


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_every_step_is_seeded_by_the_generator_it_is_given(name):
    X, y = images()
    aug = fitted(name, X, y)
    rows = np.arange(len(X))

    def draw(seed):
        return aug(X, y, np.random.default_rng(seed), rows=rows)

    a, b, c = draw(3), draw(3), draw(4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(np.asarray(a[1]), np.asarray(b[1]))
    assert not np.array_equal(a[0], c[0])


def test_images_in_four_dimensions_need_no_image_shape():
    X, y = images()
    X4 = X.reshape(-1, *SHAPE)
    aug = Augment("shift,rotate,cutout,flip,noise").fit(X4, y)
    Xa, _ = aug(X4, y, np.random.default_rng(0))
    assert Xa.shape == X4.shape


# --- each step does what it says ------------------------------------------------------------


def _shifted(img, dy, dx, fill=0.0):
    out = np.full_like(img, fill)
    h, w = img.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def test_shift_moves_each_image_by_whole_pixels_and_fills_the_border():
    X, y = images(n=40)
    aug = fitted([RandomShift(pixels=1, fill=-7.0)], X, y)
    Xa, _ = aug(X, y, np.random.default_rng(0))
    seen = set()
    for before, after in zip(X.reshape(-1, *SHAPE), Xa.reshape(-1, *SHAPE)):
        matches = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if np.array_equal(after, _shifted(before, dy, dx, -7.0))
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) >= 6  # shifts are drawn per image, down and across apart


def test_shift_nearest_repeats_the_edge_and_the_default_is_a_tenth_of_the_side():
    X, y = images()
    aug = fitted([RandomShift(pixels=2, mode="nearest")], X, y)
    Xa, _ = aug(X, y, np.random.default_rng(0))
    assert np.isin(Xa, X).all()  # only pixels of the images, no fill value
    big = np.zeros((2, 28 * 28), np.float32)
    step = RandomShift()
    Augment([step], image_shape=(1, 28, 28)).fit(big, np.array([0, 1]))
    assert step._pixels == 3  # 10% of 28, rounded
    assert fitted([RandomShift()], X, y) is not None and RandomShift().pixels is None


def test_rotation_by_a_small_angle_keeps_the_edges():
    # scipy's plain "constant" mode blanks any point beyond the outer pixel centres: a 1-degree
    # rotation would zero whole edge rows. The edges must stay close to the image.
    X = np.ones((8, 1, 9, 9), np.float32)
    aug = Augment([RandomRotation(degrees=1.0)]).fit(X, np.zeros(8, int))
    Xa, _ = aug(X, None, np.random.default_rng(0))
    assert Xa[:, :, 1:-1, 1:-1].min() > 0.999
    assert Xa[:, :, 0, 3:6].min() > 0.9 and Xa[:, :, 3:6, -1].min() > 0.9


def test_rotation_rotates_each_image_apart_and_about_its_centre():
    # one image of zeros and one of ones in a batch: interpolation must not mix images
    X = np.stack([np.zeros((1, 7, 7)), np.ones((1, 7, 7))]).astype(np.float32)
    aug = Augment([RandomRotation(degrees=45.0, mode="nearest")]).fit(X, np.zeros(2, int))
    Xa, _ = aug(X, None, np.random.default_rng(0))
    assert np.array_equal(Xa, X)
    # a bar through the centre stays through the centre, and turns
    bar = np.zeros((1, 1, 9, 9), np.float32)
    bar[..., 4, :] = 1
    aug = Augment([RandomRotation(degrees=30.0)]).fit(bar, np.zeros(1, int))
    turned, _ = aug(bar, None, np.random.default_rng(0))
    assert turned[0, 0, 4, 4] == pytest.approx(1.0)
    assert not np.allclose(turned, bar, atol=0.05)


def test_flip_mirrors_left_to_right_and_only_when_asked():
    X, y = images()
    X4 = X.reshape(-1, *SHAPE)
    always = Augment([RandomFlip(p=1.0)]).fit(X4, y)
    assert np.array_equal(always(X4, y, np.random.default_rng(0))[0], X4[..., ::-1])
    half = Augment([RandomFlip()]).fit(X4, y)(X4, y, np.random.default_rng(0))[0]
    mirrored = [np.array_equal(a, b[..., ::-1]) for a, b in zip(half, X4)]
    kept = [np.array_equal(a, b) for a, b in zip(half, X4)]
    assert all(m != k for m, k in zip(mirrored, kept)) and 0 < sum(mirrored) < len(X4)
    # opt-in only: no name but "flip" makes one, and a pipeline of every other name has none
    assert [n for n, c in AUGMENTATIONS.items() if issubclass(c, RandomFlip)] == ["flip"]
    others = Augment([n for n in AUGMENTATIONS if n != "flip"], image_shape=SHAPE)
    assert not any(isinstance(s, RandomFlip) for s in others.steps)


def test_cutout_covers_one_square_of_the_given_size():
    X = np.ones((200, 1, 8, 8), np.float32)
    aug = Augment([Cutout(size=3, fill=0.0)]).fit(X, np.zeros(200, int))
    Xa, _ = aug(X, None, np.random.default_rng(0))
    covered = (Xa == 0).sum(axis=(1, 2, 3))
    assert covered.max() == 9 and covered.min() >= 2  # a corner keeps 2x2 of a 3x3 square
    for img in Xa[covered == 9]:
        r, c = np.nonzero(img[0] == 0)
        assert r.max() - r.min() == 2 and c.max() - c.min() == 2
    step = Cutout()
    Augment([step]).fit(np.zeros((1, 1, 28, 28)), np.zeros(1, int))
    assert step._size == 7  # a quarter of the side


def test_noise_is_scaled_by_each_features_spread():
    rng = np.random.default_rng(0)
    X = np.stack([np.full(4000, 5.0), rng.normal(0, 1, 4000), rng.normal(3, 100, 4000)], 1)
    X = X.astype(np.float32)
    aug = Augment([GaussianNoise(std=0.5)]).fit(X, None)
    Xa, _ = aug(X, None, np.random.default_rng(1))
    d = Xa - X
    assert np.array_equal(d[:, 0], np.zeros(4000))  # a constant feature gets no noise
    np.testing.assert_allclose(d.std(axis=0)[1:], [0.5, 50.0], rtol=0.06)
    np.testing.assert_allclose(d.mean(axis=0)[1:], [0, 0], atol=3.0)


def test_neighbours_move_each_row_towards_a_same_class_neighbour():
    X, y = images(n=30)
    y = np.arange(30) % 3
    y[-1] = 3  # a class of one row: it stays
    aug = Augment([Neighbours(k=2)]).fit(X, y, classes=y)
    rows = np.random.default_rng(5).permutation(30)[:20]
    Xa, ya = aug(X[rows], y[rows], np.random.default_rng(0), rows=rows)
    for row, moved in zip(rows, Xa):
        x = X[row]
        if y[row] == 3:
            assert np.array_equal(moved, x)
            continue
        # moved = x + u (x_j - x), u in [0, 1], x_j one of the 2 nearest of its own class
        same = np.flatnonzero((y == y[row]) & (np.arange(30) != row))
        nearest = same[np.argsort(((X[same] - x) ** 2).sum(1))[:2]]
        fits = []
        for j in nearest:
            u = np.dot(moved - x, X[j] - x) / np.dot(X[j] - x, X[j] - x)
            fits.append(0 <= u <= 1 and np.allclose(x + u * (X[j] - x), moved, atol=1e-5))
        assert any(fits)
    assert np.array_equal(ya, y[rows])


def test_neighbours_need_classes_and_the_rows_positions():
    X, y = images()
    with pytest.raises(ConfigError, match="neighbours: needs class labels"):
        Augment("neighbours").fit(X, y.astype(np.float32))
    aug = Augment("neighbours").fit(X, y, classes=y)
    with pytest.raises(ConfigError, match="neighbours: needs rows="):
        aug(X, y, np.random.default_rng(0))


def test_mixup_mixes_inputs_and_labels_alike():
    y = np.arange(64) % 4
    X = np.eye(4, dtype=np.float32)[y]  # the features are the one-hot label
    aug = Augment([Mixup(alpha=1.0)]).fit(X, y, classes=y, n_classes=4)
    Xa, ya = aug(X, y, np.random.default_rng(0))
    np.testing.assert_allclose(Xa, ya, atol=1e-6)
    assert not np.array_equal(Xa, X)
    # already soft labels (a second mixup), and regression targets, mix as numbers
    Xb, yb = aug(Xa, ya, np.random.default_rng(1))
    np.testing.assert_allclose(Xb, yb, atol=1e-6)
    t = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
    reg = Augment("mixup").fit(t, t)
    ta, tb = reg(t, t, np.random.default_rng(2))
    np.testing.assert_allclose(ta, tb) and np.testing.assert_array_less(np.abs(tb), 1 + 1e-6)


# --- names, errors ----------------------------------------------------------------------------


def test_names_resolve_once_with_aliases():
    assert parse_names(" Shift, NOISE,mix-up".replace("mix-up", "mixup")) == (
        "shift",
        "noise",
        "mixup",
    )
    assert parse_names(["SMOTE", "rotation", "crop"]) == ("neighbours", "rotate", "shift")
    assert parse_names("") == parse_names("none") == parse_names([]) == ()
    assert resolve(None) is None and resolve("") is None and resolve([]) is None
    aug = Augment("noise")
    assert resolve(aug) is aug
    assert resolve(GaussianNoise(0.3)).steps[0].std == 0.3
    assert resolve(["noise", Mixup(0.4)]).names == ("noise", "mixup")
    assert set(IMAGE_AUGMENTATIONS) == {"shift", "rotate", "flip", "cutout"}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("shift,wobble", r"augment: unknown name 'wobble'; expected one of \('shift', 'rotate'"),
        ("noise,,mixup", "augment: expected names separated by commas, got 'noise,,mixup'"),
        ("noise,Noise", "augment: 'noise' is named twice"),
        (3, "augment: expected an Augment, an Augmentation, or names separated by commas"),
        ([1], "augment: expected names or Augmentation objects, got a int in the list"),
        (["mixup", "shift", "mixup"], "augment: 'mixup' is named twice"),
    ],
)
def test_bad_names_are_config_errors(value, expected):
    with pytest.raises(ConfigError, match=expected):
        resolve(value)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: RandomShift(pixels=0), "pixels: expected an integer >= 1, got 0"),
        (lambda: RandomShift(mode="wrap"), r"mode: unknown name 'wrap'; expected one of"),
        (lambda: RandomShift(fill=float("nan")), "fill: expected a finite number, got nan"),
        (lambda: RandomRotation(degrees=0), "degrees: expected a finite number > 0"),
        (lambda: RandomRotation(degrees=270), "degrees: expected a finite number > 0 and <= 180"),
        (lambda: RandomFlip(p=1.5), r"p: expected a number in \(0, 1\]"),
        (lambda: Cutout(size=2.5), "size: expected an integer >= 1, got 2.5"),
        (lambda: GaussianNoise(std=-1), "std: expected a finite number > 0, got -1"),
        (lambda: Neighbours(k=0), "k: expected an integer >= 1, got 0"),
        (lambda: Mixup(alpha=0), "alpha: expected a finite number > 0, got 0"),
        (lambda: Augment([]), "augment: expected at least one augmentation, got none"),
        (lambda: Augment(7), "augment: expected names or Augmentation objects, got int"),
        (lambda: Augment("noise", image_shape=(1, 8)), r"image_shape: expected \(C, H, W\)"),
        (lambda: Augment("noise", image_shape=(0, 8, 8)), r"image_shape: expected \(C, H, W\)"),
    ],
)
def test_bad_parameters_are_config_errors_naming_them(make, expected):
    with pytest.raises(ConfigError, match=expected):
        make()


def test_the_data_must_fit_the_steps():
    X, y = images()
    with pytest.raises(ConfigError, match=r"augment: shift, cutout need images, and X has no"):
        Augment("shift,noise,cutout").fit(X, y)
    with pytest.raises(ShapeError, match=r"image_shape: \(1, 8, 8\) makes 64 values per row"):
        Augment("shift", image_shape=(1, 8, 8)).fit(X, y)
    with pytest.raises(ShapeError, match=r"image_shape: \(1, 5, 6\) given, but X holds"):
        Augment("shift", image_shape=(1, 5, 6)).fit(X.reshape(-1, *SHAPE), y)
    with pytest.raises(ConfigError, match="shift: pixels=5 does not fit images of 6x5"):
        Augment([RandomShift(pixels=5)], image_shape=SHAPE).fit(X, y)
    with pytest.raises(ConfigError, match="cutout: size=6 does not fit images of 6x5"):
        Augment([Cutout(size=6)], image_shape=SHAPE).fit(X, y)
    aug = Augment("noise")
    with pytest.raises(ConfigError, match="augment: fit it on the training rows first"):
        aug(X, y, np.random.default_rng(0))
    aug.fit(X, y)
    with pytest.raises(ShapeError, match=r"augment: expected rows of shape \(30,\)"):
        aug(X[:, :4], y, np.random.default_rng(0))
