#!/usr/bin/env python3
"""End-to-end test of weft-coordinator over real sockets, with a Python client of the coordinator
protocol (lib/bootstrap/coord_proto.h) and of the auth handshake (lib/bootstrap/auth.h):
key = BLAKE2b-256(token), HMAC-SHA256 challenge-response, then every message tagged with the
connection's session key for its direction (HMAC-SHA256 over a message counter, the header
and the payload's BLAKE2b-256).

    python3 tests/unit/coord_smoke.py BUILD/tools/weft-coordinator [-v]

Also registered in meson (suite unit, test 'coord_smoke'). Each scenario starts its own
coordinator with short heartbeat settings; the whole run takes about 20 s."""
import hashlib
import hmac
import os
import queue
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

COORD = None
VERBOSE = False
TOKEN = "smoke-test-token"
HB_INTERVAL, HB_TIMEOUT = 0.1, 0.8

AUTH_MAGIC, COORD_MAGIC = 0x55414657, 0x4F434657
COORD_VERSION = 4
TAG_LEN = 32
HELLO, WELCOME, EPOCH, HEARTBEAT, REVOKE, RECOVER, NO_CHANGE, REPORT, LEAVE, ERROR, SHRINK, CARD = range(1, 13)
JOINERS = 16
CRASH, HUNG, REPORTED, LEFT, RECOVER_TIMEOUT, PARTITIONED, RESET = 1, 2, 3, 4, 6, 7, 8
REACH_QUERY, REACH = 17, 18
ERR_INVALID_ARGUMENT, ERR_MIN_SIZE, ERR_EVICTED = 1, 13, 16
JOINED = 1


def tag_of(key, seq, msg):
    """coord_proto.h: HMAC-SHA256(key, seq || header || BLAKE2b-256(payload))."""
    digest = hashlib.blake2b(msg[16:], digest_size=32).digest()
    return hmac.new(key, struct.pack("<Q", seq) + msg[:16] + digest, "sha256").digest()


def hdr(mtype, length):
    return struct.pack("<IBBHII", COORD_MAGIC, COORD_VERSION, mtype, 0, length, 0)


def card_field(card):
    """A card as the protocol carries it: u16 length, u16 reserved, the opaque bytes."""
    return struct.pack("<HH", len(card), 0) + card


def sample_card(rank):
    return b"card of rank %d" % rank


def text(s, n=160):
    b = s.encode()[: n - 1]
    return b + b"\0" * (n - len(b))


def untext(b):
    return b.split(b"\0", 1)[0].decode(errors="replace")


def decode(mtype, p):
    if mtype == WELCOME:
        return dict(zip(("member_id", "epoch"), struct.unpack("<QQ", p)))
    if mtype == EPOCH:
        epoch, size, nleft = struct.unpack_from("<QII", p)
        members, off = [], 16
        for _ in range(size):
            mid, hint, flags = struct.unpack_from("<QiI", p, off)
            clen, reserved = struct.unpack_from("<HH", p, off + 36)
            assert reserved == 0
            members.append((mid, hint, flags, p[off + 40:off + 40 + clen]))
            off += 40 + clen
        left = [struct.unpack_from("<QiI", p, off + 16 * i) for i in range(nleft)]
        return {"epoch": epoch, "members": members, "left": left}
    if mtype == REVOKE:
        e, mid, rank, reason = struct.unpack_from("<QQiI", p)
        return {"epoch": e, "member_id": mid, "rank": rank, "reason": reason, "text": untext(p[24:])}
    if mtype == NO_CHANGE:
        return {"epoch": struct.unpack("<Q", p)[0]}
    if mtype == ERROR:
        return {"code": struct.unpack_from("<I", p)[0], "text": untext(p[4:])}
    if mtype == REACH_QUERY:
        epoch, timeout_ms, n = struct.unpack_from("<QII", p)
        return {"epoch": epoch, "timeout_ms": timeout_ms, "ranks": list(struct.unpack_from("<%dI" % n, p, 16))}
    if mtype == JOINERS:
        epoch, waiting, reserved = struct.unpack("<QII", p)
        assert reserved == 0
        return {"epoch": epoch, "waiting": waiting}
    return {}


