#!/usr/bin/python3
"""oslo-rootwrap-daemon's side of the daemon comparison in rootwrap_e2e.py.

usage: rootwrap_daemon_probe.py CONFIG < cases

Starts /usr/bin/oslo-rootwrap-daemon through oslo_rootwrap.client.Client
and runs each case (JSON lines, hex-encoded "args" and optional "stdin"),
printing "returncode out-hex err-hex" per line as
tests/rootwrap/rootwrap_client_probe.c does, or "error NAME" when the
client raises.
"""
import json
import os
import sys

from oslo_rootwrap import client


def hexout(s):
    b = os.fsencode(s)
    return b.hex() if b else '-'


def main():
    c = client.Client(['/usr/bin/oslo-rootwrap-daemon', sys.argv[1]])
    for line in sys.stdin:
        case = json.loads(line)
        args = [os.fsdecode(bytes.fromhex(a)) for a in case['args']]
        stdin = os.fsdecode(bytes.fromhex(case['stdin'])) if 'stdin' in case else None
        try:
            rc, out, err = c.execute(args, stdin)
            print('%d %s %s' % (rc, hexout(out), hexout(err)), flush=True)
        except Exception as e:
            print('error %s' % type(e).__name__, flush=True)


if __name__ == '__main__':
    main()
