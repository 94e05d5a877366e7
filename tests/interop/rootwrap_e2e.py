#!/usr/bin/python3
"""End-to-end half of the rootwrap differential test (see rootwrap_diff.py).

Runs harmless command lines through Debian's /usr/bin/oslo-rootwrap and
through keel-rootwrap with the same config, filters, environment and
working directory, and compares exit status, stdout and stderr. The
program name that starts each message is normalised. Where oslo-rootwrap
dies with a Python traceback, keel-rootwrap must exit with the same status
and print, after the same warnings, exactly one line of its own.

The syslog cases run both programs in a private mount namespace whose
/dev/log is a socket of this script, and compare the datagrams.
"""
import concurrent.futures
import os
import socket
import subprocess
import threading
import time

OSLO = '/usr/bin/oslo-rootwrap'
TRACEBACK = b'Traceback (most recent call last):'


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(text.encode('utf-8', 'surrogateescape') if isinstance(text, str) else text)


def setup(F):
    T = F.root
    E = T + '/e2e'
    write(E + '/filters/e2e.filters', f"""[Filters]
echo: CommandFilter, echo, root
cat: CommandFilter, cat, root
true: CommandFilter, true, root
false: CommandFilter, false, root
idn: RegExpFilter, /usr/bin/id, nobody, id, -[a-z]+
id: CommandFilter, id, root
envf: EnvFilter, env, root, FOO=, BAR=, env
env: CommandFilter, env, root
py: RegExpFilter, /usr/bin/python3, root, python3, -c, import sys; sys.exit\\(\\d+\\)
pyabort: RegExpFilter, /usr/bin/python3, root, python3, -c, import os; os.abort\\(\\)
rcat: PathFilter, /bin/cat, root, {T}/data/images
lsre: RegExpFilter, ls, root, ls, {T}/data/[a-z]+
missing: CommandFilter, /nonexistent/thing, root
head: CommandFilter, head, nosuchuser
dirtool: CommandFilter, tool, root
readf: ReadFileFilter, /etc/hostname
bogus: BogusFilter, x, root
""")
    confs = {
        'ok': f'[DEFAULT]\nfilters_path={E}/filters\nexec_dirs={T}/bin,/usr/bin,/bin\n',
        'dirs': f'[DEFAULT]\nfilters_path={E}/filters\nexec_dirs={T}/isdir,/usr/bin\n',
        'path': f'[DEFAULT]\nfilters_path={E}/filters\n',
        'syslog': f'[DEFAULT]\nfilters_path={E}/filters\nexec_dirs={T}/bin,/usr/bin\nuse_syslog=True\n'
                  'syslog_log_facility=local0\nsyslog_log_level=INFO\n',
        'dsyslog': f'[DEFAULT]\nfilters_path={E}/filters\nexec_dirs={T}/bin,/usr/bin,/bin\nuse_syslog=True\n'
                   'syslog_log_level=INFO\n',
        'syslog_err': f'[DEFAULT]\nfilters_path={E}/filters\nexec_dirs=/usr/bin\nuse_syslog=yes\n',
        'bad_level': f'[DEFAULT]\nfilters_path={E}/filters\nsyslog_log_level=loud\n',
        'bad_int': f'[DEFAULT]\nfilters_path={E}/filters\ndaemon_timeout=soon\n',
        'bad_line': f'[DEFAULT]\nfilters_path={E}/filters\nnot an option\n',
        'no_filters': '[DEFAULT]\nexec_dirs=/bin\n',
        'dup': f'[DEFAULT]\nfilters_path={E}/filters\nfilters_path=/x\n',
        'broken_filters': f'[DEFAULT]\nfilters_path={E}/broken\nexec_dirs=/usr/bin\n',
    }
    write(E + '/broken/x.filters', '[Filters]\ncat: CommandFilter, cat, root\nnope: UnknownFilter, a\nshort: CommandFilter, x\n')
    paths = {}
    for name, text in confs.items():
        paths[name] = E + '/' + name + '.conf'
        write(paths[name], text)
    paths['missing'] = E + '/missing.conf'
    return paths


