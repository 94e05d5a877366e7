#!/usr/bin/python3
"""oslo.messaging's own functional test suite (python3-oslo.messaging 14.0.3,
oslo_messaging/tests/functional) against a broker, through the rabbit://
driver (kombu + py-amqp).

The suite takes its broker from the environment: RPC_TRANSPORT_URL and
NOTIFY_TRANSPORT_URL (oslo_messaging/tests/functional/utils.py,
SkipIfNoTransportURL); without them every case skips. OS_TEST_TIMEOUT bounds
each case (oslotest's fixtures.Timeout). Most of the suite's time is
waiting, not work (each test_logger case waits 15 s for a second event that
must not come; RPC cases wait on timeouts), so the 31 cases are handed out
one at a time to --workers processes, longest first, each running unittest
with a result class that prints the harness's RESULT lines. That keeps the
suite under a minute on two cores.

usage: peer_oslo.py --host H --port P [--workers N] [--only GLOB] [--list]"""
import argparse
import fnmatch
import os
import subprocess
import sys
import time
import unittest

FUNCTIONAL = 'oslo_messaging.tests.functional'
PREFIX = FUNCTIONAL + '.'


def load(only=()):
    import oslo_messaging.tests.functional as pkg
    start = os.path.dirname(pkg.__file__)
    top = os.path.dirname(os.path.dirname(os.path.dirname(start)))
    suite = unittest.defaultTestLoader.discover(start, top_level_dir=top)

    def flat(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                yield from flat(t)
            else:
                yield t
    tests = list(flat(suite))
    if only:
        tests = [t for t in tests if any(fnmatch.fnmatch(case_name(t), p) for p in only)]
    return tests


def case_name(test):
    tid = test.id()
    if tid.startswith(PREFIX):
        tid = tid[len(PREFIX):]
    return tid.replace(' ', '')


class LineResult(unittest.TestResult):
    """Prints one RESULT line per case as soon as it ends."""

    def startTest(self, test):
        super().startTest(test)
        self._t0 = time.monotonic()

    def _emit(self, test, status, msg=''):
        msg = ' '.join(str(msg).split())
        if len(msg) > 600:
            msg = msg[:300] + ' ... ' + msg[-280:]
        print('RESULT %s %s %s' % (status, case_name(test), msg), flush=True)
        print('%-5s %-70s %6.2fs %s' % (status.upper(), case_name(test), time.monotonic() - self._t0, msg[:200]),
              file=sys.stderr, flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._emit(test, 'pass')

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._emit(test, 'skip', reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._emit(test, 'pass', 'expected failure')

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._emit(test, 'fail', 'unexpected success')

    def _err(self, test, err):
        etype, value, tb = err
        text = self._exc_info_to_string(err, test)
        last = [ln for ln in text.strip().splitlines() if ln.strip()][-1:]
        self._emit(test, 'fail', '%s: %s' % (etype.__name__, last[0] if last else value))
        if os.environ.get('KEEL_OSLO_VERBOSE'):
            print(text, file=sys.stderr, flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._err(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._err(test, err)


# MetricsTestCase starts `python3 -m oslo_metrics`, which binds the fixed
# localhost:3000 and /var/tmp/metrics_collector.sock: two runs of it at once
# (two build trees, two brokers) would read each other's counters. A lock
# file serializes it across every run on the machine.
GLOBAL_RESOURCE_CASES = ('MetricsTestCase',)
METRICS_LOCK = '/tmp/keel-interop-oslo-metrics.lock'


def children(pid):
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as f:
                    st = f.read()
            except OSError:
                continue
            if int(st[st.rfind(')') + 2:].split()[1]) == pid:
                out.append(int(d))
    return out


def reap_children():
    """Kills what a case started and left running (an oslo_metrics server
    whose test failed before terminate())."""
    import signal
    for sig in (signal.SIGTERM, signal.SIGKILL):
        kids = children(os.getpid())
        for k in kids:
            try:
                os.kill(k, sig)
            except ProcessLookupError:
                pass
        if not kids:
            return
        time.sleep(0.5)
        for k in kids:
            try:
                os.waitpid(k, os.WNOHANG)
            except ChildProcessError:
                pass


def run_locked(test, result, timeout=180):
    import fcntl
    with open(METRICS_LOCK, 'w') as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    result.startTest(test)
                    result.addSkip(test, 'another run held %s for %ds' % (METRICS_LOCK, timeout))
                    result.stopTest(test)
                    return
                time.sleep(0.2)
        unittest.TestSuite([test]).run(result)
        reap_children()


def run_worker(only):
    """Reads case names on stdin, runs each, answers RESULT then READY."""
    tests = {case_name(t): t for t in load(only)}
    result = LineResult()
    print('READY', flush=True)
    for line in sys.stdin:
        name = line.strip()
        if not name:
            break
        if any(g in name for g in GLOBAL_RESOURCE_CASES):
            run_locked(tests[name], result)
        else:
            unittest.TestSuite([tests[name]]).run(result)
        reap_children()
        print('READY', flush=True)
    sys.stdout.flush()
    # oslo.messaging's executor threads may linger: do not wait for them
    os._exit(0)


def die_with_parent():
    # a worker must not outlive this process, however it ends
    import ctypes
    import signal
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def expected_seconds(name):
    # test_logger cases wait 15 s by design; the RPC timeout cases ~10 s.
    if 'test_logger' in name:
        return 20
    for slow in ('different_exchanges', 'concurrently_queues', 'Metrics', 'simple_batch', 'monitor_long_call'):
        if slow in name:
            return 10
    return 3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, help='the broker\'s AMQP port (required: no default, so never a system broker by accident)')
    ap.add_argument('--user', default='guest')
    ap.add_argument('--password', default='guest')
    ap.add_argument('--vhost', default='/')
    ap.add_argument('--extra')
    ap.add_argument('--workers', type=int, default=4)
    ap.add_argument('--case-timeout', type=int, default=60)
    ap.add_argument('--only', action='append', default=[])
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    ap.add_argument('--timeout-scale', type=float, default=1.0)
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()

    if args.worker:
        run_worker(args.only)
    tests = load(args.only)
    if args.port is None and not args.list:
        ap.error('--port is required')
    if args.list:
        for t in tests:
            print(case_name(t))
        return 0
    from urllib.parse import quote
    url = 'rabbit://%s:%s@%s:%d/%s' % (quote(args.user, safe=''), quote(args.password, safe=''), args.host,
                                       args.port, '' if args.vhost == '/' else quote(args.vhost, safe=''))
    env = dict(os.environ)
    env.update({
        'RPC_TRANSPORT_URL': url,
        'NOTIFY_TRANSPORT_URL': url,
        'OS_TEST_TIMEOUT': str(int(args.case_timeout * args.timeout_scale)),
        # MetricsTestCase starts `python3 -m oslo_metrics`: it must find
        # Debian's interpreter, the one with python3-oslo.metrics.
        'PATH': '/usr/bin:/bin:' + env.get('PATH', ''),
        'PYTHONWARNINGS': 'ignore',
    })
    if args.verbose:
        env['KEEL_OSLO_VERBOSE'] = '1'
    todo = sorted((case_name(t) for t in tests), key=lambda n: -expected_seconds(n))
    n = max(1, min(args.workers, len(tests)))
    procs = []
    for i in range(n):
        argv = [sys.executable, os.path.abspath(__file__), '--worker', str(i)]
        for p in args.only:
            argv += ['--only', p]
        procs.append(subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=None, preexec_fn=die_with_parent))
    seen = set()
    fails = 0
    # Raw reads and our own line splitting: a buffered readline could take
    # "RESULT..." and "READY" in one read and leave select() blind to the
    # second line.
    import selectors
    sel = selectors.DefaultSelector()
    pending = {}
    for p in procs:
        sel.register(p.stdout, selectors.EVENT_READ, p)
        pending[p.pid] = b''
    open_pipes = len(procs)
    finished_at = None
    while open_pipes:
        # Stop reading once every case has reported and every worker was told
        # to quit: a process a case left behind may hold a pipe open.
        if not todo and len(seen) >= len(tests):
            finished_at = finished_at or time.monotonic()
            if all(p.poll() is not None for p in procs) or time.monotonic() - finished_at > 15:
                break
        for key, _ in sel.select(timeout=1):
            p = key.data
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                sel.unregister(key.fileobj)
                open_pipes -= 1
                continue
            pending[p.pid] += data
            *lines, pending[p.pid] = pending[p.pid].split(b'\n')
            for raw in lines:
                line = raw.decode('utf-8', 'replace')
                if line.startswith('READY'):
                    try:
                        p.stdin.write(((todo.pop(0) if todo else '') + '\n').encode())
                        p.stdin.flush()
                    except (BrokenPipeError, OSError):
                        pass
                elif line.startswith('RESULT '):
                    parts = line.split(' ', 3)
                    seen.add(parts[2].strip())
                    fails += parts[1] == 'fail'
                    print(line, flush=True)
                else:
                    print(line, file=sys.stderr)
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    # A worker that died mid-suite leaves cases unreported: they failed.
    for t in tests:
        if case_name(t) not in seen:
            print('RESULT fail %s worker exited before reporting this case' % case_name(t), flush=True)
            fails += 1
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
