"""A folder of images per class (issue 10, item 6): classes sorted and named, channels from the
mode, every image the same size and channels, anything else a DataError naming the file, and
the array's size checked before it is allocated. The PNGs are written here with Pillow."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from deltaprop.data import as_images, load_dataset
from deltaprop.data.image_folder import read_image_folder
from deltaprop.errors import ConfigError, DataError
from deltaprop.recipe import Recipe
from deltaprop.recipe.build import load_data

Image = pytest.importorskip("PIL.Image")


def gray(value, size=(4, 3)):
    """An 8-bit grayscale image of ``size`` (height, width): pixel (r, c) = value + 10r + c."""
    h, w = size
    return Image.fromarray((value + 10 * np.arange(h)[:, None] + np.arange(w)).astype(np.uint8))


def write(root, files):
    """``files``: {"class/name.png": image or bytes}."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content.save(path)
    return root


def test_classes_sorted_files_sorted_pixels_scaled(tmp_path):
    write(tmp_path, {"zebra/b.png": gray(0), "zebra/a.png": gray(100), "ant/x.png": gray(50)})
    ds = load_dataset(tmp_path)
    assert ds.target_names == ["ant", "zebra"] and ds.n_classes == 2
    assert ds.y.tolist() == [0, 1, 1]
    assert ds.image_shape == (1, 4, 3) and ds.X.shape == (3, 12) and ds.X.dtype == np.float32
    images = as_images(ds)
    assert images.shape == (3, 1, 4, 3)
    # zebra/a.png (value 100) comes before zebra/b.png: files in name order
    np.testing.assert_allclose(images[1, 0], np.asarray(gray(100)) / 255.0, rtol=1e-6)
    assert images[1, 0, 2, 1] == pytest.approx((100 + 20 + 1) / 255)
    assert ds.feature_names[:2] == ["pixel_0_0", "pixel_0_1"] and ds.name == str(tmp_path)


def test_rgb_is_three_channels_first(tmp_path):
    a = np.zeros((2, 3, 3), np.uint8)
    a[..., 0], a[..., 1], a[..., 2] = 10, 20, 30  # R, G, B
    a[1, 2] = (200, 210, 220)
    write(tmp_path, {"c0/a.png": Image.fromarray(a), "c1/a.jpg": Image.fromarray(a)})
    ds = load_dataset(tmp_path)
    assert ds.image_shape == (3, 2, 3)
    img = as_images(ds)[0]
    assert img[:, 0, 0] * 255 == pytest.approx([10, 20, 30])
    assert img[:, 1, 2] * 255 == pytest.approx([200, 210, 220])
    assert ds.feature_names[:2] == ["pixel_0_0_0", "pixel_0_0_1"]


def test_hidden_files_and_folders_are_skipped(tmp_path):
    write(tmp_path, {"a/1.png": gray(0), "b/1.png": gray(9), "a/.DS_Store": b"junk",
                     ".cache/x.png": gray(3), "b/.ipynb_checkpoints/n.txt": b"x"})  # fmt: skip
    ds = load_dataset(tmp_path)
    assert ds.target_names == ["a", "b"] and len(ds.y) == 2


def test_mixed_sizes_name_the_first_offending_file_and_both_sizes(tmp_path):
    write(tmp_path, {"a/1.png": gray(0), "a/2.png": gray(0), "b/1.png": gray(0, (5, 3)),
                     "b/2.png": gray(0, (6, 6))})  # fmt: skip
    first, bad = tmp_path / "a" / "1.png", tmp_path / "b" / "1.png"
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{bad}: image of 3x5 (width x height), but {first} is 3x4")
    assert "same size" in msg


def test_gray_and_rgb_mixed_is_refused(tmp_path):
    rgb = Image.fromarray(np.zeros((4, 3, 3), np.uint8))
    write(tmp_path, {"a/1.png": gray(0), "b/1.png": rgb})
    with pytest.raises(DataError, match=r"b/1\.png: a colour \(RGB\) image, but .*a/1\.png is "
                       r"grayscale \(L\).*same channels"):  # fmt: skip
        load_dataset(tmp_path)


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    write(tmp_path, {"a/1.png": gray(0), "a/notes.txt": b"not an image", "b/1.png": gray(1)})
    with pytest.raises(DataError, match=r"a/notes\.txt: not an image Pillow can read"):
        load_dataset(tmp_path)