def cases(F, rnd, conf):
    T = F.root
    D = T + '/data'
    c = [
        (conf['ok'], ['echo', 'hello', 'world'], None),
        (conf['ok'], ['echo', '', ' ', 'é', '日本', '\udcff', '-n', '$(id)', '`id`', ';', '|', '*'], None),
        (conf['ok'], ['cat'], b'from stdin\n\x00\xff binary\n'),
        (conf['ok'], ['cat', '/etc/hostname'], None),
        (conf['ok'], ['cat', '/nonexistent'], None),
        (conf['ok'], ['true'], None), (conf['ok'], ['false'], None),
        (conf['ok'], ['id'], None), (conf['ok'], ['id', '-un'], None), (conf['ok'], ['id', '-u', '-n'], None),
        (conf['ok'], ['env'], None), (conf['ok'], ['env', 'FOO=1', 'BAR=2', 'env'], None),
        (conf['ok'], ['env', 'BAR=2', 'FOO=x=y', 'env'], None), (conf['ok'], ['FOO=1', 'BAR=2', 'env'], None),
        (conf['ok'], ['env', 'FOO=1', 'env'], None), (conf['ok'], ['env', 'FOO=1', 'BAR=2', 'PATH=/x', 'env'], None),
        (conf['ok'], ['env', 'FOO=', 'BAR=', 'env'], None),
        (conf['ok'], ['python3', '-c', 'import sys; sys.exit(42)'], None),
        (conf['ok'], ['python3', '-c', 'import sys; sys.exit(0)'], None),
        (conf['ok'], ['python3', '-c', 'import os; os.abort()'], None),
        (conf['ok'], ['python3', '-c', 'import os; os.system("id")'], None),
        (conf['ok'], ['cat', D + '/images/a.img'], None),
        (conf['ok'], ['cat', D + '/images/../images/sub/b.img'], None),
        (conf['ok'], ['cat', D + '/images/out'], None),
        (conf['ok'], ['cat', D + '/images2/evil'], None),
        (conf['ok'], ['ls', D + '/images'], None), (conf['ok'], ['ls', D + '/images/'], None),
        (conf['ok'], ['ls', '-la', D], None), (conf['ok'], ['ls', D + '/IMAGES'], None),
        (conf['ok'], ['thing'], None), (conf['ok'], ['/nonexistent/thing'], None),
        (conf['ok'], ['rm', '-rf', '/'], None), (conf['ok'], ['sh', '-c', 'id'], None),
        (conf['ok'], ['echo;id'], None), (conf['ok'], ['head', '/etc/hostname'], None),
        (conf['ok'], ['privsep-helper'], None), (conf['dirs'], ['tool'], None),
        (conf['dirs'], ['echo', 'via /usr/bin'], None), (conf['path'], ['echo', 'exec_dirs from PATH'], None),
        (conf['path'], ['true'], None),
        (conf['bad_level'], ['echo', 'x'], None), (conf['bad_int'], ['echo', 'x'], None),
        (conf['bad_line'], ['echo', 'x'], None), (conf['no_filters'], ['echo', 'x'], None),
        (conf['dup'], ['echo', 'x'], None), (conf['missing'], ['echo', 'x'], None),
        (conf['broken_filters'], ['cat', '/etc/hostname'], None), (conf['ok'], [], None),
    ]
    words = ['hello', '', 'é', '\udce9', 'a b', '-e', '\\n', '--', 'FOO=1', 'x' * 300, '日本語', '\t', "'", '"']
    for _ in range(25):
        kind = rnd.choice(['echo', 'echo', 'cat', 'env', 'id', 'true', 'nope'])
        if kind == 'echo':
            args = ['echo'] + [rnd.choice(words) for _ in range(rnd.randint(0, 4))]
        elif kind == 'cat':
            args = ['cat', rnd.choice(['/etc/hostname', D + '/images/a.img', D + '/other/x', '/nonexistent'])]
        elif kind == 'env':
            args = [rnd.choice(['env', 'FOO=1'])] + rnd.sample(['FOO=1', 'BAR=2', 'BAZ=3'], rnd.randint(0, 2)) + ['env']
        elif kind == 'id':
            args = ['id'] + rnd.sample(['-u', '-n', '-g', '-G', '-un'], rnd.randint(0, 2))
        elif kind == 'true':
            args = [rnd.choice(['true', 'false'])]
        else:
            args = [rnd.choice(['nope', 'cat ', 'ECHO', '/bin/echo', '/usr/bin/echo', './echo'])] + ['x']
        c.append((conf['ok'], args, rnd.choice([None, None, b'', b'input\n'])))
    return c


def normalise(out, prog):
    return out.replace(prog.encode() + b': ', b'ROOTWRAP: ')


def run_one(prog, conf, args, stdin, env, cwd, wrap=None):
    argv = [prog, conf] + [a.encode('utf-8', 'surrogateescape') for a in args]
    if wrap:
        argv = wrap + argv
    r = subprocess.run(argv, input=stdin if stdin is not None else b'', capture_output=True, env=env, cwd=cwd,
                       timeout=60)
    return r.returncode, r.stdout, normalise(r.stderr, prog)


