"""The weft version the bench scripts belong to, for their --version.

They run from weft's sources, so the version is read from include/weft.h, whose
WEFT_VERSION_MAJOR/MINOR/PATCH meson setup holds to meson.build's project version."""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def weft_version():
    with open(os.path.join(REPO, "include", "weft.h")) as f:
        header = f.read()
    parts = [re.search(r"^#define WEFT_VERSION_%s (\d+)$" % p, header, re.M) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(m.group(1) for m in parts) if all(parts) else "unknown"


def add_version_argument(parser):
    """--version prints "PROG (weft) X.Y.Z", as weft's C programs do."""
    parser.add_argument("--version", action="version", version="%(prog)s (weft) " + weft_version())
