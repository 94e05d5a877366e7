#!/usr/bin/python3
"""The broker interop harness: starts a broker (broker_fixtures.py), runs the
peer suites against it, stops it, and reports case by case.

  run.py rabbitmq [--rmqc PATH] [--peer NAME ...] [--only GLOB ...]
  run.py keeld --keeld PATH [--keel PATH] [--rmqc PATH] [--peer NAME ...]
  run.py compare --keeld PATH [...]   both brokers; fails on every case that
                                      passes on RabbitMQ but not on keeld
  run.py --list-peers

Peers (--peer, repeatable; default all): pika, kombu, amqp-tools,
rabbitmq-c, oslo.messaging, robustness. --only GLOB selects cases by name
(peer/case or case). Each peer runs as a child process with its own
deadline; a peer that hangs is killed with its process group and its
unreported cases fail. The output ends with one line per peer
("pika: 83 passed, 0 failed, 3 skipped") and a "SUMMARY: " line that
scripts/summarize.py shows in `make check`. Exit status 0 only when no case
failed (in compare mode: when keeld passes every case RabbitMQ passes) and
no broker process was left behind."""
import argparse
import fnmatch
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import broker_fixtures as bf  # noqa: E402

PY = '/usr/bin/python3'  # Debian's, with python3-pika, -kombu, -oslo.messaging


class Peer:
    def __init__(self, name, title, script=None, timeout=240, background=False):
        self.name = name
        self.title = title  # for the SUMMARY line
        self.script = script
        self.timeout = timeout
        self.background = background  # may run alongside the others

    def argv(self, broker, args, extra):
        if self.name == 'rabbitmq-c':
            return [args.rmqc, broker.host, str(broker.port)]
        a = [PY, os.path.join(HERE, self.script), '--host', broker.host, '--port', str(broker.port),
             '--timeout-scale', str(args.timeout_scale)]
        if extra:
            a += ['--extra', extra]
        return a

    def list_argv(self, args):
        if self.name == 'rabbitmq-c':
            return [args.rmqc, '--list']
        return [PY, os.path.join(HERE, self.script), '--list']


PEERS = [
    # oslo.messaging's suite mostly waits on timeouts: it runs alongside the
    # others, which keeps a full run near two minutes.
    Peer('oslo.messaging', 'oslo.messaging functional', 'peer_oslo.py', timeout=300, background=True),
    Peer('pika', 'pika', 'peer_pika.py', timeout=300),
    Peer('kombu', 'kombu', 'peer_kombu.py', timeout=150),
    Peer('amqp-tools', 'amqp-tools', 'peer_amqptools.py', timeout=150),
    Peer('rabbitmq-c', 'rabbitmq-c', None, timeout=150),
    Peer('robustness', 'robustness', 'peer_robustness.py', timeout=240),
]
PEER_ORDER = ['pika', 'kombu', 'amqp-tools', 'rabbitmq-c', 'oslo.messaging', 'robustness']

# What run.py makes with the broker's admin tool before the peers run
# (rabbitmqctl, or keel's add_user/add_vhost/set_permissions).
EXTRA_VHOST = 'keeltest-vhost'
LIMITED_USER = ('keeltest-limited', 'limited-secret')


def log(*a):
    print(*a, flush=True)