def agree(py, k):
    """Same status and stdout; same stderr, or a traceback against one line."""
    if py[0] != k[0] or py[1] != k[1]:
        return False
    if TRACEBACK in py[2]:
        before = py[2].split(TRACEBACK)[0]
        if not k[2].startswith(before):
            return False
        rest = k[2][len(before):]
        return rest.startswith(b'ROOTWRAP: ') and rest.count(b'\n') == 1 and rest.endswith(b'\n')
    return py[2] == k[2]


# The syslog cases: both programs see a private /dev/log that is our socket.
NS_SCRIPT = r'''
set -e
T="$1"; shift
mount --make-rprivate /
touch "$T/ns-devnull"
mount --bind /dev/null "$T/ns-devnull"
mount -t tmpfs tmpfs /dev
touch /dev/null /dev/log
mount --bind "$T/ns-devnull" /dev/null
mount --bind "$T/log.sock" /dev/log
exec "$@"
'''


class LogCollector:
    """Reads our /dev/log socket all the time: a datagram socket queues
    only a few messages, and a full queue blocks the writer."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.lines = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.lines.append(data)

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def log_namespace(F):
    """A collector on a socket of ours and the command prefix that makes the
    socket the /dev/log of a private mount namespace; None where namespaces
    are not available."""
    T = F.root
    if subprocess.run(['unshare', '-m', 'true'], capture_output=True).returncode != 0:
        return None
    write(T + '/ns.sh', NS_SCRIPT)
    return LogCollector(T + '/log.sock'), ['unshare', '-m', 'sh', T + '/ns.sh', T]


def drain(c):
    """The lines received so far (after a short wait for stragglers)."""
    time.sleep(0.2)
    with c.lock:
        lines, c.lines = c.lines, []
    return lines


def syslog_cases(keel, F, conf, env, ns):
    if ns is None:
        print('e2e: no mount namespaces here; syslog cases skipped')
        return 0, 0
    s, wrap = ns
    T = F.root
    n = bad = 0
    for cfg, args in [(conf['syslog'], ['echo', 'logged']), (conf['syslog'], ['cat', '/nonexistent']),
                      (conf['syslog'], ['rm', '-rf', '/']), (conf['syslog'], ['thing']),
                      (conf['syslog'], ['env', 'FOO=1', 'BAR=2', 'env']), (conf['syslog'], ['id', '-un']),
                      (conf['syslog_err'], ['echo', 'quiet']), (conf['syslog_err'], ['nope', 'x'])]:
        got = []
        for prog in (OSLO, keel):
            r = run_one(prog, cfg, args, None, env, T, wrap)
            lines = [x.replace(b'oslo-rootwrap: ', b'ROOTWRAP: ').replace(b'keel-rootwrap: ', b'ROOTWRAP: ')
                     for x in drain(s)]
            got.append((r, lines))
        n += 1
        if got[0][1] != got[1][1] or not agree(got[0][0], got[1][0]):
            bad += 1
            print('E2E SYSLOG DIFF %s %r\n  python: %r\n  keel:   %r' % (os.path.basename(cfg), args, got[0], got[1]))
    return n, bad


# The daemons' start and stop lines differ (oslo's are multiprocessing's);
# the comparison keeps the lines about commands.
DAEMON_LIFECYCLE = (b'Starting rootwrap daemon main loop', b'Got signal', b'Waiting for all client threads')


def daemon_cases(F, conf, env, daemon, client_probe, ns):
    """The same command lines through oslo-rootwrap-daemon (its Python
    client) and keel-rootwrap-daemon (keel's C client): exit status (96 and
    99 for refusals, minus the signal for a killed command), stdout,
    stderr, errors where the Python client raises, and the syslog lines.

    Both run with use_syslog in a namespace whose /dev/log is ours:
    without a working log handler oslo-rootwrap-daemon's refusals fail
    (logging writes to the stderr it closed, and the ValueError reaches the
    client), which is not the behaviour to compare with."""
    if ns is None:
        print('e2e: no mount namespaces here; daemon cases skipped')
        return 0, 0
    s, wrap = ns
    import json
    D = F.root + '/data'
    cmds = [(['cat'], b'hello\n'), (['echo', 'a', 'é', '\udcff', ''], None), (['true'], None), (['false'], None),
            (['python3', '-c', 'import sys; sys.exit(42)'], None), (['python3', '-c', 'import os; os.abort()'], None),
            (['rm', '-rf', '/'], None), (['thing'], None), (['id', '-un'], None), (['cat', '/nonexistent'], None),
            (['env', 'FOO=1', 'BAR=2', 'env'], None), (['head', '/etc/hostname'], None), (['ls', D], None),
            (['cat', D + '/images/../images/a.img'], b''), (['cat'], bytes(range(256)) * 64), (['tool'], None),
            (['echo;id'], None), (['privsep-helper'], None)]
    lines = ''.join(json.dumps({'args': [a.encode('utf-8', 'surrogateescape').hex() for a in args],
                                **({'stdin': data.hex()} if data is not None else {})}) + '\n'
                    for args, data in cmds).encode()
    here = os.path.dirname(os.path.abspath(__file__))
    logs = []
    results = []
    for argv in (['/usr/bin/python3', os.path.join(here, 'rootwrap_daemon_probe.py'), conf['dsyslog']],
                 [client_probe, daemon, conf['dsyslog']]):
        try:
            results.append(subprocess.run(wrap + argv, input=lines, capture_output=True, env=env, cwd=F.root,
                                          timeout=120))
        except subprocess.TimeoutExpired as e:
            print('daemon probe timed out: %r\nstdout %r\nstderr %r' % (argv, e.stdout, (e.stderr or b'')[-3000:]))
            return len(cmds) + 1, len(cmds) + 1
        time.sleep(0.5)  # the daemon logs its last lines as it stops
        logs.append([x.replace(b'oslo-rootwrap-daemon: ', b'DAEMON: ').replace(b'keel-rootwrap-daemon: ', b'DAEMON: ')
                     for x in drain(s) if not any(m in x for m in DAEMON_LIFECYCLE)])
    py, k = results
    pl = [(' '.join(x.split()[:1]) if x.startswith('error') else x) for x in py.stdout.decode().splitlines()]
    kl = [(' '.join(x.split()[:1]) if x.startswith('error') else x) for x in k.stdout.decode().splitlines()]
    bad = 0
    if len(pl) != len(cmds) or len(kl) != len(cmds):
        print('daemon probes failed: python %r keel %r' % (py.stderr[-2000:], k.stderr[-2000:]))
        return len(cmds), len(cmds)
    for (args, data), a, b in zip(cmds, pl, kl):
        if a != b:
            bad += 1
            print('E2E DAEMON DIFF %r\n  python: %s\n  keel:   %s' % (args, a[:300], b[:300]))
    # After a request the daemon could not run, oslo's client restarts its
    # daemon, which loads the filters (and warns about them) again; keel's
    # client keeps the connection. Filter warnings compare as a set.
    def split(lines):
        warn = sorted(set(x for x in lines if b'Skipping unknown filter class' in x))
        return warn, [x for x in lines if b'Skipping unknown filter class' not in x]
    if split(logs[0]) != split(logs[1]):
        bad += 1
        print('E2E DAEMON SYSLOG DIFF\n  python: %r\n  keel:   %r' % (logs[0], logs[1]))
    return len(cmds) + 1, bad


def run(keel, F, rnd, daemon=None, client_probe=None):
    conf = setup(F)
    env = {'PATH': '/usr/local/bin:/usr/bin:/bin', 'LANG': 'C.UTF-8', 'HOME': '/root', 'FOO': 'outer',
           'KEEP_ME': 'yes'}
    n = bad = 0
    todo = cases(F, rnd, conf)

    def both(case):
        cfg, args, stdin = case
        return run_one(OSLO, cfg, args, stdin, env, F.root), run_one(keel, cfg, args, stdin, env, F.root)

    # oslo-rootwrap takes most of a second to start: run the cases side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        results = list(pool.map(both, todo))
    for (cfg, args, stdin), (py, k) in zip(todo, results):
        n += 1
        if not agree(py, k):
            bad += 1
            if bad <= 20:
                print('E2E DIFF %s %r stdin=%r\n  python: %r\n  keel:   %r' % (os.path.basename(cfg), args, stdin,
                                                                          py, k))
    # No command at all: oslo-rootwrap's own check.
    for args in ([], [conf['ok']]):
        py = subprocess.run([OSLO] + args, capture_output=True, env=env)
        k = subprocess.run([keel] + args, capture_output=True, env=env)
        n += 1
        if (py.returncode, normalise(py.stderr, OSLO)) != (k.returncode, normalise(k.stderr, keel)):
            bad += 1
            print('E2E DIFF no command %r: python %r, keel %r' % (args, (py.returncode, py.stderr),
                                                                  (k.returncode, k.stderr)))
    ns = log_namespace(F)
    sn, sbad = syslog_cases(keel, F, conf, env, ns)
    dn = dbad = 0
    if daemon and client_probe:
        dn, dbad = daemon_cases(F, conf, env, daemon, client_probe, ns)
    if ns:
        ns[0].close()
    print('end-to-end: %d runs (%d with syslog, %d through the daemons), %d disagreements'
          % (n + sn + dn, sn, dn, bad + sbad + dbad))
    return n + sn + dn, bad + sbad + dbad
