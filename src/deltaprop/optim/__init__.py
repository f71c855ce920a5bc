"""Optimizers: the step that changes parameters (PyTorch's update rules and defaults)."""

from __future__ import annotations

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer
from .clip import clip_grad_norm, clip_grad_value
from .registry import OPTIMIZERS, SUGGESTED_LR, default_lr, get_optimizer
from .rmsprop import RMSprop
from .schedules import ExponentialLR, LinearLR, LRScheduler, MultiStepLR, StepLR
from .schedules_compose import SCHEDULES, SequentialLR, get_schedule
from .schedules_cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from .sgd import SGD

__all__ = [
    "SCHEDULES",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LRScheduler",
    "LinearLR",
    "MultiStepLR",
    "SequentialLR",
    "StepLR",
    "get_schedule",
    "OPTIMIZERS",
    "SUGGESTED_LR",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "clip_grad_norm",
    "clip_grad_value",
    "default_lr",
    "get_optimizer",
]
