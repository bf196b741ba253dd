"""chainrule.nn: modules, losses, functional ops and initialisers, shaped like torch.nn."""
from chainrule.nn import functional, init
from chainrule.nn.container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from chainrule.nn.layers import (CELU, ELU, GELU, SELU, Flatten, Hardswish, Hardtanh, Identity, LeakyReLU, Linear,
                                 LogSigmoid, LogSoftmax, Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus,
                                 Softsign, Tanh, Unflatten)
from chainrule.nn.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, GaussianNLLLoss, HuberLoss, KLDivLoss,
                               L1Loss, MSELoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss)
from chainrule.nn.module import Module
from chainrule.nn.normalization import BatchNorm1d, Dropout, Embedding, LayerNorm
from chainrule.nn.parameter import Parameter
from chainrule.nn import utils  # noqa: E402

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Linear",
    "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "GELU", "SiLU", "ELU", "SELU", "CELU", "Softplus", "Mish", "Hardtanh",
    "ReLU6", "Hardswish", "LogSigmoid", "Softsign", "PReLU", "Identity", "Softmax", "LogSoftmax", "Flatten",
    "Unflatten", "Dropout", "BatchNorm1d", "LayerNorm", "Embedding", "MSELoss", "L1Loss", "CrossEntropyLoss",
    "BCEWithLogitsLoss", "BCELoss", "HuberLoss", "NLLLoss", "SmoothL1Loss", "KLDivLoss", "PoissonNLLLoss",
    "GaussianNLLLoss", "functional", "init", "utils",
]
