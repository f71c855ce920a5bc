"""Knowledge distillation: train a small student from a big, fixed teacher.

- :class:`Distiller`: a Trainer on :func:`deltaprop.ops.distillation_loss` (soft targets at
  temperature T, weight alpha, the T^2 factor), the teacher in eval mode under ``no_grad``;
- :func:`distill_run`: the same from a recipe and a teacher file (``deltaprop distill``).
"""

from .distiller import Distiller
from .run import distill_run, load_teacher

__all__ = ["Distiller", "distill_run", "load_teacher"]
