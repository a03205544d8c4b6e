"""Optimizers (SGD, Adam, AdamW, NAdam, Adamax, RMSprop, Adagrad), learning-rate schedules and
gradient clipping.

>>> opt = gg.optim.Adam(model.parameters(), lr=1e-3)
>>> sched = gg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
"""
from . import lr_scheduler  # noqa: F401
from .adagrad import Adagrad  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .adamax import Adamax  # noqa: F401
from .nadam import NAdam  # noqa: F401
from .clip_grad import clip_grad_norm_  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .sgd import SGD  # noqa: F401