class Client:
    """One rank: authenticates, says HELLO, heartbeats from a thread, queues what it receives."""

    def __init__(self, port, rank, token=TOKEN, world=0, hello=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.q = queue.Queue()
        self.beating = True
        self.closed = threading.Event()
        self.member_id = None
        ch = self._read(40)
        magic, ver, role = struct.unpack_from("<IBB", ch)
        assert (magic, ver, role) == (AUTH_MAGIC, 1, 1), "bad challenge"
        nonce_s, nonce_c = ch[8:], os.urandom(32)
        key = hashlib.blake2b(token.encode(), digest_size=32).digest()
        mac = hmac.new(key, b"weft/1 client" + bytes([1]) + nonce_s + nonce_c, "sha256").digest()
        self.sock.sendall(nonce_c + mac)
        smac = self._read(32)
        if smac is None:
            raise ConnectionError("coordinator closed the connection during auth")
        if smac == b"weft/1 reject".ljust(32, b"\0"):
            raise ConnectionError("coordinator closed the connection (auth refused)")
        want = hmac.new(key, b"weft/1 server" + bytes([1]) + nonce_c + nonce_s, "sha256").digest()
        assert hmac.compare_digest(smac, want), "bad server mac"
        # auth.h weft__auth_session_keys: one key per direction, from both nonces.
        self.tx_key = hmac.new(key, b"weft/1 c2s" + bytes([1]) + nonce_s + nonce_c, "sha256").digest()
        self.rx_key = hmac.new(key, b"weft/1 s2c" + bytes([1]) + nonce_s + nonce_c, "sha256").digest()
        self.tx_seq = self.rx_seq = 0
        self.send_lock = threading.Lock()
        threading.Thread(target=self._reader, daemon=True).start()
        if hello:
            addr = struct.pack("<HH", 4, 40000 + max(rank, 0)) + bytes([127, 0, 0, 1]) + b"\0" * 12
            body = struct.pack("<IiQ", world, rank, int.from_bytes(os.urandom(8), "little"))
            body += addr + struct.pack("<I", os.getpid()) + text("smokehost", 64)
            body += card_field(sample_card(rank))
            self.send(HELLO, body)
        threading.Thread(target=self._beater, daemon=True).start()

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            try:
                got = self.sock.recv(n - len(buf))
            except (ConnectionError, OSError):
                return None
            if not got:
                return None
            buf += got
        return buf

    def _reader(self):
        self.sock.settimeout(None)
        while True:
            h = self._read(16)
            if h is None:
                break
            magic, ver, mtype, _, length, _ = struct.unpack("<IBBHII", h)
            assert magic == COORD_MAGIC and ver == COORD_VERSION
            p = self._read(length) if length else b""
            tag = self._read(TAG_LEN) if p is not None else None
            if tag is None:
                break
            want = tag_of(self.rx_key, self.rx_seq, h + p)
            assert hmac.compare_digest(tag, want), "message %d from the coordinator: bad tag" % self.rx_seq
            self.rx_seq += 1
            if mtype != HEARTBEAT:
                self.q.put((mtype, decode(mtype, p)))
        self.closed.set()

    def _beater(self):
        while not self.closed.is_set():
            if self.beating:
                try:
                    self.send(HEARTBEAT)
                except OSError:
                    return
            time.sleep(HB_INTERVAL)

    def send(self, mtype, body=b""):
        self.send_raw(hdr(mtype, len(body)) + body)

    def send_raw(self, msg):
        """msg (header and payload), tagged: the tag numbers it, so sends are serialised."""
        with self.send_lock:
            tag = tag_of(self.tx_key, self.tx_seq, msg)
            self.tx_seq += 1
            self.sock.sendall(msg + tag)

    def expect(self, mtype, timeout=3.0):
        t, m = self.q.get(timeout=timeout)
        assert t == mtype, "expected type %d, got %d %r" % (mtype, t, m)
        if t == WELCOME:
            self.member_id = m["member_id"]
        return m

    def quiet(self, timeout=0.3):
        try:
            t, m = self.q.get(timeout=timeout)
        except queue.Empty:
            return True
        raise AssertionError("unexpected message %d %r" % (t, m))

    def inject(self, mtype, body=b""):
        """What an on-path party without the session key can do: a well-formed message on this
        connection, with a tag it had to guess."""
        with self.send_lock:
            self.sock.sendall(hdr(mtype, len(body)) + body + os.urandom(TAG_LEN))

    def recover(self, epoch, shrink=False):
        self.send(SHRINK if shrink else RECOVER, struct.pack("<Q", epoch))

    def reach(self, epoch, status):
        """REACH: status maps rank -> 0 reached, 1 not."""
        body = struct.pack("<QII", epoch, 0, len(status))
        body += b"".join(struct.pack("<II", r, v) for r, v in sorted(status.items()))
        self.send(REACH, body)

    def report(self, epoch, member_id, rank):
        self.send(REPORT, struct.pack("<QQiI", epoch, member_id, rank, REPORTED) + text("peer reset"))

    def close(self):
        self.beating = False
        self.closed.set()
        try:
            self.sock.close()
        except OSError:
            pass


class Coordinator:
    def __init__(self, world, *extra, env_token=TOKEN):
        self.dir = tempfile.mkdtemp(prefix="coord_smoke.")
        self.port_file = os.path.join(self.dir, "port")
        env = dict(os.environ)
        env.pop("WEFT_JOB_TOKEN", None)
        if env_token is not None:
            env["WEFT_JOB_TOKEN"] = env_token
        env.pop("WEFT_RECOVER_TIMEOUT", None)
        args = [COORD, "--port", "0", "--world-size", str(world), "--port-file", self.port_file,
                "--heartbeat-interval", str(HB_INTERVAL), "--heartbeat-timeout", str(HB_TIMEOUT),
                "--verbose", *extra]
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen(args, env=env, stderr=self.log)
        self.port = None
        for _ in range(500):
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    self.port = int(f.read())
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(5)
        if VERBOSE:
            sys.stderr.write(self.logtext())
        self.log.close()


def start_world(c, n, order=None):
    clients = {}
    for r in order or range(n):
        clients[r] = Client(c.port, r, world=n)
        clients[r].expect(WELCOME)
    epochs = {r: cl.expect(EPOCH) for r, cl in clients.items()}
    return [clients[r] for r in range(n)], epochs[0]


class CoordinatorTest(unittest.TestCase):
    def coordinator(self, world, *extra, **kw):
        c = Coordinator(world, *extra, **kw)
        self.addCleanup(c.stop)
        self.assertIsNotNone(c.port, "no port file; log:\n" + c.logtext())
        return c

    def test_refuses_to_start_without_token(self):
        c = Coordinator(2, env_token=None)
        self.assertEqual(c.proc.wait(5), 2)
        self.assertIsNone(c.port)

    def test_wrong_token_is_refused_and_logged(self):
        c = self.coordinator(2)
        with self.assertRaises(ConnectionError):
            Client(c.port, 0, token="wrong")
        time.sleep(0.1)
        self.assertIn("authentication failed from 127.0.0.1", c.logtext())

    def test_first_epoch_in_rank_order(self):
        c = self.coordinator(3)
        cl, e = start_world(c, 3, order=[2, 0, 1])
        self.assertEqual(e["epoch"], 1)
        self.assertEqual([m[1] for m in e["members"]], [0, 1, 2])
        self.assertEqual([m[0] for m in e["members"]], [cl[r].member_id for r in range(3)])
        self.assertEqual([m[3] for m in e["members"]], [sample_card(r) for r in range(3)])

    def test_bad_hellos_get_errors(self):
        c = self.coordinator(2)
        a = Client(c.port, 0, world=3)
        self.assertEqual(a.expect(ERROR)["code"], ERR_INVALID_ARGUMENT)
        self.assertTrue(a.closed.wait(2))
        b = Client(c.port, 0)
        b.expect(WELCOME)
        d = Client(c.port, 0)
        self.assertIn("taken", d.expect(ERROR)["text"])

    def test_crash_revoke_rejoin_recover(self):
        c = self.coordinator(3)
        cl, _ = start_world(c, 3)
        old = cl[1].member_id
        cl[1].close()
        for r in (0, 2):
            rv = cl[r].expect(REVOKE)
            self.assertEqual((rv["epoch"], rv["rank"], rv["reason"]), (1, 1, CRASH))
            self.assertIn("rank 1", rv["text"])
        again = Client(c.port, 1)
        self.assertEqual(again.expect(WELCOME)["epoch"], 1)
        cl[2].send(CARD, card_field(b"rank 2's new card"))  # for the epochs formed from now on
        cl[0].recover(1)
        cl[2].recover(1)
        for x in (cl[0], cl[2], again):
            e = x.expect(EPOCH)
            self.assertEqual(e["epoch"], 2)
            self.assertEqual([m[0] for m in e["members"]],
                             [cl[0].member_id, again.member_id, cl[2].member_id])
            self.assertEqual(e["members"][1][2], JOINED)
            self.assertEqual(e["left"], [(old, 1, CRASH)])
            self.assertEqual([m[3] for m in e["members"]], [sample_card(0), sample_card(1), b"rank 2's new card"])

    def test_hung_member_is_fenced(self):
        c = self.coordinator(3)
        cl, _ = start_world(c, 3)
        cl[2].beating = False  # as if SIGSTOPped
        t0 = time.monotonic()
        rv = cl[0].expect(REVOKE, timeout=HB_TIMEOUT + 2)
        self.assertEqual((rv["rank"], rv["reason"]), (2, HUNG))
        self.assertIn("missed heartbeats", rv["text"])
        self.assertGreaterEqual(time.monotonic() - t0, HB_TIMEOUT * 0.9)
        self.assertTrue(cl[2].closed.wait(2), "the hung member's connection was not closed")
        # Before the close, its verdict: resumed, the process knows it was removed, and why.
        got = []
        while not cl[2].q.empty():
            got.append(cl[2].q.get())
        verdicts = [m for t, m in got if t == ERROR]
        self.assertEqual([v["code"] for v in verdicts], [ERR_EVICTED], got)
        self.assertIn("HUNG: missed heartbeats", verdicts[0]["text"])
        cl[1].expect(REVOKE)

    def test_no_change_and_stale_recover(self):
        c = self.coordinator(2)
        cl, _ = start_world(c, 2)
        cl[0].recover(1)
        cl[0].quiet()
        cl[1].recover(1)
        self.assertEqual(cl[0].expect(NO_CHANGE)["epoch"], 1)
        self.assertEqual(cl[1].expect(NO_CHANGE)["epoch"], 1)
        cl[1].recover(5)
        self.assertEqual(cl[1].expect(ERROR)["code"], ERR_EVICTED)  # removed from the job: its verdict
        self.assertTrue(cl[1].closed.wait(2))
        self.assertEqual(cl[0].expect(REVOKE)["member_id"], cl[1].member_id)

    def test_recover_deadline_leaves_out_a_member_that_does_not_ask(self):
        # The setting's own syntax, as weftrun passes WEFT_RECOVER_TIMEOUT on.
        c = self.coordinator(3, "--recover-timeout", "1000ms")
        cl, _ = start_world(c, 3)
        t0 = time.monotonic()
        cl[0].recover(1)
        cl[1].recover(1)  # rank 2 keeps heartbeating but never asks
        rv = cl[0].expect(REVOKE, timeout=4)
        waited = time.monotonic() - t0
        self.assertEqual((rv["rank"], rv["reason"], rv["member_id"]), (2, RECOVER_TIMEOUT, cl[2].member_id))
        self.assertIn("did not call recover within WEFT_RECOVER_TIMEOUT 1 s", rv["text"])
        self.assertGreaterEqual(waited, 0.9)
        self.assertEqual(cl[1].expect(REVOKE)["reason"], RECOVER_TIMEOUT)
        for x in (cl[0], cl[1]):
            e = x.expect(EPOCH)
            self.assertEqual((e["epoch"], len(e["members"])), (2, 2))
            self.assertEqual(e["left"], [(cl[2].member_id, 2, RECOVER_TIMEOUT)])
        self.assertTrue(cl[2].closed.wait(2), "the left-out member's connection was not closed")
        verdict = cl[2].expect(ERROR)
        self.assertEqual(verdict["code"], ERR_EVICTED)
        self.assertIn("RECOVER_TIMEOUT: did not call recover within WEFT_RECOVER_TIMEOUT 1 s", verdict["text"])
        self.assertIn("failed (RECOVER_TIMEOUT)", c.logtext())

    def test_shrink_round_with_a_joiner_is_answered_joiners(self):
        c = self.coordinator(2)
        cl, _ = start_world(c, 2)
        cl[1].close()
        cl[0].expect(REVOKE)
        joiner = Client(c.port, 1)
        joiner.expect(WELCOME)
        cl[0].recover(1, shrink=True)  # the failure: a shrink, the joiner stays out
        self.assertEqual(len(cl[0].expect(EPOCH)["members"]), 1)
        cl[0].recover(2, shrink=True)  # nothing failed, a joiner waits: JOINERS, not NO_CHANGE
        self.assertEqual(cl[0].expect(JOINERS), {"epoch": 2, "waiting": 1})
        joiner.quiet()
        cl[0].recover(2)  # the member recovers at once and admits it
        for x in (cl[0], joiner):
            self.assertEqual(x.expect(EPOCH)["epoch"], 3)

    def test_report_fails_a_silent_suspect(self):
        """A suspect silent for two heartbeat intervals is hung or dead: evicted on the report."""
        c = self.coordinator(3)
        cl, _ = start_world(c, 3)
        cl[2].beating = False
        time.sleep(3 * HB_INTERVAL + 0.25)
        cl[0].report(1, cl[2].member_id, 2)
        rv = cl[1].expect(REVOKE)
        self.assertEqual((rv["member_id"], rv["reason"]), (cl[2].member_id, REPORTED))
        self.assertTrue(cl[2].closed.wait(2))

    def test_report_of_a_live_member_evicts_the_cut_off_reporter(self):
        """One report never evicts a live member on its own: the coordinator asks everyone whom
        they reach, and here the reporter is the one cut off (issue #18 item 3)."""
        c = self.coordinator(3)
        cl, _ = start_world(c, 3)
        cl[0].report(1, cl[2].member_id, 2)
        for x in cl:
            self.assertEqual(x.expect(REACH_QUERY)["epoch"], 1)
        cl[0].reach(1, {1: 1, 2: 1})
        cl[1].reach(1, {0: 1, 2: 0})
        cl[2].reach(1, {0: 1, 1: 0})
        rv = cl[1].expect(REVOKE)
        self.assertEqual((rv["member_id"], rv["reason"]), (cl[0].member_id, PARTITIONED))
        self.assertTrue(cl[0].closed.wait(2))
        self.assertFalse(cl[2].closed.is_set(), "the reported member was fenced")

    def test_report_with_every_link_whole_resets_the_epoch(self):
        """Nobody to blame: the epoch ends for every member (REVOKE rank -1, RESET) and the round
        forms the next with the same members -- even though all had asked RECOVER before."""
        c = self.coordinator(3)
        cl, _ = start_world(c, 3)
        cl[0].report(1, 0, -1)  # no suspect: an operation timed out here
        for x in cl:
            x.recover(1)
        for i, x in enumerate(cl):
            self.assertEqual(x.expect(REACH_QUERY)["epoch"], 1)
            x.reach(1, {j: 0 for j in range(3) if j != i})
        for x in cl:
            rv = x.expect(REVOKE)
            self.assertEqual((rv["member_id"], rv["rank"], rv["reason"]), (0, -1, RESET))
        for x in cl:
            e = x.expect(EPOCH)
            self.assertEqual((e["epoch"], len(e["members"])), (2, 3))

    def test_injected_message_is_refused(self):
        """A forged REPORT in rank 0's stream (as an on-path attacker would inject it) evicts
        nobody it names: the coordinator finds its tag wrong and drops the connection it came on."""
        c = self.coordinator(3)
        cl, _ = start_world(c, 3)
        body = struct.pack("<QQiI", 1, cl[2].member_id, 2, REPORTED) + text("forged")
        cl[0].inject(REPORT, body)
        rv = cl[1].expect(REVOKE)
        self.assertEqual(rv["member_id"], cl[0].member_id)
        self.assertEqual(rv["reason"], CRASH)
        self.assertIn("failed authentication", rv["text"] + c.logtext())
        self.assertFalse(cl[2].closed.wait(0.5), "the member the forged REPORT named was fenced")
        time.sleep(0.1)
        self.assertIn("failed authentication", c.logtext())

    def test_min_size_refuses_after_grace(self):
        c = self.coordinator(2, "--min-size", "2")
        cl, _ = start_world(c, 2)
        cl[1].close()
        cl[0].expect(REVOKE)
        cl[0].recover(1)
        err = cl[0].expect(ERROR, timeout=HB_TIMEOUT + 2)
        self.assertEqual(err["code"], ERR_MIN_SIZE)

    def test_leave_then_exit_when_done(self):
        c = self.coordinator(2, "--exit-when-done", "--linger", "0.2")
        cl, _ = start_world(c, 2)
        cl[0].send(LEAVE)
        rv = cl[1].expect(REVOKE)
        self.assertEqual(rv["reason"], LEFT)
        cl[0].close()
        cl[1].send(LEAVE)
        cl[1].close()
        self.assertEqual(c.proc.wait(5), 0)

    def test_silent_connection_hits_the_handshake_deadline(self):
        c = self.coordinator(2)
        s = socket.create_connection(("127.0.0.1", c.port))
        s.settimeout(8)
        self.assertEqual(len(s.recv(40)), 40)
        t0 = time.monotonic()
        self.assertEqual(s.recv(1), b"")  # closed by the coordinator
        self.assertLess(time.monotonic() - t0, 7)
        s.close()

    def test_sigterm_exits_cleanly(self):
        c = Coordinator(2)
        c.proc.terminate()
        self.assertEqual(c.proc.wait(5), 0)
        c.stop()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    COORD = sys.argv[1]
    VERBOSE = "-v" in sys.argv[2:]
    argv = [sys.argv[0]] + [a for a in sys.argv[2:] if a != "-v"]
    unittest.main(argv=argv, verbosity=2)
