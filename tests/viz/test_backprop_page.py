"""dp.viz.backprop_page: the numbers equal hand formulas and the engine's own backward, the page
is self-contained, parses and embeds the same numbers, and bad inputs are rejected by name."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import cli, nn
from deltaprop.autograd.tensor import Tensor
from deltaprop.errors import ConfigError, ShapeError


def make_model(sizes=(3, 4, 2), act=nn.Sigmoid, seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b, dtype="float64")
        lin.weight.data = rng.normal(size=(a, b))
        lin.bias.data = rng.normal(size=b)
        layers.append(lin)
        if k < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


X = np.array([0.5, -1.0, 2.0])


def test_numbers_match_hand_formulas_two_layer_sigmoid(tmp_path):
    model = make_model()
    d = dp.viz.backprop_page(model, X, 1, tmp_path / "p.html", lr=0.1)
    W1, b1 = model[0].weight.data, model[0].bias.data
    W2, b2 = model[2].weight.data, model[2].bias.data
    z1 = X @ W1 + b1
    a1 = 1 / (1 + np.exp(-z1))
    z2 = a1 @ W2 + b2
    p = np.exp(z2 - z2.max())
    p /= p.sum()
    t = np.array([0.0, 1.0])
    loss = -np.log(p[1])
    d2 = p - t
    up1 = W2 @ d2
    loc1 = a1 * (1 - a1)
    d1 = up1 * loc1
    L1, L2 = d["layers"]
    close = dict(rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(L1["z"], z1, **close)
    np.testing.assert_allclose(L1["a"], a1, **close)
    np.testing.assert_allclose(L2["z"], z2, **close)
    np.testing.assert_allclose(d["loss"], loss, **close)
    np.testing.assert_allclose(d["probs"], p, **close)
    np.testing.assert_allclose(L2["delta"], d2, **close)
    np.testing.assert_allclose(L2["local"], [1.0, 1.0])
    np.testing.assert_allclose(L1["upstream"], up1, **close)
    np.testing.assert_allclose(L1["local"], loc1, **close)
    np.testing.assert_allclose(L1["delta"], d1, **close)
    np.testing.assert_allclose(L1["grad_weight"], np.outer(X, d1), **close)
    np.testing.assert_allclose(L2["grad_weight"], np.outer(a1, d2), **close)
    np.testing.assert_allclose(L1["grad_bias"], d1, **close)
    np.testing.assert_allclose(L2["new_weight"], W2 - 0.1 * np.outer(a1, d2), **close)
    np.testing.assert_allclose(L1["new_bias"], b1 - 0.1 * d1, **close)
    # the model is not changed and keeps no gradients from the page
    assert model[0].weight.grad is None
    np.testing.assert_array_equal(model[0].weight.data, W1)


@pytest.mark.parametrize(
    "sizes, act, loss, y",
    [
        ((3, 4, 2), nn.Sigmoid, "cross_entropy", 0),
        ((3, 5, 4, 3), nn.Tanh, "cross_entropy", 2),
        ((3, 4, 3, 2), nn.ReLU, "mse", np.array([0.3, -0.7])),
    ],
)
def test_gradients_equal_whole_model_backward(sizes, act, loss, y):
    model = make_model(sizes, act)
    d = dp.viz.backprop_page(model, X[None, :], y, None, loss=loss)
    target = np.array([y]) if loss == "cross_entropy" else y[None, :]
    out = nn.get_loss(loss)(model(Tensor(X[None, :], dtype="float64")), target)
    out.backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert len(linears) == len(d["layers"])
    np.testing.assert_allclose(d["loss"], out.item(), rtol=1e-12)
    for lin, layer in zip(linears, d["layers"]):
        np.testing.assert_allclose(layer["grad_weight"], lin.weight.grad.data, rtol=1e-10)
        np.testing.assert_allclose(layer["grad_bias"], lin.bias.grad.data, rtol=1e-10)
        # delta = upstream x local, node by node
        np.testing.assert_allclose(
            layer["delta"], np.multiply(layer["upstream"], layer["local"]), rtol=1e-10
        )


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.data_json, self._in_data = set(), None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        self._in_data = tag == "script" and attrs.get("id") == "backprop-data"

    def handle_endtag(self, tag):
        self._in_data = False

    def handle_data(self, data):
        if self._in_data:
            self.data_json = (self.data_json or "") + data


def test_page_is_self_contained_and_embeds_the_numbers(tmp_path):
    path = tmp_path / "page.html"
    d = dp.viz.backprop_page(make_model((3, 4, 3, 2)), X, 1, path)
    text = path.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert "<link" not in text and "src=" not in text
    parser = _Collect()
    parser.feed(text)
    parser.close()
    assert {"next", "prev", "play", "step", "explain", "net", "backprop-data"} <= parser.ids
    assert json.loads(parser.data_json) == json.loads(json.dumps(d))
    assert "'use strict'" in text


def test_step_order_and_text():
    d = dp.viz.backprop_page(make_model((3, 4, 3, 2)), X, 1, None, lr=0.5)
    kinds = [s["kind"] for s in d["steps"]]
    n_units = 4 + 3 + 2
    assert kinds == ["forward"] * 3 + ["loss"] + ["backward"] * n_units + ["update"] * 3
    assert [s["layer"] for s in d["steps"][:3]] == [0, 1, 2]
    back = [(s["layer"], s["unit"]) for s in d["steps"] if s["kind"] == "backward"]
    assert back == [(2, 0), (2, 1), (1, 0), (1, 1), (1, 2), (0, 0), (0, 1), (0, 2), (0, 3)]
    first_back = d["steps"][4]
    assert f"{d['layers'][2]['delta'][0]:.4g}" in first_back["text"]
    assert f"{d['loss']:.4g}" in d["steps"][3]["text"]
    assert f"{d['layers'][0]['new_weight'][0][0]:.4g}" in d["steps"][-3]["text"]


def test_bad_inputs_are_named():
    too_deep = make_model((2,) * 8)
    with pytest.raises(ConfigError, match="model: at most 6 Linear"):
        dp.viz.backprop_page(too_deep, [0.0, 1.0], 0, None)
    too_wide = make_model((3, 9, 2))
    with pytest.raises(ConfigError, match="model: at most 8 units"):
        dp.viz.backprop_page(too_wide, X, 0, None)
    with pytest.raises(ConfigError, match="model: expected an nn.Sequential"):
        dp.viz.backprop_page(nn.Linear(3, 2), X, 0, None)
    with pytest.raises(ConfigError, match="model: layer 1 is a Dropout"):
        dp.viz.backprop_page(nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5)), X, 0, None)
    with pytest.raises(ShapeError, match="x: the model takes 3 features, got 2"):
        dp.viz.backprop_page(make_model(), [1.0, 2.0], 0, None)
    with pytest.raises(ShapeError, match="x: expected one example"):
        dp.viz.backprop_page(make_model(), np.ones((2, 3)), 0, None)
    with pytest.raises(ConfigError, match="y: expected a class label in 0..1"):
        dp.viz.backprop_page(make_model(), X, 5, None)
    with pytest.raises(ConfigError, match="loss:"):
        dp.viz.backprop_page(make_model(), X, 0, None, loss="hinge")
    with pytest.raises(ConfigError, match="lr:"):
        dp.viz.backprop_page(make_model(), X, 0, None, lr=-1)
    with pytest.raises(ConfigError, match="path: folder does not exist"):
        dp.viz.backprop_page(make_model(), X, 0, "/no/such/folder/p.html")


def test_cli_visualize_writes_the_page(tmp_path, capsys):
    out = tmp_path / "bp.html"
    rc = cli.main(["visualize", "--out", str(out), "--hidden", "3,2", "--lr", "0.2"])
    assert rc == 0
    text = out.read_text(encoding="utf-8")
    assert 'id="next"' in text and "https://" not in text
    assert "4-3-2-3 network" in capsys.readouterr().out


def test_cli_visualize_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["visualize", "--dataset", "digits", "--out", str(tmp_path / "a.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dataset" in err[0]
    assert cli.main(["visualize", "--hidden", "4,12", "--out", str(tmp_path / "a.html")]) == 2
    assert "--hidden" in capsys.readouterr().err


def _embedded(page: str) -> dict:
    start = page.index('id="backprop-data">') + len('id="backprop-data">')
    return json.loads(page[start : page.index("</script>", start)])


@pytest.mark.parametrize(
    ("sizes", "loss", "y"),
    [((3, 4, 2), "cross_entropy", 1), ((3, 4, 3, 2), "mse", [1.0783, -20.125]),
     ((3, 8), "mse", [-1.234567] * 8)],
)  # fmt: skip
def test_loss_label_fits_inside_the_drawing(tmp_path, sizes, loss, y):
    # The label used to start 130 units from the right edge of a 900-wide drawing, and
    # "L = 1.078 (target class 1)" (14px bold) needs about 240: it was cut at the edge.
    from deltaprop.viz import page_assets
    from deltaprop.viz.backprop_page import LABEL_CHAR_PX

    path = tmp_path / "p.html"
    dp.viz.backprop_page(make_model(sizes), X, y, path, loss=loss, lr=0.1)
    data = _embedded(path.read_text())
    width, right = data["layout"]["width"], data["layout"]["right"]
    label_x = width - right + 40  # the output column is `right` from the edge; the label +40
    longest = max(len(line) for line in data["loss_label"])
    assert label_x + longest * LABEL_CHAR_PX <= width
    assert LABEL_CHAR_PX >= 0.6 * 14  # bold digits are ~0.56 em: the estimate is not short
    assert data["loss_label"][0] == "L = " + format(data["loss"], ".4g")
    assert data["loss_label"][1].startswith("(target ")
    # the script draws with these numbers, not its own constants
    js = page_assets.PAGE_JS
    assert "data.layout.width" in js and "data.layout.right" in js
    assert "data.loss_label" in js and "900" not in js
