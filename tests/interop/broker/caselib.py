#!/usr/bin/python3
"""The small case runner every Python peer suite of the broker interop
harness uses. A suite registers named cases; each runs in its own thread
with a timeout, and reports one line on stdout:

  RESULT pass|fail|skip CASE-NAME message...

(one line; the C peer rmqc_test prints the same). run.py parses these lines;
anything else on stdout or stderr is only logged. A case that hangs past its
timeout is reported as failed and abandoned (its thread is a daemon); the
runner's per-peer timeout bounds the whole suite.

Cases raise Skip('reason') to skip, and fail on any other exception; use
expect()/expect_eq() for failures that say what was expected and what came
back."""
import argparse
import fnmatch
import json
import os
import sys
import threading
import time
import traceback
import uuid


class Skip(Exception):
    pass


class CaseFailure(AssertionError):
    pass


def expect(cond, what):
    if not cond:
        raise CaseFailure(what)


def expect_eq(got, want, what):
    if got != want:
        raise CaseFailure('%s: expected %r, got %r' % (what, want, got))


def wait_until(pred, timeout, what, interval=0.02):
    """Polls pred() until it returns a true value; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise CaseFailure('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(interval)


class Context:
    """What a case knows about the broker under test."""

    def __init__(self, args, case_name):
        self.host = args.host
        self.port = args.port
        self.user = args.user
        self.password = args.password
        self.vhost = args.vhost
        self.case = case_name
        self.extra = {}
        if args.extra:
            with open(args.extra) as f:
                self.extra = json.load(f)

    def name(self, what='q'):
        """A name unique to this case and run, for queues and exchanges."""
        return 'keeltest.%s.%s.%s' % (self.case, what, uuid.uuid4().hex[:8])

    def need_extra(self, key):
        """The admin-made object `key` (a user or vhost) made by run.py, or
        Skip with the reason it could not be made."""
        if key in self.extra:
            return self.extra[key]
        raise Skip(self.extra.get('admin_unavailable', 'run.py did not create %s' % key))


class Suite:
    def __init__(self, peer, default_timeout=20):
        self.peer = peer
        self.default_timeout = default_timeout
        self.cases = []

    def case(self, name=None, timeout=None):
        def deco(fn):
            self.cases.append((name or fn.__name__, fn, timeout or self.default_timeout))
            return fn
        return deco

    def run_one(self, args, name, fn, timeout):
        box = {}

        def body():
            try:
                fn(Context(args, name))
                box['status'] = ('pass', '')
            except Skip as e:
                box['status'] = ('skip', str(e))
            except CaseFailure as e:
                box['status'] = ('fail', str(e))
            except BaseException as e:  # report anything, including SystemExit
                tb = traceback.extract_tb(e.__traceback__)
                where = ''
                for fr in reversed(tb):
                    if os.path.dirname(fr.filename) == os.path.dirname(os.path.abspath(__file__)):
                        where = ' (at %s:%d)' % (os.path.basename(fr.filename), fr.lineno)
                        break
                box['status'] = ('fail', '%s: %s%s' % (type(e).__name__, e, where))
                if args.verbose:
                    traceback.print_exc()

        t0 = time.monotonic()
        th = threading.Thread(target=body, name=name, daemon=True)
        th.start()
        th.join(timeout)
        if th.is_alive():
            status, msg = 'fail', 'timed out after %ds (case abandoned)' % timeout
        else:
            status, msg = box.get('status', ('fail', 'case thread ended without a result'))
        msg = ' '.join(str(msg).split())
        print('RESULT %s %s %s' % (status, name, msg), flush=True)
        print('%-5s %-45s %5.2fs %s' % (status.upper(), name, time.monotonic() - t0, msg[:300]),
              file=sys.stderr, flush=True)
        return status

    def main(self, argv=None):
        ap = argparse.ArgumentParser(description='%s peer suite of the broker interop harness' % self.peer)
        ap.add_argument('--host', default='127.0.0.1')
        ap.add_argument('--port', type=int, help='the broker\'s AMQP port (required: no default, so never a system broker by accident)')
        ap.add_argument('--user', default='guest')
        ap.add_argument('--password', default='guest')
        ap.add_argument('--vhost', default='/')
        ap.add_argument('--extra', help='JSON file of users/vhosts run.py created')
        ap.add_argument('--only', action='append', default=[], help='run cases matching this glob')
        ap.add_argument('--list', action='store_true', help='list case names and exit')
        ap.add_argument('--timeout-scale', type=float, default=1.0)
        ap.add_argument('-v', '--verbose', action='store_true')
        args = ap.parse_args(argv)
        if args.port is None and not args.list:
            ap.error('--port is required')
        if args.list:
            for name, _, _ in self.cases:
                print(name)
            return 0
        counts = {'pass': 0, 'fail': 0, 'skip': 0}
        for name, fn, timeout in self.cases:
            if args.only and not any(fnmatch.fnmatch(name, pat) for pat in args.only):
                continue
            counts[self.run_one(args, name, fn, timeout * args.timeout_scale)] += 1
        print('%s: %d passed, %d failed, %d skipped' % (self.peer, counts['pass'], counts['fail'], counts['skip']),
              file=sys.stderr, flush=True)
        # Abandoned threads may still block in a socket; do not wait for them.
        sys.stdout.flush()
        os._exit(1 if counts['fail'] else 0)
