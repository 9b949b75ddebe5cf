"""Builds and loads weft.torch's C++ half (csrc/) with torch.utils.cpp_extension.

The backend must be compiled against the torch that runs it (c10d has no stable ABI), so the
sources ship in the package and are compiled on first use, then cached: in TORCH_EXTENSIONS_DIR
(torch's default cache, ~/.cache/torch_extensions) or WEFT_TORCH_BUILD_DIR. The module name
carries a hash of the sources and of torch's version, so a changed source or another torch
gets its own build instead of a stale one. Concurrent ranks building at once are serialised by
cpp_extension's lock file: one compiles, the others wait and load the result."""
import hashlib
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_CSRC = os.path.join(_HERE, "csrc")
_SOURCES = ("module.cpp", "backend.cpp", "queue.cpp")
_HEADERS = ("backend.hpp", "queue.hpp")
_module = None


def _include_dirs():
    """weft.h and weft_capi.h: in weft/include when installed; in the source tree (running from
    a checkout's bindings/python/src) they sit in ../.. /include and in weft/ itself."""
    pkg = os.path.dirname(_HERE)
    installed = os.path.join(pkg, "include")
    if os.path.exists(os.path.join(installed, "weft_capi.h")):
        return [installed, _CSRC]
    repo_include = os.path.join(pkg, "..", "..", "..", "..", "include")
    return [pkg, os.path.normpath(repo_include), _CSRC]


def load(verbose=None):
    """The compiled module (weft.torch._C's functions); compiles it the first time."""
    global _module
    if _module is not None:
        return _module
    import torch
    from torch.utils import cpp_extension

    from .. import _weft  # noqa: F401  (the capsule the C++ side imports)

    includes = _include_dirs()
    h = hashlib.sha256(torch.__version__.encode())
    for d, names in ((_CSRC, _SOURCES + _HEADERS), (includes[0], ("weft.h", "weft_capi.h"))):
        for n in names:
            p = os.path.join(d, n)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    h.update(f.read())
    name = "weft_torch_" + h.hexdigest()[:12]
    build_dir = os.environ.get("WEFT_TORCH_BUILD_DIR")
    if build_dir:
        build_dir = os.path.join(build_dir, name)
        os.makedirs(build_dir, exist_ok=True)
    if verbose is None:
        verbose = os.environ.get("WEFT_TORCH_VERBOSE") == "1"
    _module = cpp_extension.load(
        name=name,
        sources=[os.path.join(_CSRC, s) for s in _SOURCES],
        extra_include_paths=includes,
        extra_cflags=["-O2", "-Wall"],
        build_directory=build_dir,
        verbose=verbose,
    )
    return _module
