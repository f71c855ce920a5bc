"""The fuzz targets by name (:mod:`fuzz_files`, :mod:`fuzz_checkpoint_edit`, :mod:`fuzz_data`),
and ``selftest``, whose trials misbehave on purpose so that the tests can check the driver."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np
from fuzz_checkpoint_edit import CheckpointEditTarget
from fuzz_data import CsvCliTarget, CsvTarget, NpzCliTarget, NpzTarget
from fuzz_files import CheckpointTarget, ModelTarget
from fuzzcore import Mutant, Target, Wrong

from deltaprop.errors import DataError


class SelfTestTarget(Target):
    """Trial ``seed`` does ``BEHAVIOURS[seed % 9]`` instead of reading a file."""

    name = stream = "selftest"
    suffix = ".bin"
    BEHAVIOURS = (
        "identical",
        "clean-error",
        "type-error",
        "hang",
        "deaf-hang",
        "killed",
        "huge-allocation",
        "touch-100MiB",
        "wrong-result",
    )

    def setup(self, workdir: str) -> None:
        pass

    def mutate(self, rng: np.random.Generator) -> Mutant:
        seed = rng.bit_generator.seed_seq.entropy[1]  # generator() seeds with [stream, seed]
        what = self.BEHAVIOURS[seed % len(self.BEHAVIOURS)]
        return Mutant(what, what, b"")

    def call(self, path: str, mutant: Mutant) -> Any:
        what = mutant.family
        if what == "clean-error":
            raise DataError("a clean error")
        if what == "type-error":
            raise TypeError("not a clean error")
        if what == "deaf-hang":  # a hang the timer cannot end (as in native code)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        if what in ("hang", "deaf-hang"):
            time.sleep(3600)
        if what == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        if what == "huge-allocation":
            return bytearray(64 * 2**30)  # beyond the worker's address-space limit
        if what == "touch-100MiB":
            return np.ones(100 * 2**17)[:1]  # 100 MiB written (so resident), then freed
        return what

    def judge(self, result: Any, mutant: Mutant) -> tuple[str, str]:
        if mutant.family == "wrong-result":
            raise Wrong("a wrong result")
        return "identical", ""


TARGETS = {
    t.name: t
    for t in (
        ModelTarget,
        CheckpointTarget,
        CheckpointEditTarget,
        CsvTarget,
        CsvCliTarget,
        NpzTarget,
        NpzCliTarget,
        SelfTestTarget,
    )
}
