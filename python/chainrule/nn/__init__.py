"""chainrule.nn: modules, losses, functional ops and initialisers, shaped like torch.nn."""
from chainrule.nn import functional, init
from chainrule.nn.container import Sequential
from chainrule.nn.layers import (GELU, Identity, LeakyReLU, Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh)
from chainrule.nn.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss)
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn import utils  # noqa: E402

__all__ = [
    "Module", "Parameter", "Sequential", "Linear", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "GELU",
    "Identity", "Softmax", "LogSoftmax", "MSELoss", "L1Loss", "CrossEntropyLoss", "BCEWithLogitsLoss",
    "BCELoss", "HuberLoss", "functional", "init", "utils",
]
