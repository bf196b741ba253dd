"""chainrule.training: the pieces of chainrule.fit, one job per module.

- driver: fit() itself (arguments, epochs, validation, schedulers, callbacks)
- native: the C++ loop over a Sequential's fused chain, and when it can run
- loops: the Python loop and the evaluation on validation data
- data: fit's arguments as arrays; history: History; progress: the per-epoch display;
  monitoring: fit(monitor=True)
"""
from chainrule.training.driver import fit
from chainrule.training.history import History

__all__ = ["fit", "History"]
