"""A version number for the structure of modules, for caches built from it.

Module bumps ``version`` whenever any module's structure may change: a Parameter, Module or buffer
is (re)assigned or deleted, a hook is added or removed, or a plain attribute named in
``watched_attributes`` is assigned. A cache built from modules (nn.Sequential's fused DenseChain)
keeps the number it saw when it was built and rebuilds once the number has moved. Other plain
attributes (a loss's reduction, a counter) leave it alone, so building e.g. a loss module per
step costs no rebuild.
"""

from __future__ import annotations

version = 0
# The plain attributes that a cache reads from modules; the cache's owner adds them.
watched_attributes: set[str] = set()


def bump() -> None:
    """Record that some module's structure may have changed."""
    global version
    version += 1
