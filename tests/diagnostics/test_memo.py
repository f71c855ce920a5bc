"""The memoization demo: naive path-by-path gradients equal the engine's; counts by hand."""

import numpy as np
import pytest

from deltaprop import cli
from deltaprop.diagnostics import memo, recompute
from deltaprop.errors import ConfigError


@pytest.mark.parametrize(
    "sizes, activation",
    [([3, 1], "tanh"), ([2, 3, 1], "tanh"), ([3, 4, 2], "sigmoid"),
     ([4, 4, 4, 1], "tanh"), ([2, 3, 4, 3, 2], "sigmoid"), ([4, 4, 4, 4, 1], "tanh")],
)  # fmt: skip
def test_naive_path_gradients_equal_the_engines(sizes, activation):
    weights, biases, x, t = memo.random_mlp(sizes, seed=3)
    gw, gb, mults = memo.naive_gradients(weights, biases, x, t, activation)
    ew, eb = memo.engine_gradients(weights, biases, x, t, activation)
    for naive, engine in zip(gw + gb, ew + eb):
        assert naive.dtype == engine.dtype == np.float64
        np.testing.assert_allclose(naive, engine, rtol=1e-10, atol=1e-13)
    assert mults == memo.naive_count(sizes)  # the walk performs exactly the analytic count


def test_counts_of_a_two_layer_net_worked_by_hand():
    # sizes [2, 3, 1]: W1 (2x3), b1 (3), W2 (3x1), b2 (1); one example; tanh after layer 1.
    # Path by path: dL/dW2[i,0] = a1_i * (y - t): 1 multiplication x 3 weights = 3;
    #   dL/db2 = y - t: 0. dL/dW1[i,j] = x_i * f'(z1_j) * W2[j,0] * (y - t): 3 multiplications,
    #   one path each (one output unit), x 6 weights = 18; dL/db1[j] = f'(z1_j) * W2[j,0] *
    #   (y - t): 2 x 3 = 6. Total 3 + 0 + 18 + 6 = 27.
    assert memo.naive_count([2, 3, 1]) == 27
    # Reverse mode: delta2 = y - t (0); dW2 = a1^T delta2: 3*1 = 3; delta2 @ W2^T: 1*3 = 3;
    #   times f'(z1): 3; dW1 = x^T delta1: 2*3 = 6. Total 3 + 3 + 3 + 6 = 15.
    assert memo.memo_count([2, 3, 1]) == 15
    assert memo.memo_count([2, 3, 1], batch=4) == 60
    assert memo.path_count([2, 3, 1]) == 6
    weights, biases, x, t = memo.random_mlp([2, 3, 1])
    assert memo.naive_gradients(weights, biases, x, t)[2] == 27


def test_the_count_ratio_grows_with_depth():
    for width in (2, 4, 8):
        ratios = [
            memo.naive_count(memo.mlp_sizes(d, width)) / memo.memo_count(memo.mlp_sizes(d, width))
            for d in range(1, 9)
        ]
        assert ratios[0] == 1.0  # one layer: nothing to reuse
        assert all(b > a for a, b in zip(ratios, ratios[1:]))
    assert ratios[-1] > 1e4


def test_memo_table_verifies_times_and_plots(tmp_path, capsys):
    path = tmp_path / "memo.png"
    rows = memo.memo_table(max_depth=4, widths=(2, 3), plot=str(path), naive_limit=10_000)
    assert len(rows) == 8
    assert all(r["verified"] is True and r["naive_s"] > 0 and r["engine_s"] > 0 for r in rows)
    assert [r["memo_mults"] for r in rows if r["width"] == 3] == [3, 18, 39, 60]
    assert path.stat().st_size > 1000
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:5] == [
        "depth",
        "width",
        "paths",
        "naive_mults",
        "memo_mults",
    ]
    # rows above the limit keep their counts but skip the naive computation
    big = memo.memo_table(max_depth=5, widths=(4,), naive_limit=1000, show=False)
    assert big[-1]["verified"] is None and big[-1]["naive_mults"] == memo.naive_count(
        [4, 4, 4, 4, 4, 1]
    )


def test_bad_arguments_name_themselves():
    with pytest.raises(ConfigError, match="activation"):
        memo.memo_table(activation="relu", show=False)
    with pytest.raises(ConfigError, match="max_depth"):
        memo.memo_table(max_depth=0, show=False)
    with pytest.raises(ConfigError, match="sizes"):
        memo.naive_count([3])


def test_checkpoint_tradeoff_returns_numbers():
    r = recompute.checkpoint_tradeoff(depth=8, width=64, batch=128, segments=2, repeats=1)
    assert r["grads_equal"] is True
    assert r["held_checkpointed"] < r["held_plain"]
    assert r["peak_checkpointed"] < r["peak_plain"]
    assert r["time_plain"] > 0 and r["time_checkpointed"] > 0
    assert "less" in recompute.format_tradeoff(r)


def test_cli_memo_demo_prints_the_table(capsys, tmp_path):
    assert cli.main(["memo-demo", "--max-depth", "3", "--width", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "depth" and len(lines) == 4
    assert lines[3].split()[:5] == ["3", "2", "8", "74", "20"]
    assert lines[3].split()[6] == "yes"
    plot = tmp_path / "m.png"
    assert cli.main(["memo-demo", "--max-depth", "2", "--plot", str(plot)]) == 0
    assert plot.exists()


def test_cli_memo_demo_errors_are_one_line(capsys):
    assert cli.main(["memo-demo", "--max-depth", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deltaprop: error: --max-depth") and err.count("\n") == 1
    assert cli.main(["memo-demo", "--activation", "relu"]) == 2
    assert "activation" in capsys.readouterr().err
