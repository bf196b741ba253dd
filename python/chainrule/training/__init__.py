"""chainrule.training: the pieces of chainrule.fit, one job per module.

- _driver: fit() itself (arguments, epochs, validation, schedulers, callbacks)
- _native: the C++ loop over a Sequential's fused chain, and when it can run
- _loops: the Python loop and the evaluation on validation data
- _data: fit's arguments as arrays; _history: History; _progress: the per-epoch display;
  _monitoring: fit(monitor=True)
"""

from chainrule.training._driver import fit
from chainrule.training._history import History

__all__ = ["fit", "History"]
