"""chainrule.nn.utils: gradient clipping and the flat parameter arena."""

from chainrule.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
from chainrule.nn.utils.flat import FlatParameters, flatten_parameters, grad_in_arena

__all__ = ["clip_grad_norm_", "clip_grad_value_", "FlatParameters", "flatten_parameters", "grad_in_arena"]
