"""Exception classes and RecoverInfo of the weft package (imported by the C extension).

Every failure of a weft call raises a subclass of WeftError carrying the weft_result_t as
.code, its enum name as .name and the communicator's detail string (which peer, which
operation, which sequence number) as .detail."""
import builtins
from typing import NamedTuple, Tuple


class WeftError(Exception):
    """A weft call failed. .code: the weft_result_t value; .name: e.g. 'WEFT_ERR_PEER_LOST';
    .detail: weft's detail string (names the lost peer, the operation and its sequence)."""

    code = None
    name = "WEFT_ERR_UNKNOWN"

    def __init__(self, message="", code=None, name=None, detail=None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if name is not None:
            self.name = name
        self.detail = message if detail is None else detail


class InvalidArgumentError(WeftError, ValueError):
    """A bad argument: wrong dtype, mismatched buffer sizes, a non-contiguous or read-only
    buffer, a root or peer out of range."""


class MismatchError(WeftError):
    """Ranks called different operations (collective, count, dtype, op or root)."""


class PeerLostError(WeftError):
    """A peer crashed, hung or became unreachable; .detail names it. Call Comm.recover()."""


class RevokedError(WeftError):
    """The communicator's epoch was revoked after a failure; call Comm.recover()."""


class TimeoutError(WeftError, builtins.TimeoutError):  # noqa: A001 (shadows on purpose)
    """An operation did not complete within WEFT_TIMEOUT."""


class TransportError(WeftError):
    """A transport (socket) failure, e.g. the coordinator is unreachable."""


class UnauthorizedError(WeftError, PermissionError):
    """A peer or the coordinator failed authentication (wrong or missing job token)."""


class NoMemoryError(WeftError, MemoryError):
    """The library ran out of memory."""


class UnsupportedError(WeftError, NotImplementedError):
    """The operation is not supported."""


class InternalError(WeftError):
    """A bug in weft."""


class InvalidUsageError(WeftError, RuntimeError):
    """The API was misused: concurrent calls on one communicator, a closed communicator,
    recover() with operations pending."""


class MinSizeError(WeftError):
    """Membership fell below WEFT_MIN_SIZE."""


class ProtocolError(WeftError):
    """A malformed or unexpected message from a peer or the coordinator."""


class JobFinishedError(WeftError):
    """The job already finished (its members left cleanly): a late joiner is refused."""


class EvictedError(WeftError):
    """This process was removed from the job (stopped, hung or cut off past
    WEFT_HEARTBEAT_TIMEOUT, reported failed, or left out of a recover); .detail
    says why. Terminal: every later call, Comm.recover() included, raises it again. Exit (a
    launcher with restarts, `weftrun --restart K`, brings the process back as a joiner);
    never retry recover."""


class UnavailableError(WeftError):
    """Comm.recover() could not reach the membership service (the coordinator is being
    restarted, is stopped, or is cut off) within its bound. The request stays with it: call
    recover again. Collectives do not need the coordinator and go on meanwhile."""


ERRORS = {
    1: InvalidArgumentError,
    2: MismatchError,
    3: PeerLostError,
    4: RevokedError,
    5: TimeoutError,
    6: TransportError,
    7: UnauthorizedError,
    8: NoMemoryError,
    9: UnsupportedError,
    10: InternalError,
    11: InvalidUsageError,
    13: MinSizeError,
    14: ProtocolError,
    15: JobFinishedError,
    16: EvictedError,
    17: UnavailableError,
}


def make_error(code, name, detail):
    """The exception for a weft_result_t (called by the extension)."""
    cls = ERRORS.get(code, WeftError)
    message = "%s: %s" % (name, detail) if detail else name
    return cls(message, code=code, name=name, detail=detail)


class RecoverInfo(NamedTuple):
    """What Comm.recover() changed. left: old ranks that left; joined: new ranks that joined
    (the first RECOVER_MAX_LISTED of each; num_left/num_joined are the totals)."""

    old_epoch: int
    new_epoch: int
    old_size: int
    new_size: int
    old_rank: int
    new_rank: int
    is_new_member: bool
    left: Tuple[int, ...]
    joined: Tuple[int, ...]
    num_left: int
    num_joined: int

    @property
    def changed(self):
        return self.new_epoch != self.old_epoch


for _cls in list(ERRORS.values()) + [WeftError, RecoverInfo]:
    _cls.__module__ = "weft"
del _cls
