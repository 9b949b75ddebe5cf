"""Helpers of the hostile-peer drivers (python3 standard library only): the listening ports of a
process found through /proc, the weft handshake (auth.h) and message layouts (coord_proto.h,
mesh.h, wire.h) built by hand, and attack connections that never block the driver (every socket
has a timeout). The job under weftrun is tests/common/weftjob.py's, re-exported here."""
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from weftjob import Job, alive, children  # noqa: E402,F401  (the drivers use them from here)

AUTH_MAGIC = 0x55414657
ROLE_COORD, ROLE_PEER = 1, 2
COORD_MAGIC = 0x4F434657
COORD_VERSION = 4  # lib/bootstrap/coord_proto.h: every message carries a 32-byte tag
COORD_TAG_LEN = 32
COORD_HELLO_MAX = 108 + 1024  # a HELLO with the largest card (weft__coord_max_payload)
PEER_HELLO_MAGIC = 0x48504657
PEER_HELLO_VERSION = 3  # transports/tcp/mesh.h: a 64-byte body, then a 64-byte signature
PEER_HELLO_LEN = 128
PEER_ACK_MAGIC = 0x41504657
PEER_ACK_LEN = 72
FRAME_MAGIC = 0x54464557


# --- /proc ------------------------------------------------------------------------------------

def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def listening_ports(pid):
    """TCP ports pid listens on: its socket inodes matched against /proc/<pid>/net/tcp{,6}."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return []
    ports = set()
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "0A" and p[9] in inodes:  # 0A: LISTEN
                        ports.add(int(p[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return sorted(ports)


# --- wire formats -----------------------------------------------------------------------------

def auth_key(token):
    return hashlib.blake2b(token.encode(), digest_size=32).digest()


def client_mac(key, role, nonce_s, nonce_c):
    return hmac.new(key, b"weft/1 client" + bytes([role]) + nonce_s + nonce_c,
                    hashlib.sha256).digest()


def server_mac(key, role, nonce_c, nonce_s):
    return hmac.new(key, b"weft/1 server" + bytes([role]) + nonce_c + nonce_s,
                    hashlib.sha256).digest()


def coord_tag(key, role, nonce_s, nonce_c, seq, msg, direction=b"c2s"):
    """The tag of message number seq (header and payload) sent rank -> coordinator on the
    connection whose handshake had these nonces (auth.h weft__auth_session_keys)."""
    k = hmac.new(key, b"weft/1 " + direction + bytes([role]) + nonce_s + nonce_c, hashlib.sha256).digest()
    digest = hashlib.blake2b(msg[16:], digest_size=32).digest()
    return hmac.new(k, struct.pack("<Q", seq) + msg[:16] + digest, hashlib.sha256).digest()


def coord_hdr(msg_type, length, reserved=0):
    return struct.pack("<IBBHII", COORD_MAGIC, COORD_VERSION, msg_type, 0, length, reserved)


def coord_hdr_u64_length(msg_type, length64):
    """A header whose bytes 8..15 hold a 64-bit length (the wire has u32 length + u32 zero)."""
    return struct.pack("<IBBHQ", COORD_MAGIC, COORD_VERSION, msg_type, 0, length64)


def peer_hello(epoch, member_id, rank, sock_index, size, to_member_id=0, to_rank=0, sig=None):
    """A whole PEER_HELLO. The driver holds no member's secret key (identity.h), so its signature
    is whatever it is given: 64 zero bytes by default."""
    body = struct.pack("<IB3xQQIIIIQQII", PEER_HELLO_MAGIC, PEER_HELLO_VERSION, epoch, member_id,
                       rank, sock_index, size, 0, 0, to_member_id, to_rank, 0)
    sig = sig if sig is not None else bytes(64)
    assert len(body) == 64 and len(sig) == 64
    return body + sig


def frame_hdr(epoch, seq, count, length, src_rank=0, magic=FRAME_MAGIC):
    """An 80-byte DATA frame header (wire.h, version 3) of an allreduce of int64 SUM on the root
    communicator (comm_id 0)."""
    hdr = struct.pack("<IBBBBBBHIQQQQIiIIQQ", magic, 3, 1, 0, 4, 0, 0, 0, src_rank, epoch, seq,
                      count, 0, 0, -1, length, 0, 0, count)
    assert len(hdr) == 80
    return hdr


# --- attack connections -----------------------------------------------------------------------

def connect(port, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def read_challenge(s, role):
    """The server's challenge; returns nonce_s or None (a rank outside mesh formation has not
    accepted the connection yet and sends nothing)."""
    try:
        ch = recv_exact(s, 40)
    except (socket.timeout, OSError):
        return None
    if len(ch) != 40:
        return None
    magic, version, got_role = struct.unpack_from("<IBB", ch)
    if magic != AUTH_MAGIC or version != 1 or got_role != role:
        raise AssertionError("unexpected challenge %r" % ch[:8])
    return ch[8:]


def handshake(s, key, role):
    """A full, correct client handshake. Returns (nonce_s, response, server MAC ok)."""
    nonce_s = read_challenge(s, role)
    if nonce_s is None:
        return None, None, False
    nonce_c = os.urandom(32)
    response = nonce_c + client_mac(key, role, nonce_s, nonce_c)
    s.sendall(response)
    try:
        mac = recv_exact(s, 32)
    except (socket.timeout, OSError):
        mac = b""
    return nonce_s, response, mac == server_mac(key, role, nonce_c, nonce_s)


def peer_closed(s, timeout):
    """True when the server closes (EOF or reset) within timeout, draining what it sends."""
    s.settimeout(timeout)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if not s.recv(4096):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    return False


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
