"""Hand-edited training checkpoints (issue 9, item 8): a state JSON changed by hand, with both
checksums recomputed, reads as well as a written one; such a file must end in a ModelFileError
naming the field ("<path>: corrupt checkpoint: state.fit: expected ..., got ..."), never in an
AttributeError / TypeError / KeyError / IndexError, and must never resume with a value out of
range. The table of checks: deltaprop.train.state_schema; the parts' own checks: the
load_state_dict methods of optimizers, schedules and callbacks.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backend, io, nn, optim
from deltaprop.errors import ConfigError, ModelFileError
from deltaprop.optim.schedules import StepLR
from deltaprop.optim.schedules_compose import get_schedule
from deltaprop.train import state as ckpt
from deltaprop.train import state_checks, state_schema
from deltaprop.train.callbacks import (
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ReduceLROnPlateau,
)

HERE = Path(__file__).resolve().parent


def _load_worker():
    spec = importlib.util.spec_from_file_location(
        "deltaprop_training_state_worker", HERE / "training_state_worker.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


# --- editing a checkpoint as a person with a text editor would --------------------------------


def read_state(path) -> dict:
    """The state JSON of a checkpoint, parsed."""
    _, header, _ = io.read_tensor_file(path)
    return json.loads(header["state"])


def rewrite(path, edit) -> None:
    """Change the state JSON of the checkpoint at ``path`` with ``edit(state)`` (in place) and
    recompute both checksums as the writer does: the state's here, the container's by the
    library's own writer (so this keeps working whatever the container's checksum covers)."""
    _, header, tensors = io.read_tensor_file(path)
    state = json.loads(header["state"])
    edit(state)
    write_state(path, state, header, tensors)


def write_state(path, state, header, tensors) -> None:
    write_text(path, json.dumps(state, separators=(",", ":")), header, tensors)


def write_text(path, text, header, tensors) -> None:
    """Write ``text`` as the state JSON, with ``header``'s other keys and ``tensors``."""
    new_header = {k: v for k, v in header.items() if k != "checksum"}
    new_header.update(state=text, state_checksum=io.checksum(text))
    io.write_tensor_file(path, tensors, new_header)


def setter(*where, value):
    def edit(state):
        node = state
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value

    return edit


# --- the run of test_training_state.py, after 2 epochs ------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("written")
    path = folder / "state.ckpt"
    X, y, val = worker.data(n=480)
    trainer, kwargs = worker.build("steplr", str(folder))
    trainer.fit(X, y, validation_data=val, checkpoint=path, **dict(kwargs, epochs=2))
    return path.read_bytes()


@pytest.fixture
def edited(tmp_path, written):
    """``edited(edit)``: a copy of the written checkpoint with ``edit`` applied."""

    def make(edit):
        path = tmp_path / "state.ckpt"
        path.write_bytes(written)
        rewrite(path, edit)
        return path

    return make


def resume(tmp_path, path, epochs=5):
    """Resume the steplr run from ``path``; the ModelFileError (the model, the optimizer and
    deltaprop's generator checked untouched), or None when it trained."""
    X, y, val = worker.data(n=480)
    trainer, kwargs = worker.build("steplr", str(tmp_path / "run"))
    (tmp_path / "run").mkdir(exist_ok=True)
    weights = trainer.model.state_dict()
    sched = trainer.scheduler.state_dict()
    rng_state = backend.rng().bit_generator.state
    try:
        trainer.fit(X, y, validation_data=val, resume_from=path, **dict(kwargs, epochs=epochs))
    except ModelFileError as e:
        for name, value in weights.items():
            assert np.array_equal(trainer.model.state_dict()[name], value), name
        assert trainer.optimizer.state == {}
        assert trainer.scheduler.state_dict() == sched
        assert backend.rng().bit_generator.state == rng_state
        return e
    return None


# --- the four cases of the issue -----------------------------------------------------------------


