"""fit(monitor=True): gradient health after each epoch, with one warning per layer and status."""

from __future__ import annotations

import warnings

# Gradient statuses that fit(monitor=True) warns about (once per parameter and status).
_UNHEALTHY = ("vanishing", "exploding", "nonfinite")


def _entry(value, key):
    return value[key] if isinstance(value, dict) else getattr(value, key)


def monitor_gradients(model, epoch, warned):
    from chainrule import diagnostics

    entries = diagnostics.gradient_health(model)
    for e in entries:
        status, name = str(_entry(e, "status")), _entry(e, "name")
        if status in _UNHEALTHY and (name, status) not in warned:
            warned.add((name, status))
            warnings.warn(
                f"fit: epoch {epoch + 1}: the gradient of '{name}' is {status} "
                "(see chainrule.diagnostics.gradient_health)",
                RuntimeWarning,
                stacklevel=3,
            )
    return entries
