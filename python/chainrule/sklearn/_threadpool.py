"""chainrule's OpenMP pool as a threadpoolctl library.

threadpoolctl finds native thread pools by scanning the loaded shared libraries; this controller
makes it recognise chainrule's extension module by the two C functions it exports for the
purpose, so ``threadpool_info()`` lists chainrule and ``threadpool_limits(n)`` (as joblib and
scikit-learn use it) limits the threads chainrule's kernels start from the calling thread.
"""

import threadpoolctl


class ChainruleController(threadpoolctl.LibController):
    user_api = "chainrule"
    internal_api = "chainrule"
    filename_prefixes = ("_core",)
    check_symbols = ("chainrule_get_num_threads", "chainrule_set_num_threads")

    def get_num_threads(self):
        get = getattr(self.dynlib, "chainrule_get_num_threads", None)
        return get() if get is not None else None

    def set_num_threads(self, num_threads):
        set_ = getattr(self.dynlib, "chainrule_set_num_threads", None)
        if set_ is not None:
            set_(int(num_threads))

    def get_version(self):
        from .. import __version__

        return __version__


_registered = False


def register():
    """Registers the controller once per process (idempotent)."""
    global _registered
    if not _registered:
        threadpoolctl.register(ChainruleController)
        _registered = True