@pytest.mark.parametrize(
    "edit, expected",
    [
        (setter("fit", value=1), "state.fit: expected a dict with the keys"),
        (setter("callbacks", 0, value=3), "state.callbacks[0]: expected a dict with the keys"),
        (
            setter("scheduler", "state", "last_epoch", value="2"),
            "state.scheduler.state: state_dict['last_epoch']: expected an integer >= -1, got '2'",
        ),
        (setter("epoch", value=-2), "state.epoch: expected an integer >= 0, got -2"),
    ],
    ids=["fit", "callback", "last_epoch", "epoch"],
)
def test_the_hand_edits_of_the_issue_are_clean_errors(tmp_path, edited, edit, expected):
    path = edited(edit)
    error = resume(tmp_path, path)
    assert isinstance(error, ModelFileError)
    assert str(error).startswith(f"{path}: corrupt checkpoint: ")
    assert expected in str(error)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (setter("epoch", value=3), "state.epoch: expected at most state.epochs (2), got 3"),
        (setter("epochs", value=0), "state.epochs: expected an integer >= 1, got 0"),
        (setter("step", value=True), "state.step: expected an integer >= 0, got True"),
        (setter("stopped", value=0), "state.stopped: expected true or false, got 0"),
        (setter("stop_reason", value="x"), "state.stop_reason: expected null (state.stopped"),
        (setter("fit", "batch_size", value="16"), "state.fit.batch_size: expected an integer"),
        (setter("fit", "extra", value=1), "state.fit: unknown key(s) ['extra']"),
        (lambda s: s.pop("logs"), "state: the key(s) ['logs'] are missing"),
        (setter("trainer", "l2", value=-1.0), "state.trainer.l2: expected a number >= 0"),
        (setter("optimizer", "layout", 0, 0, value=[12, "48"]), "state.optimizer.layout[0][0]"),
        (setter("scheduler", "interval", value="batch"), "state.scheduler.interval: expected"),
        (setter("callbacks", 0, "state", "wait", value=-1), "state.callbacks[0].state (Early"),
        (setter("history", "epoch", value=[0, 2]), "state.history.epoch: expected the epochs"),
        (setter("history", "history", "loss", value=[]), "state.history.history.loss: expected"),
        (setter("logs", "loss", value=1.5), "state.logs.loss: expected the last entry of"),
        (lambda s: s["logs"].pop("lr"), "state.logs: the key 'lr' is missing"),
        (setter("rng", "library", "has_uint32", value=5), "state.rng.library.has_uint32"),
        (setter("rng", "library", "state", "inc", value=-1), "state.rng.library.state.inc"),
        (
            setter("rng", "shuffle", "bit_generator", value="MT19937"),
            "state.rng.shuffle: unknown key(s) ['has_uint32', 'uinteger']",
        ),
        (
            setter("rng", "shuffle", "bit_generator", value="random"),
            "state.rng.shuffle.bit_generator: expected one of ['PCG64', 'PCG64DXSM', 'MT19937'",
        ),
        (setter("optimizer", "state", "state", value={"__array__": 3}), "an array name"),
        (setter("logs", "loss", value={"__float__": "huge"}), "state.logs.loss: expected one"),
        (setter("logs", "loss", value={"__tuple__": [], "x": 1}), "the codec's tagged values"),
        (
            lambda s: s["optimizer"]["state"]["state"]["__items__"][3].__setitem__(0, True),
            "state.optimizer.state.state.__items__: expected distinct keys, got [0, 1, 2, True",
        ),
        (
            setter("callbacks", 0, "state", "best_weights", value=None),
            "state_dict['best_weights']: expected the weights of best_epoch",
        ),
    ],
)
def test_every_part_is_checked_by_type_and_range(tmp_path, edited, edit, expected):
    error = resume(tmp_path, edited(edit))
    assert isinstance(error, ModelFileError)
    assert "corrupt checkpoint: " in str(error)
    assert expected in str(error)


@pytest.mark.parametrize(
    "where, value, expected",
    [
        (("step",), "x", "state_dict['state'][0]['step']: expected an integer >= 0"),
        (("step",), -1, "state_dict['state'][0]['step']: expected an integer >= 0"),
        (("exp_avg",), 0.5, "state_dict['state'][0]['exp_avg']: expected an array"),
        (("zz",), 0, "state_dict['state'][0]['zz']: expected an array"),
    ],
)
def test_the_optimizer_checks_its_own_state(tmp_path, edited, where, value, expected):
    def edit(state):
        items = state["optimizer"]["state"]["state"]["__items__"]
        items[0][1][where[0]] = value

    error = resume(tmp_path, edited(edit))
    assert isinstance(error, ModelFileError)
    assert f"corrupt checkpoint: state.optimizer.state: {expected}" in str(error)