def test_a_truncated_image_is_named(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    write(tmp_path, {"a/1.png": Image.fromarray(noise), "b/1.png": Image.fromarray(noise)})
    whole = (tmp_path / "b" / "1.png").read_bytes()
    (tmp_path / "b" / "1.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"b/1\.png: not an image Pillow can read.*truncated"):
        load_dataset(tmp_path)


def test_a_header_claiming_a_huge_image_is_refused_unread(tmp_path):
    import struct
    import zlib

    write(tmp_path, {"a/1.png": gray(0), "b/1.png": gray(0)})
    data = bytearray((tmp_path / "b" / "1.png").read_bytes())
    data[16:24] = struct.pack(">II", 100_000, 100_000)  # IHDR width, height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (tmp_path / "b" / "1.png").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"b/1\.png: image too large to be read"):
        load_dataset(tmp_path)


def test_opaque_alpha_and_palettes_convert_transparency_is_refused(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 255, (4, 3, 3), dtype=np.uint8)
    opaque = Image.fromarray(np.dstack([rgb, np.full((4, 3), 255, np.uint8)]))
    palette = Image.fromarray(rgb).convert("P")
    write(tmp_path, {"a/1.png": opaque, "b/1.png": palette, "c/1.png": Image.fromarray(rgb)})
    ds = load_dataset(tmp_path)
    assert ds.image_shape == (3, 4, 3)
    img = as_images(ds)
    np.testing.assert_allclose(img[0], img[2])  # opaque RGBA: its RGB, alpha dropped
    np.testing.assert_allclose(img[1] * 255, np.asarray(palette.convert("RGB")).transpose(2, 0, 1))
    see_through = np.dstack([rgb, np.full((4, 3), 255, np.uint8)])
    see_through[0, 0, 3] = 40
    Image.fromarray(see_through).save(tmp_path / "a" / "2.png")
    with pytest.raises(DataError, match=r"a/2\.png: image with transparent pixels \(alpha down "
                       r"to 40\)"):  # fmt: skip
        load_dataset(tmp_path)


def test_sixteen_bit_grayscale_and_black_and_white(tmp_path):
    deep = Image.fromarray(np.array([[0, 65535], [30000, 1]], np.uint16))
    write(tmp_path, {"a/deep.png": deep, "b/bw.png": gray(0, (2, 2)).point(lambda v: 255 * (
        v > 5)).convert("1")})  # fmt: skip
    if Image.open(tmp_path / "a" / "deep.png").mode != "I;16":
        pytest.skip("this Pillow reads 16-bit PNG files in another mode")
    img = as_images(load_dataset(tmp_path))
    np.testing.assert_allclose(img[0, 0], [[0, 1], [30000 / 65535, 1 / 65535]], rtol=1e-6)
    np.testing.assert_array_equal(img[1, 0], [[0, 0], [1, 1]])


def test_other_modes_are_refused_by_name(tmp_path):
    cmyk = Image.fromarray(np.zeros((4, 3, 3), np.uint8)).convert("CMYK")
    write(tmp_path, {"a/1.jpg": cmyk, "b/1.png": gray(0)})
    with pytest.raises(DataError, match=r"a/1\.jpg: image mode 'CMYK'; expected grayscale"):
        load_dataset(tmp_path)


def test_folders_without_classes_or_with_an_empty_class(tmp_path):
    gray(0).save(tmp_path / "loose.png")
    with pytest.raises(DataError, match=r"expected one folder of images per class"):
        load_dataset(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    gray(0).save(tmp_path / "a" / "1.png")
    with pytest.raises(DataError, match=r"b: the class folder 'b' holds no images"):
        load_dataset(tmp_path)
    (tmp_path / "b" / "deeper").mkdir()
    with pytest.raises(DataError, match=r"b/deeper: a folder inside the class folder 'b'"):
        load_dataset(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_among_the_images_is_refused_unopened(tmp_path):
    write(tmp_path, {"a/1.png": gray(0), "b/1.png": gray(0)})
    os.mkfifo(tmp_path / "b" / "2.png")
    with pytest.raises(DataError, match=r"b/2\.png: is a FIFO"):
        load_dataset(tmp_path)


def test_the_array_size_is_checked_before_it_is_allocated(tmp_path):
    write(tmp_path, {f"c{k}/{i}.png": gray(i) for k in range(2) for i in range(3)})
    need = 6 * 12 * 4  # 6 images of 1x4x3 float32
    assert read_image_folder(tmp_path, max_bytes=need).X.shape == (6, 12)
    with pytest.raises(DataError, match=rf"6 images of 1x4x3 need {need} bytes as float32, more "
                       rf"than the {need - 1} allowed"):  # fmt: skip
        read_image_folder(tmp_path, max_bytes=need - 1)


def test_label_and_task_do_not_apply_to_a_folder(tmp_path):
    write(tmp_path, {"a/1.png": gray(0), "b/1.png": gray(0)})
    with pytest.raises(ConfigError, match=r"label: only applies to CSV, NPZ and single IDX"):
        load_dataset(tmp_path, label="y")
    with pytest.raises(ConfigError, match=r"task: a folder of images is classification"):
        load_dataset(tmp_path, task="regression")
    assert load_dataset(tmp_path, task="classification").n_classes == 2


def test_without_pillow_the_message_names_the_extra(tmp_path, monkeypatch):
    write(tmp_path, {"a/1.png": gray(0), "b/1.png": gray(0)})
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    with pytest.raises(ConfigError, match=r"needs Pillow.*pip install deltaprop\[images\]"):
        load_dataset(tmp_path)
    with pytest.raises(ConfigError, match=rf"^--dataset: {tmp_path}: reading a folder of images "
                       r"needs Pillow"):  # fmt: skip
        load_data(Recipe(dataset=str(tmp_path), source="cli"))
