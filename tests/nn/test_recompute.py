"""nn.Checkpointed: recompute in backward, same gradients, less memory held."""

import tracemalloc

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, GraphError
from deltaprop.nn import checkpoint_sequential


def _layers(sizes, activation=nn.Tanh, seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b, dtype="float64", generator=rng), activation()]
    return layers


def _grads(model, x, loss=lambda y: (y * y).sum()):
    model.zero_grad()
    x.grad = None
    loss(model(x)).backward()
    return [p.grad.numpy().copy() for p in model.parameters()], x.grad


@pytest.mark.parametrize("segments", [1, 2, 3, 6])
@pytest.mark.parametrize("activation", [nn.Tanh, nn.ReLU, nn.Sigmoid])
def test_gradients_equal_the_plain_models_exactly(segments, activation):
    layers = _layers([5, 7, 7, 6, 6, 4, 3], activation)
    plain = nn.Sequential(*layers)
    checkpointed = checkpoint_sequential(layers, segments)
    x = dp.tensor(np.random.default_rng(1).normal(size=(4, 5)), dtype="float64",
                  requires_grad=True)  # fmt: skip
    ref, gx_ref = _grads(plain, x)
    got, gx = _grads(checkpointed, x)
    assert len(got) == len(ref) == 12
    for a, b in zip(ref, got):
        assert np.array_equal(a, b)  # bit for bit: the same ops on the same numbers
    assert np.array_equal(gx_ref.numpy(), gx.numpy())


def test_mixed_model_first_segment_input_without_grad_and_accumulation():
    layers = _layers([3, 4, 4, 2])
    head = nn.Linear(2, 1, dtype="float64")
    plain = nn.Sequential(*layers, head)
    mixed = nn.Sequential(nn.Checkpointed(nn.Sequential(*layers[:4])), *layers[4:], head)
    x = dp.tensor(np.ones((2, 3)), dtype="float64")  # no grad for the data
    plain.zero_grad()
    for _ in range(2):  # accumulation into existing .grad, as the engine does
        plain(x).sum().backward()
    ref = [p.grad.numpy().copy() for p in plain.parameters()]
    mixed.zero_grad()
    for _ in range(2):
        mixed(x).sum().backward()
    assert [n for n, _ in mixed.named_parameters()][0] == "0.segment.0.weight"
    for a, b in zip(ref, [p.grad.numpy() for p in plain.parameters()]):
        assert np.array_equal(a, b)


def test_forward_keeps_no_inner_graph_and_no_grad_records_nothing():
    block = nn.Sequential(*_layers([3, 3, 3]))
    x = dp.tensor(np.ones((1, 3)), dtype="float64", requires_grad=True)
    y = nn.Checkpointed(block)(x)
    assert type(y.creator).__name__ == "_CheckpointFunction"
    assert y.creator.saved[0] is x.data  # only the segment input is kept
    assert [type(p).__name__ for p in y.creator.parents[:1]] == ["Tensor"]
    np.testing.assert_array_equal(y.numpy(), block(x).numpy())
    with dp.no_grad():
        z = nn.Checkpointed(block)(x)
    assert z.creator is None and not z.requires_grad
    y.sum().backward()
    with pytest.raises(GraphError, match="second time"):
        y.sum().backward()


def test_retain_graph_allows_a_second_backward():
    block = nn.Sequential(*_layers([2, 3, 2]))
    x = dp.tensor(np.ones((1, 2)), dtype="float64", requires_grad=True)
    y = nn.Checkpointed(block)(x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="segment"):
        nn.Checkpointed("not a module")
    with pytest.raises(ConfigError, match="segments"):
        checkpoint_sequential(_layers([2, 2]), 0)


def test_tracemalloc_peak_is_lower_when_checkpointed():
    dp.seed(0)
    layers = []
    for _ in range(16):
        layers += [nn.Linear(64, 64), nn.ReLU()]
    plain = nn.Sequential(*layers)
    checkpointed = checkpoint_sequential(layers, 4)
    x = dp.tensor(np.random.default_rng(0).normal(size=(256, 64)))

    def peak(model):
        model.zero_grad()
        model(x).sum().backward()  # allocates the .grad buffers outside the measurement
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            model(x).sum().backward()
            return tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()

    plain_peak, checkpointed_peak = peak(plain), peak(checkpointed)
    assert checkpointed_peak < 0.6 * plain_peak