def test_a_deeply_nested_state_is_a_clean_error(tmp_path, written):
    path = tmp_path / "state.ckpt"
    for levels in (150, 100_000):  # beyond the table's bound; beyond the JSON parser's
        path.write_bytes(written)
        _, header, tensors = io.read_tensor_file(path)
        deep = '"architecture":{"deep":' + "[" * levels + "]" * levels + ","
        write_text(path, header["state"].replace('"architecture":{', deep, 1), header, tensors)
        with pytest.raises(ModelFileError, match="nested"):
            ckpt.read(str(path))


@pytest.mark.parametrize("kind", ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"])
def test_the_state_of_every_numpy_bit_generator_is_accepted(kind):
    gen = np.random.Generator(getattr(np.random, kind)(7))
    gen.random(3)
    tensors = {}
    saved = json.loads(io.to_json(io.encode(gen.bit_generator.state, "rng", tensors)))
    decoded = state_checks.encoded(state_schema.generator)(saved, "state.rng.library", tensors)
    restored = np.random.Generator(getattr(np.random, kind)())
    restored.bit_generator.state = decoded
    assert np.array_equal(restored.random(5), gen.random(5))
    if kind == "MT19937":  # a position past the key's end, which NumPy takes
        with pytest.raises(state_checks.Invalid, match=r"state.rng.library.state.pos: expected"):
            state_schema.generator(
                dict(decoded, state={**decoded["state"], "pos": 10**6}),
                "state.rng.library",
                tensors,
            )


def test_nan_and_infinity_are_not_json_numbers(tmp_path, written):
    path = tmp_path / "state.ckpt"
    path.write_bytes(written)
    _, header, tensors = io.read_tensor_file(path)
    text = header["state"].replace('"l2":0.0', '"l2":NaN', 1)
    assert text != header["state"]
    write_text(path, text, header, tensors)
    with pytest.raises(ModelFileError, match="not valid JSON .NaN is not a JSON number"):
        ckpt.read(str(path))


def test_a_stateful_callback_needs_its_state(tmp_path, edited):
    error = resume(tmp_path, edited(setter("callbacks", 2, "state", value=None)))
    assert "state.callbacks[2].state: expected the state of CSVLogger, got null" in str(error)


def test_a_refused_part_rolls_back_the_parts_loaded_before_it(tmp_path, edited):
    """The schedule loads, then EarlyStopping refuses its state: the schedule, the optimizer and
    the model are as they were (``resume`` checks them)."""
    path = edited(setter("callbacks", 0, "state", "best_epoch", value="1"))
    error = resume(tmp_path, path)
    assert "state.callbacks[0].state (EarlyStopping): state_dict['best_epoch']" in str(error)


def test_a_refused_callback_rolls_back_the_callbacks_loaded_before_it(tmp_path, edited):
    path = edited(setter("callbacks", 2, "state", "size", value=-1))
    X, y, val = worker.data(n=480)
    trainer, kwargs = worker.build("steplr", str(tmp_path))
    before = [dict(vars(cb)) for cb in trainer.callbacks]
    with pytest.raises(
        ModelFileError, match=r"callbacks\[2\].state \(CSVLogger\): state_dict\['size'\]"
    ):
        trainer.fit(X, y, validation_data=val, resume_from=path, **kwargs)
    es, plateau, _ = trainer.callbacks
    assert not es._resumed and not plateau._resumed  # both had loaded their states
    assert [dict(vars(cb)) for cb in trainer.callbacks][:2] == before[:2]


def test_an_edit_the_writer_could_have_made_still_resumes(tmp_path, edited):
    """A change of value within range (here: drop_last absent, as in files from before it was
    recorded) is no corruption."""
    path = edited(lambda s: s["fit"].pop("drop_last"))
    assert resume(tmp_path, path) is None


# --- the parts' own load_state_dict ----------------------------------------------------------


def _adam():
    dp.seed(0)
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(np.ones((4, 3), np.float32)).sum().backward()
    opt.step()
    return opt


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda sd: sd.update(state=[1]), r"state_dict\['state'\]: expected a dict"),
        (lambda sd: sd.update(param_groups={}), r"state_dict\['param_groups'\]: expected a list"),
        (lambda sd: sd["param_groups"][0].pop("eps"), r"the option\(s\) \['eps'\] are missing"),
        (lambda sd: sd["param_groups"][0].update(params=[0, 0]), r"listed twice"),
        (lambda sd: sd["param_groups"][0].update(params=[0, 7]), r"\['params'\]\[1\]"),
        (lambda sd: sd["state"].update({0.5: sd["state"][1]}), r"expected parameter indices"),
        (lambda sd: sd["state"].update({"1": sd["state"][1]}), r"index 1 is given twice"),
        (lambda sd: sd["state"][0].pop("exp_avg"), r"\['state'\]\[0\]: expected the keys"),
        (lambda sd: sd["state"][0].update(step=2.0), r"\['step'\]: expected an integer"),
        (lambda sd: sd["state"][0].update(exp_avg=[["a"] * 3] * 2), r"an array of numbers"),
        (lambda sd: sd["state"].update({0: 5}), r"\[0\]: expected a dict of named values"),
    ],
)
def test_an_optimizer_refuses_a_bad_state_and_keeps_its_own(change, expected):
    opt = _adam()
    before = opt.state_dict()
    bad = copy.deepcopy(before)
    change(bad)
    with pytest.raises(ConfigError, match=expected):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i, s in before["state"].items():
        assert s["step"] == after["state"][i]["step"]
        assert np.array_equal(s["exp_avg"], after["state"][i]["exp_avg"])


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("last_epoch", "2", r"state_dict\['last_epoch'\]: expected an integer >= -1, got '2'"),
        ("last_epoch", -2, r"state_dict\['last_epoch'\]: expected an integer >= -1"),
        ("base_lrs", [None], r"state_dict\['base_lrs'\]\[0\]: expected a finite number"),
        ("last_lr", 0.1, r"state_dict\['last_lr'\]: expected 1 value"),
        ("step_size", 0, r"state_dict\['step_size'\]: expected an integer >= 1"),
        ("gamma", "0.5", r"state_dict\['gamma'\]: expected a finite number > 0"),
    ],
)
def test_a_schedule_checks_its_state_and_keeps_its_own(key, value, expected):
    opt = _adam()
    sched = StepLR(opt, step_size=2)
    sched.step()
    before = sched.state_dict()
    with pytest.raises(ConfigError, match=expected):
        sched.load_state_dict(dict(before, **{key: value}))
    assert sched.state_dict() == before


