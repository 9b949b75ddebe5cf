"""weft: collective communication that never hangs the job (Python bindings).

    import numpy as np, weft
    with weft.Comm() as comm:                       # rank, size, coordinator from the environment
        grad = np.ones(1 << 20, np.float32)
        comm.allreduce(grad, op="avg")              # in place, zero-copy, GIL released
        req = comm.iallgather(grad[:4], out := np.empty(4 * comm.size, np.float32))
        req.wait()

Every collective takes objects with the buffer protocol (numpy arrays, bytearray, memoryview,
array.array), C-contiguous, writable where weft writes; the dtype comes from the buffer's
format or from dtype= ("bfloat16" over a uint16 array). Failures raise WeftError subclasses
whose .detail names the lost peer; after PeerLostError or RevokedError, comm.recover() forms
the next epoch with the survivors. EvictedError means this process was removed from the job:
exit (a launcher with restarts brings it back as a joiner), never call recover again.

Open communicators are closed at interpreter exit (atexit): requests never waited are waited
for first (bounded by WEFT_TIMEOUT) and their outcomes discarded."""
import atexit as _atexit

from ._types import (  # noqa: F401
    EvictedError,
    UnavailableError,
    InternalError,
    InvalidArgumentError,
    InvalidUsageError,
    JobFinishedError,
    MinSizeError,
    MismatchError,
    NoMemoryError,
    PeerLostError,
    ProtocolError,
    RecoverInfo,
    RevokedError,
    TimeoutError,
    TransportError,
    UnauthorizedError,
    UnsupportedError,
    WeftError,
)
from ._weft import (  # noqa: F401
    RECOVER_MAX_LISTED,
    Comm,
    Request,
    dtype_size,
    print_config,
    result_name,
    strerror,
    version,
)

__version__ = "0.1.0"

DTYPES = ("int8", "uint8", "int32", "uint32", "int64", "uint64", "float16", "bfloat16", "float32", "float64")
OPS = ("sum", "prod", "min", "max", "avg")
SUM, PROD, MIN, MAX, AVG = OPS


def _close_all():
    from . import _weft

    _weft._shutdown()


_atexit.register(_close_all)

__all__ = [
    "Comm", "Request", "RecoverInfo", "WeftError", "InvalidArgumentError", "MismatchError",
    "PeerLostError", "RevokedError", "TimeoutError", "TransportError", "UnauthorizedError",
    "NoMemoryError", "UnsupportedError", "InternalError", "InvalidUsageError", "MinSizeError",
    "ProtocolError", "JobFinishedError", "EvictedError", "UnavailableError", "DTYPES", "OPS", "SUM", "PROD", "MIN", "MAX", "AVG", "version", "strerror",
    "result_name", "print_config", "dtype_size", "RECOVER_MAX_LISTED",
]
