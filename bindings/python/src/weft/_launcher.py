"""The `weftrun` command a pip install provides: runs the launcher the package carries
(weft/bin/weftrun, which starts weft/bin/weft-coordinator next to it). Same options as the C
build's tools/weftrun; `weftrun --help` lists them."""
import os
import sys


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "weftrun")
    if not os.access(path, os.X_OK):
        sys.stderr.write("weftrun: %s is missing: this weft package was not installed with pip "
                         "(use the C build's build/tools/weftrun)\n" % path)
        return 2
    os.execv(path, [path] + sys.argv[1:])
    return 127  # not reached: execv replaces this process or raises OSError


if __name__ == "__main__":
    sys.exit(main())