def test_sequential_lr_puts_back_the_schedules_it_loaded_when_one_refuses():
    seq = get_schedule("cosine", _adam(), 20, warmup=3)
    for _ in range(5):
        seq.step()
    before = seq.state_dict()
    bad = copy.deepcopy(before)
    bad["schedulers"][0]["last_epoch"] = 9  # valid: loads
    bad["schedulers"][1]["T_max"] = 0  # refused
    with pytest.raises(ConfigError, match=r"\['schedulers'\]\[1\]: state_dict\['T_max'\]"):
        seq.load_state_dict(bad)
    assert seq.state_dict() == before
    with pytest.raises(ConfigError, match=r"state_dict\['milestones'\]\[0\]: expected an int"):
        seq.load_state_dict(dict(before, milestones=["3"]))


@pytest.mark.parametrize(
    "callback, key, value, expected",
    [
        (ReduceLROnPlateau(verbose=False), "best", "0.5", r"\['best'\]: expected a number"),
        (ReduceLROnPlateau(verbose=False), "num_bad_epochs", 1.5, r"expected an integer >= 0"),
        (EarlyStopping(verbose=False), "wait", -1, r"\['wait'\]: expected an integer >= 0"),
        (EarlyStopping(verbose=False), "stopped_epoch", "3", r"\['stopped_epoch'\]"),
        (EarlyStopping(verbose=False), "best_weights", {"w": 1}, r"a dict of arrays"),
        (EarlyStopping(verbose=False), "best_weights", {}, r"expected the epoch of best_weights"),
        (CSVLogger("log.csv"), "keys", [1, 2], r"\['keys'\]: expected a list of strings"),
        (CSVLogger("log.csv"), "size", -3, r"\['size'\]: expected an integer >= 0"),
    ],
)
def test_a_callback_checks_its_state_and_keeps_its_own(callback, key, value, expected):
    before = dict(vars(callback))
    state = dict(callback.state_dict(), **{key: value})
    with pytest.raises(ConfigError, match=expected):
        callback.load_state_dict(state)
    assert vars(callback) == before


