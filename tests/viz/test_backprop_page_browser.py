"""The backprop step-through page in a real browser: headless Chromium (Debian's package, which
.ci/run installs) driven by Playwright. The page must load without console errors, "next" must
advance the step, and the gradients it shows must equal the engine's to 4 significant digits."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,  # starts a browser
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
]

# The flags a sandboxed root session needs; the networking ones keep Chromium from calling home.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _close(shown: float, exact: float) -> bool:
    """``shown`` is ``exact`` rounded to 4 significant digits."""
    if exact == 0:
        return shown == 0
    digits = 4 - int(math.floor(math.log10(abs(exact)))) - 1
    return math.isclose(shown, round(exact, digits), rel_tol=1e-9, abs_tol=1e-12)


@pytest.fixture(scope="module")
def page_and_data(tmp_path_factory):
    dp.seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4, dtype="float64"), nn.Sigmoid(), nn.Linear(4, 2, dtype="float64")
    )
    x = np.array([0.5, -1.2, 2.0])
    path = tmp_path_factory.mktemp("page") / "backprop.html"
    data = dp.viz.backprop_page(model, x, 1, str(path), lr=0.1)
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            yield page, data, errors
        finally:
            browser.close()


def test_loads_without_console_errors_and_next_advances(page_and_data):
    page, data, errors = page_and_data
    n = len(data["steps"])
    assert page.text_content("#step") == f"Step 1 / {n}"
    page.click("#next")
    assert page.text_content("#step") == f"Step 2 / {n}"
    page.click("#prev")
    assert page.text_content("#step") == f"Step 1 / {n}"
    assert errors == []


def test_gradients_shown_equal_the_engines(page_and_data):
    page, data, errors = page_and_data
    steps = data["steps"]
    last = len(data["layers"]) - 1
    # Walk to the last backward step: every unit then shows its delta (dL/dz).
    target = max(i for i, s in enumerate(steps) if s["kind"] == "backward")
    while page.text_content("#step") != f"Step {target + 1} / {len(steps)}":
        page.click("#next")
    shown = [t for t in page.locator(".node text.delta").all_text_contents() if t]
    expected = [d for layer in data["layers"] for d in layer["delta"]]
    assert len(shown) == len(expected)
    values = [float(t.split()[-1]) for t in shown]
    for v, e in zip(sorted(values), sorted(expected)):
        assert _close(v, e), (v, e)
    # The output layer's deltas are softmax - onehot, as the engine computed them.
    probs = np.array(data["probs"])
    onehot = np.eye(len(probs))[1]
    np.testing.assert_allclose(data["layers"][last]["delta"], probs - onehot, rtol=1e-10)
    assert errors == []
