"""chainrule.fit: a Keras-like epoch loop, run natively in C++ when the model allows it.

The implementation lives in chainrule.training (one module per job); this module keeps the
import path ``from chainrule.fit import fit, History``.
"""

from chainrule.training import History, fit

__all__ = ["fit", "History"]