def test_early_stopping_refuses_best_weights_of_another_model():
    model = nn.Linear(3, 2)
    trainer = dp.Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
    es = EarlyStopping(verbose=False)
    es.set_trainer(trainer)
    weights = model.state_dict()
    good = dict(es.state_dict(), best_epoch=0, best_weights=weights)
    es.load_state_dict(good)
    with pytest.raises(ConfigError, match=r"expected the model's weights"):
        es.load_state_dict(dict(good, best_weights={"weight": weights["weight"]}))
    with pytest.raises(ConfigError, match=r"\['best_weights'\]\['bias'\]: expected shape"):
        es.load_state_dict(dict(good, best_weights=dict(weights, bias=np.zeros(5, np.float32))))


# --- a seeded sweep of hand edits --------------------------------------------------------------

SWEEP_SEED = 2024
SWEEP_TRIALS = 300
SWEEP_EPOCHS = 2  # in the checkpoint; the resumed run trains one more

# Edits that the writer could have made, so that no check can refuse them: the values and lists
# of the history (a callback may log anything, in any epoch), and the parameters that have an
# optimizer state (one without a gradient yet has none).
FREE = (("history", "history"),)
FREE_LISTS = (("optimizer", "state", "state", "__items__"),)

OTHER_TYPES = [-3, 2.5, "x", None, True, [], {}, [1, "a"], {"k": 1}]
SCALARS = ["x", 0, None, True]


def _kind(value):
    if isinstance(value, bool) or value is None:
        return type(value)
    if isinstance(value, (int, float)):
        return float  # an int where a float is written is the same number, not another type
    return type(value)


def _nodes(tree, path=()):
    """Every (path, value) of a JSON tree, the root first."""
    out = [(path, tree)]
    stack = [(path, tree)]
    while stack:
        at, node = stack.pop()
        if isinstance(node, (dict, list)):
            for key, child in node.items() if isinstance(node, dict) else enumerate(node):
                out.append((at + (key,), child))
                stack.append((at + (key,), child))
    return out


def _under(path, prefixes):
    return any(path[: len(p)] == p and len(path) > len(p) for p in prefixes)


def _mutate(state, gen):
    """One random edit of ``state`` (in place): a value of another type, an integer out of
    every field's range, a key deleted or added, a list entry deleted; its description."""
    nodes = [(p, v) for p, v in _nodes(state) if p and not _under(p, FREE)]
    kind = gen.choice(["type", "range", "delete", "add", "drop"], p=[0.4, 0.15, 0.2, 0.15, 0.1])
    if kind == "range":
        ints = [(p, v) for p, v in nodes if type(v) is int]
        path, _ = ints[gen.integers(len(ints))]
        value = -2  # below every counter's range (the lowest is -1, a schedule's last_epoch)
    elif kind == "type":
        path, old = nodes[gen.integers(len(nodes))]
        choices = [v for v in OTHER_TYPES if _kind(v) is not _kind(old)]
        value = copy.deepcopy(choices[gen.integers(len(choices))])
    elif kind in ("delete", "add"):
        dicts = [(p, v) for p, v in [((), state), *nodes] if isinstance(v, dict)]
        if kind == "delete":
            dicts = [(p, v) for p, v in dicts if any(p + (k,) not in FREE_LISTS for k in v)]
        at, node = dicts[gen.integers(len(dicts))]
        if kind == "add":
            node["zz_added"] = SCALARS[gen.integers(len(SCALARS))]
            return f"add {at}.zz_added = {node['zz_added']!r}"
        keys = [k for k in node if at + (k,) not in FREE_LISTS]  # emptying one: as dropping
        key = keys[gen.integers(len(keys))]
        del node[key]
        return f"delete {at + (key,)}"
    else:
        lists = [(p, v) for p, v in nodes if isinstance(v, list) and v and p not in FREE_LISTS]
        at, node = lists[gen.integers(len(lists))]
        i = int(gen.integers(len(node)))
        del node[i]
        return f"drop {at}[{i}]"
    parent = state
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return f"{kind}: {path} = {value!r}"


