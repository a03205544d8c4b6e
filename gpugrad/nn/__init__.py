"""Neural-network building blocks, as ``torch.nn``. ``functional`` holds the stateless functions;
modules hold parameters and buffers; ``init`` the initialisers; ``utils`` gradient clipping."""
from . import functional  # noqa: F401
from . import init  # noqa: F401
from . import utils  # noqa: F401
from .activation import (CELU, ELU, GELU, SELU, Flatten, Hardsigmoid, Hardtanh, LeakyReLU, LogSigmoid,  # noqa: F401
                         LogSoftmax, ReLU6, SiLU, Softmax, Softplus)
from .container import ModuleDict, ModuleList  # noqa: F401
from .layers import MLP, Dropout, Identity, Linear, ReLU, Sequential, Sigmoid, Tanh  # noqa: F401
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss,  # noqa: F401
                   NLLLoss, SmoothL1Loss)
from .module import Module, Parameter  # noqa: F401
from . import parallel  # noqa: F401
from .normalization import BatchNorm1d, LayerNorm  # noqa: F401
from .embedding import Embedding  # noqa: F401
from .kl_div import KLDivLoss  # noqa: F401
from .prelu import PReLU  # noqa: F401
from .extra_activations import GLU, Hardswish, Mish, Softmin, Softsign, Tanhshrink, Threshold  # noqa: F401
from .likelihood_losses import GaussianNLLLoss, PoissonNLLLoss  # noqa: F401
from .distance import CosineSimilarity, PairwiseDistance, Unflatten  # noqa: F401
