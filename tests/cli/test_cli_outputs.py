"""Every file the commands write (issue 9, item 7): a path that cannot be written is refused
before any work, in one line naming the option; two options on one file, or an output over an
input, are refused; a write that fails late leaves nothing behind; a dead writer's temporary is
cleaned; a closed output pipe ends quietly; and never a traceback."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from deltaprop.cli import main

TINY = ["--dataset", "iris", "--hidden", "8", "--epochs", "2", "--log-every", "1"]
# Too long for any file system (NAME_MAX is 255 on Linux and macOS): the folder exists and
# os.access says yes, yet nothing can be created there (the case a check of the folder misses).
LONG = "a" * 300 + ".out"
# A name the system takes, whose temporary (".<name>.<pid>-<12 hex>.tmp") it does not.
NEAR_LIMIT = "b" * 240 + ".st"
PROC = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
FIFO = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *named):
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("deltaprop: error:"), err
    assert "Traceback" not in err
    for text in named:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def forbid(monkeypatch, target):
    """Fail the test if ``target`` (the first step of the real work) is reached."""

    def reached(*args, **kwargs):
        raise AssertionError(f"{target} ran: the bad output path was found too late")

    monkeypatch.setattr(target, reached)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "iris.safetensors"
    assert main([*map(str, ["train", *TINY, "--quiet", "--save", path])]) == 0
    return path


def fail_fsync(monkeypatch):
    """The disk fills up in the middle of the write (after the temporary file was created)."""

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)


# ----------------------------------------------------------------------------- train


@pytest.mark.parametrize("option", ["--save", "--metrics-out", "--checkpoint"])
@pytest.mark.parametrize(
    "where",
    ["long", "near_limit", pytest.param("proc", marks=PROC), pytest.param("fifo", marks=FIFO)],
)
def test_train_outputs_that_cannot_be_written_are_refused_before_training(
    option, where, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    path = {"long": LONG, "near_limit": NEAR_LIMIT, "proc": "/proc/out.x", "fifo": "fifo"}[where]
    if where == "fifo":
        os.mkfifo("fifo")  # an atomic write would replace it with a regular file
    forbid(monkeypatch, "deltaprop.recipe.runner.load_data")
    code, out, err = cli(capsys, "train", *TINY, option, path)
    one_line_error(code, err, option)
    assert out == "" and leftovers(tmp_path) == []
    assert os.listdir(tmp_path) == (["fifo"] if where == "fifo" else [])


@pytest.mark.parametrize("command", ["train", "diagnose"])
def test_a_plot_folder_that_cannot_take_the_plots_is_refused_before_training(
    command, tmp_path, capsys, monkeypatch
):
    (tmp_path / "plots" / "learning_curves.png").mkdir(parents=True)
    module = "runner" if command == "train" else "diagnose"
    forbid(monkeypatch, f"deltaprop.recipe.{module}.load_data")
    code, _, err = cli(capsys, command, *TINY, "--plot", tmp_path / "plots")
    one_line_error(code, err, "--plot", "learning_curves.png")


@pytest.mark.parametrize(
    ("first", "second"),
    [("--save", "--checkpoint"), ("--save", "--metrics-out"), ("--checkpoint", "--metrics-out"),
     ("--save", "--plot")],
)  # fmt: skip
def test_two_outputs_on_one_file_are_refused(first, second, tmp_path, capsys, monkeypatch):
    # Before: --save and --checkpoint on one path trained, then the model replaced the
    # checkpoint (a later --resume of it failed).
    forbid(monkeypatch, "deltaprop.recipe.runner.load_data")
    path = tmp_path / "same"
    code, _, err = cli(capsys, "train", *TINY, first, path, second, path)
    one_line_error(code, err, second, first, str(path))
    assert not path.exists()


def test_an_output_over_an_input_is_refused_and_the_input_kept(tmp_path, capsys, monkeypatch):
    data = tmp_path / "d.csv"
    data.write_text("a,b,label\n1,2,x\n3,4,y\n1,3,x\n4,4,y\n2,2,x\n3,3,y\n")
    config = tmp_path / "run.toml"
    config.write_text("epochs = 2\n")
    ckpt = tmp_path / "run.ckpt"
    ckpt.write_bytes(b"a checkpoint")
    forbid(monkeypatch, "deltaprop.recipe.runner.load_data")
    for argv, named in [
        (["--dataset", data, "--save", data], ("--save", "--dataset")),
        (["--config", config, "--metrics-out", config], ("--metrics-out", "--config")),
        (["--resume", ckpt, "--save", ckpt], ("--save", "--resume")),
    ]:
        code, _, err = cli(capsys, "train", "--hidden", "8", *argv)
        one_line_error(code, err, *named)
    assert data.read_text().startswith("a,b,label") and config.read_text() == "epochs = 2\n"
    assert ckpt.read_bytes() == b"a checkpoint"


def test_checkpoint_and_resume_may_still_be_one_file(tmp_path, capsys):
    ckpt = tmp_path / "run.ckpt"
    code, _, err = cli(capsys, "train", *TINY, "--checkpoint", ckpt, "--resume", ckpt)
    assert code == 0, err
    assert ckpt.exists()


@pytest.mark.parametrize(
    ("option", "name"), [("--save", "m.safetensors"), ("--checkpoint", "r.ckpt")]
)
def test_a_model_write_that_fails_late_names_the_option_and_leaves_nothing(
    option, name, tmp_path, capsys, monkeypatch
):
    fail_fsync(monkeypatch)
    code, _, err = cli(capsys, "train", *TINY, option, tmp_path / name)
    one_line_error(code, err, f"deltaprop: error: {option}: ", name, "No space left")
    assert os.listdir(tmp_path) == []


def test_a_metrics_out_that_fails_late_leaves_no_temporary(tmp_path, capsys, monkeypatch):
    # 0.1.0 wrote "<path>.tmp<pid>" and did not remove it when the rename failed; the atomic
    # write removes its temporary on any failure.
    fail_fsync(monkeypatch)
    code, _, err = cli(capsys, "train", *TINY, "--metrics-out", tmp_path / "m.json")
    line = one_line_error(code, err, "--metrics-out", "m.json", "No space left")
    assert line.count("m.json") == 1  # the path once, not "cannot write m.json: m.json: ..."
    assert os.listdir(tmp_path) == []


def test_a_dead_writers_temporary_next_to_save_is_gone_after_a_run(tmp_path, capsys):
    # A run killed during --save leaves ".<name>.<pid>-<12 hex>.tmp" (0.1.0: without the pid).
    # 4194305 is above every system's largest process id (Linux: 2**22), so surely dead.
    target = tmp_path / "m.safetensors"
    stale = [tmp_path / ".m.safetensors.4194305-0123456789ab.tmp",
             tmp_path / ".m.safetensors.0123456789ab.tmp"]  # fmt: skip
    for path in stale:
        path.write_bytes(b"half a model")
    other = tmp_path / ".other.safetensors.4194305-0123456789ab.tmp"
    other.write_bytes(b"another file's")
    code, _, err = cli(capsys, "train", *TINY, "--save", target)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == sorted([other.name, target.name])


# --------------------------------------------------------------------------- predict


@pytest.mark.parametrize(
    "where", ["folder", "long", pytest.param("proc", marks=PROC), pytest.param("fifo", marks=FIFO)]
)
def test_predict_out_that_cannot_be_written_is_refused_before_predicting(
    where, model, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    path = {"folder": ".", "long": LONG, "proc": "/proc/out.csv", "fifo": "fifo"}[where]
    if where == "fifo":
        os.mkfifo("fifo")
    forbid(monkeypatch, "deltaprop.cli.predict.predict_file")
    code, out, err = cli(capsys, "predict", model, "--dataset", "iris", "--out", path)
    one_line_error(code, err, "--out")
    assert out == "" and leftovers(tmp_path) == []


def test_predict_out_over_its_model_or_data_is_refused(model, tmp_path, capsys, monkeypatch):
    # Before: the predictions replaced the model file (or the data) they came from.
    data = tmp_path / "d.csv"
    data.write_text("x\n")
    forbid(monkeypatch, "deltaprop.cli.predict.predict_file")
    before = model.read_bytes()
    code, _, err = cli(capsys, "predict", model, "--dataset", "iris", "--out", model)
    one_line_error(code, err, "--out", "model file")
    code, _, err = cli(capsys, "predict", model, "--dataset", data, "--out", data)
    one_line_error(code, err, "--out", "--dataset")
    assert model.read_bytes() == before and data.read_text() == "x\n"


def test_predict_out_that_fails_late_leaves_no_file(model, tmp_path, capsys, monkeypatch):
    out = tmp_path / "p.csv"
    out.write_text("the previous predictions\n")
    fail_fsync(monkeypatch)
    code, _, err = cli(capsys, "predict", model, "--dataset", "iris", "--out", out)
    one_line_error(code, err, "--out", "p.csv", "No space left")
    assert out.read_text() == "the previous predictions\n"  # all or nothing
    assert os.listdir(tmp_path) == ["p.csv"]


def test_predict_out_still_writes_the_table(model, tmp_path, capsys):
    out = tmp_path / "p.csv"
    code, stdout, err = cli(capsys, "predict", model, "--dataset", "iris", "--out", out)
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 151 and "wrote 150" in stdout


# ------------------------------------------------------------- visualize, memo-demo


@pytest.mark.parametrize("where", ["long", pytest.param("proc", marks=PROC)])
def test_visualize_and_memo_demo_refuse_a_bad_path_first(where, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = LONG if where == "long" else "/proc/out.html"
    forbid(monkeypatch, "deltaprop.cli.visualize.load_dataset")
    forbid(monkeypatch, "deltaprop.cli.memo_demo.run_demo")
    one_line_error(*cli(capsys, "visualize", "--out", path)[::2], "--out")
    one_line_error(*cli(capsys, "memo-demo", "--max-depth", "2", "--plot", path)[::2], "--plot")


def test_visualize_write_errors_name_out_and_leave_nothing(tmp_path, capsys, monkeypatch):
    # Before: a failed write was reported as "--hidden/--dataset: path: cannot write ...".
    fail_fsync(monkeypatch)
    code, _, err = cli(capsys, "visualize", "--out", tmp_path / "page.html")
    line = one_line_error(code, err, "--out", "page.html", "No space left")
    assert "--hidden" not in line
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- stdout


class ClosedPipe:
    """stdout whose reader has gone (``deltaprop ... | head -1`` after head exits)."""

    def write(self, text):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_a_closed_output_pipe_ends_quietly_with_141(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code = main(["visualize", "--out", str(tmp_path / "page.html")])
    assert code == 141  # 128 + SIGPIPE, as for a tool the signal ended
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_bad_output_paths_and_closed_pipes_end_without_a_traceback(model, tmp_path):
    # As a user runs it: a real process, its exit code and all it prints.
    argv = [sys.executable, "-m", "deltaprop", "predict", str(model), "--dataset", "iris"]
    proc = subprocess.run([*argv, "--out", str(tmp_path / LONG)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("deltaprop: error: --out: ") and proc.stderr.count("\n") == 1
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as reader:
        reader.stdout.close()  # the reader goes away before the first row is printed
        err = reader.stderr.read().decode()
        code = reader.wait(timeout=120)
    assert code == 141 and err == ""