def find_rmqc():
    """rmqc_test from a build tree of this checkout, newest first."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
    found = glob.glob(os.path.join(root, 'build*', 'tests', 'interop', 'rmqc_test'))
    found = [f for f in found if os.access(f, os.X_OK)]
    return max(found, key=os.path.getmtime) if found else None


def admin_setup(broker, path):
    """Makes the extra vhost and the limited user; records what exists (or
    why nothing does) in the JSON file the suites read with --extra."""
    extra = {}
    t0 = time.monotonic()
    try:
        broker.add_vhost(EXTRA_VHOST)
        broker.set_permissions(EXTRA_VHOST, broker.user, '.*', '.*', '.*')
        extra['vhost'] = EXTRA_VHOST
        broker.add_user(*LIMITED_USER)
        broker.set_permissions('/', LIMITED_USER[0], '^keeltest-limited-.*', '.*', '.*')
        extra['limited_user'] = list(LIMITED_USER)
    except bf.AdminUnavailable as e:
        extra['admin_unavailable'] = str(e)
    except bf.BrokerError as e:
        extra['admin_unavailable'] = 'admin command failed: %s' % e
    with open(path, 'w') as f:
        json.dump(extra, f)
    log('admin setup (%.1fs): %s' % (time.monotonic() - t0, extra))


_running = []


def _kill_running():
    # at exit (normal, SIGTERM from meson's timeout): peers first, then the
    # brokers (broker_fixtures' own atexit handler runs after this one)
    for r in list(_running):
        r.kill()


class Running:
    """One peer process: its output goes to a file; it gets a deadline."""

    def __init__(self, peer, argv, outdir, hard_deadline):
        self.peer = peer
        self.out_path = os.path.join(outdir, peer.name + '.out')
        self.err_path = os.path.join(outdir, peer.name + '.err')
        self.out = open(self.out_path, 'wb')
        self.err = open(self.err_path, 'wb')
        self.t0 = time.monotonic()
        self.deadline = min(self.t0 + peer.timeout, hard_deadline)
        self.timed_out = False
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err,
                                     start_new_session=True, preexec_fn=bf._child_setup, cwd=HERE)
        _running.append(self)

    def poll(self):
        if self.proc.poll() is not None:
            return True
        if time.monotonic() > self.deadline:
            self.timed_out = True
            self.kill()
            return True
        return False

    def kill(self):
        left = bf.kill_session(self.proc, grace=3)
        if self in _running:
            _running.remove(self)
        if left:
            log('WARNING: %s left processes %s' % (self.peer.name, left))

    def wait(self):
        while not self.poll():
            time.sleep(0.1)
        # whatever the peer started and left (its session) goes too
        self.kill()
        self.out.close()
        self.err.close()
        self.seconds = time.monotonic() - self.t0


def parse_results(path):
    results = {}
    with open(path, 'rb') as f:
        for raw in f:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            if not line.startswith('RESULT '):
                continue
            parts = line.split(' ', 3)
            if len(parts) >= 3 and parts[1] in ('pass', 'fail', 'skip'):
                results[parts[2]] = (parts[1], parts[3] if len(parts) > 3 else '')
    return results


def list_cases(peer, args):
    try:
        p = subprocess.run(peer.list_argv(args), capture_output=True, timeout=60, cwd=HERE)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [ln.strip() for ln in p.stdout.decode().splitlines() if ln.strip() and not ln.startswith(('RESULT', ' '))]


def selected(peer_name, case, only):
    if not only:
        return True
    return any(fnmatch.fnmatch(case, pat) or fnmatch.fnmatch('%s/%s' % (peer_name, case), pat) for pat in only)


def run_peers(broker, args, workdir, hard_deadline):
    """Runs the chosen peers against a started broker, all done by
    hard_deadline (a time.monotonic() value). Returns
    {peer: {case: (status, message)}}."""
    peers = [p for p in PEERS if p.name in args.peer]
    extra = os.path.join(workdir, 'extra.json')
    results = {}
    expected = {}
    skipped_peers = {}
    runnable = []
    for p in peers:
        if p.name == 'rabbitmq-c' and not (args.rmqc and os.access(args.rmqc, os.X_OK)):
            skipped_peers[p.name] = 'rmqc_test not built (needs librabbitmq-dev); pass --rmqc PATH'
            continue
        expected[p.name] = [c for c in list_cases(p, args) if selected(p.name, c, args.only)]
        if not expected[p.name]:
            skipped_peers[p.name] = 'no case selected' if args.only else 'could not list its cases'
            continue
        runnable.append(p)

    def start(p):
        argv = p.argv(broker, args, extra)
        if args.only and p.name == 'rabbitmq-c':
            argv += expected[p.name]
        elif args.only:
            for c in expected[p.name]:
                argv += ['--only', c]
        log('-- %s: %d cases' % (p.name, len(expected[p.name])))
        return Running(p, argv, workdir, hard_deadline)

    background = [start(p) for p in runnable if p.background and not args.serial]
    admin_setup(broker, extra)
    done = []
    for p in runnable:
        if p.background and not args.serial:
            continue
        if time.monotonic() > hard_deadline:
            results[p.name] = {c: ('fail', 'not run: the run\'s %ds deadline passed' % args.deadline)
                               for c in expected[p.name]}
            continue
        r = start(p)
        r.wait()
        done.append(r)
    for r in background:
        r.wait()
        done.append(r)
    for r in done:
        got = parse_results(r.out_path)
        why = 'peer timed out after %ds' % r.peer.timeout if r.timed_out else \
            'peer exited with status %s before reporting it' % r.proc.returncode
        for c in expected[r.peer.name]:
            if c not in got:
                got[c] = ('fail', why)
        results[r.peer.name] = got
        if args.verbose or r.timed_out or any(s == 'fail' for s, _ in got.values()):
            with open(r.err_path, 'rb') as f:
                tail = f.read().decode('utf-8', 'replace').splitlines()[-40:]
            if args.verbose or r.timed_out:
                log('-- %s stderr (last lines):\n%s' % (r.peer.name, '\n'.join(tail)))
        log('-- %s finished in %.1fs' % (r.peer.name, r.seconds))
    for name, why in skipped_peers.items():
        results[name] = {'(peer)': ('skip', why)}
    return results


def counts(res):
    c = {'pass': 0, 'fail': 0, 'skip': 0}
    for s, _ in res.values():
        c[s] += 1
    return c


def run_broker(kind, args):
    """Starts one broker, runs the peers, stops it. Returns (results,
    leftover pids, startup error or None)."""
    workdir = tempfile.mkdtemp(prefix='keel-interop-')
    broker = bf.make(kind, args.keeld) if kind == 'rabbitmq' else bf.Keeld(args.keeld, keel_cli=args.keel)
    t0 = time.monotonic()
    results, err = {}, None
    try:
        broker.start()
        log('== %s up on %s:%d in %.1fs' % (kind, broker.host, broker.port, time.monotonic() - t0))
        results = run_peers(broker, args, workdir, t0 + args.deadline * max(1.0, args.timeout_scale))
    except bf.BrokerError as e:
        err = str(e)
        log('== %s failed to start: %s' % (kind, e))
    finally:
        left = broker.stop()
        if left:
            log('== LEFTOVER processes after stopping %s: %s' % (kind, left))
        if not args.keep:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log('== peer output kept in %s' % workdir)
    return results, left, err


def report(kind, results):
    """Prints failures and per-peer counts; returns the SUMMARY fragment."""
    parts = []
    for name in PEER_ORDER:
        if name not in results:
            continue
        res = results[name]
        for case in sorted(res):
            s, msg = res[case]
            if s == 'fail':
                log('FAIL %s/%s [%s]: %s' % (name, case, kind, msg))
            elif s == 'skip' and case == '(peer)':
                log('SKIP %s [%s]: %s' % (name, kind, msg))
    for name in PEER_ORDER:
        if name not in results:
            continue
        c = counts(results[name])
        log('%s: %d passed, %d failed, %d skipped' % (name, c['pass'], c['fail'], c['skip']))
        title = next(p.title for p in PEERS if p.name == name)
        parts.append('%s %d/%d' % (title, c['pass'], c['pass'] + c['fail'] + c['skip']))
    return ', '.join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('kind', nargs='?', choices=['rabbitmq', 'keeld', 'compare'])
    ap.add_argument('--keeld', help='path of the keeld binary')
    ap.add_argument('--keel', help='path of the keel CLI (default: beside keeld)')
    ap.add_argument('--rmqc', help='path of rmqc_test (default: found in a build tree)')
    ap.add_argument('--peer', action='append', choices=PEER_ORDER, help='run only this peer (repeatable)')
    ap.add_argument('--only', action='append', default=[], help='run only cases matching GLOB (peer/case or case)')
    ap.add_argument('--serial', action='store_true', help='run oslo.messaging alone, not alongside the others')
    ap.add_argument('--timeout-scale', type=float, default=1.0, help='multiply per-case timeouts (sanitizer builds)')
    ap.add_argument('--deadline', type=int, default=780,
                    help='seconds one broker\'s run may take in all (times --timeout-scale); '
                         'stays under the meson timeout')
    ap.add_argument('--json', help='write every case result to this file')
    ap.add_argument('--keep', action='store_true', help='keep the peers\' output files')
    ap.add_argument('--list-peers', action='store_true')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    if args.list_peers:
        for name in PEER_ORDER:
            print(name)
        return 0
    if not args.kind:
        ap.error('give a broker kind: rabbitmq, keeld or compare')
    if args.kind in ('keeld', 'compare') and not args.keeld:
        ap.error('%s needs --keeld PATH' % args.kind)
    args.peer = args.peer or PEER_ORDER
    args.rmqc = args.rmqc or find_rmqc()
    # meson passes paths relative to the build tree; the peers run elsewhere
    for attr in ('rmqc', 'keeld', 'keel'):
        if getattr(args, attr):
            setattr(args, attr, os.path.abspath(getattr(args, attr)))
    for p in PEERS:
        p.timeout = int(p.timeout * max(1.0, args.timeout_scale))
    bf.install_cleanup()
    import atexit
    atexit.register(_kill_running)
    t0 = time.monotonic()

    if args.kind != 'compare':
        results, left, err = run_broker(args.kind, args)
        summary = report(args.kind, results)
        failed = sum(counts(r)['fail'] for r in results.values())
        if err:
            summary = 'broker did not start'
        log('SUMMARY: broker interop (%s): %s' % (args.kind, summary))
        log('(%.0fs)' % (time.monotonic() - t0))
        if args.json:
            with open(args.json, 'w') as f:
                json.dump({args.kind: results}, f, indent=1, sort_keys=True)
        return 1 if (failed or left or err) else 0

    rabbit, left_r, err_r = run_broker('rabbitmq', args)
    report('rabbitmq', rabbit)
    keeld, left_k, err_k = run_broker('keeld', args)
    report('keeld', keeld)
    regressions, parts = [], []
    for name in PEER_ORDER:
        if name not in rabbit:
            continue
        base = [c for c, (s, _) in rabbit[name].items() if s == 'pass']
        ok = 0
        for c in sorted(base):
            s, msg = keeld.get(name, {}).get(c, ('fail', 'not run on keeld'))
            if s == 'pass':
                ok += 1
            else:
                regressions.append('%s/%s: %s on keeld: %s' % (name, c, s, msg))
        title = next(p.title for p in PEERS if p.name == name)
        parts.append('%s %d/%d' % (title, ok, len(base)))
    rot = [(n, c) for n, r in rabbit.items() for c, (s, _) in r.items() if s == 'fail']
    log('')
    log('== cases that pass on RabbitMQ but not on keeld: %d' % len(regressions))
    for r in regressions:
        log('  ' + r)
    if rot:
        log('== %d cases fail on RabbitMQ itself (harness rot; see interop/broker_rabbitmq)' % len(rot))
    if err_r:
        log('== RabbitMQ did not start: nothing to compare with')
    log('SUMMARY: broker interop (keeld vs rabbitmq, keeld passes of the cases RabbitMQ passes): %s; %d differ'
        % (', '.join(parts), len(regressions)))
    log('(%.0fs)' % (time.monotonic() - t0))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'rabbitmq': rabbit, 'keeld': keeld, 'regressions': regressions}, f, indent=1, sort_keys=True)
    return 1 if (regressions or left_r or left_k or err_r or err_k) else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