def _sweep_trainer(folder):
    dp.seed(3)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.Adam(model.parameters(), lr=0.02)
    callbacks = [
        EarlyStopping(monitor="val_loss", patience=50, verbose=False),
        ModelCheckpoint(str(folder / "best.safetensors"), monitor="val_loss"),
    ]
    sched = StepLR(opt, step_size=1, gamma=0.9)
    return dp.Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, callbacks=callbacks)


def _sweep_data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5).astype(np.int64)
    return X[:48], y[:48], (X[48:], y[48:])


def _outcome(trainer):
    history = trainer.history
    logged = {k: v[:-1] if k == "epoch_seconds" else v for k, v in history.history.items()}
    return trainer.model.state_dict(), trainer.optimizer.state_dict(), history.epoch, logged


def _same_outcome(a, b):
    weights_a, opt_a, epochs_a, logged_a = a
    weights_b, opt_b, epochs_b, logged_b = b
    return (
        list(weights_a) == list(weights_b)
        and all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)
        and opt_a["param_groups"] == opt_b["param_groups"]
        and opt_a["state"].keys() == opt_b["state"].keys()
        and all(
            np.array_equal(opt_a["state"][i][k], opt_b["state"][i][k])
            for i in opt_a["state"]
            for k in opt_a["state"][i]
        )
        and epochs_a == epochs_b
        and logged_a == logged_b
    )


@pytest.mark.slow  # a few seconds
def test_a_sweep_of_hand_edits_ends_in_a_clean_error_or_the_same_run(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(os, "fsync", lambda fd: None)  # the files are rewritten 300 times
    X, y, val = _sweep_data()
    fit = {"batch_size": 16, "validation_data": val, "verbose": False, "seed": 1}
    path = tmp_path / "state.ckpt"
    _sweep_trainer(tmp_path).fit(X, y, epochs=SWEEP_EPOCHS, checkpoint=path, **fit)
    _, header, tensors = io.read_tensor_file(path)
    original = json.loads(header["state"])

    def resumed():
        trainer = _sweep_trainer(tmp_path)
        weights = trainer.model.state_dict()
        rng_state = backend.rng().bit_generator.state
        try:
            trainer.fit(X, y, epochs=SWEEP_EPOCHS + 1, resume_from=path, **fit)
        except ModelFileError:
            # nothing touched
            assert all(np.array_equal(v, trainer.model.state_dict()[k]) for k, v in weights.items())
            assert trainer.optimizer.state == {}
            assert backend.rng().bit_generator.state == rng_state
            return None
        return _outcome(trainer)

    reference = resumed()
    assert reference is not None and len(reference[2]) == SWEEP_EPOCHS + 1
    gen = np.random.default_rng(SWEEP_SEED)
    counts = {"error": 0, "same": 0}
    for trial in range(SWEEP_TRIALS):
        state = copy.deepcopy(original)
        what = _mutate(state, gen)
        write_state(path, state, header, tensors)
        try:
            outcome = resumed()
        except Exception as e:  # noqa: BLE001 - the test is that there is none
            pytest.fail(f"trial {trial}, {what}: {type(e).__name__}: {e}")
        if outcome is None:
            counts["error"] += 1
        else:
            assert _same_outcome(outcome, reference), f"trial {trial}, {what}: another run"
            counts["same"] += 1
    assert counts["error"] > SWEEP_TRIALS * 0.8, counts
