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


def syslog_cases(keel, F, conf, env):
    T = F.root
    if subprocess.run(['unshare', '-m', 'true'], capture_output=True).returncode != 0:
        print('e2e: no mount namespaces here; syslog cases skipped')
        return 0, 0
    sock_path = T + '/log.sock'
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(0.2)
    script = T + '/ns.sh'
    write(script, NS_SCRIPT)
    wrap = ['unshare', '-m', 'sh', script, T]
    n = bad = 0
    for cfg, args in [(conf['syslog'], ['echo', 'logged']), (conf['syslog'], ['cat', '/nonexistent']),
                      (conf['syslog'], ['rm', '-rf', '/']), (conf['syslog'], ['thing']),
                      (conf['syslog'], ['env', 'FOO=1', 'BAR=2', 'env']), (conf['syslog'], ['id', '-un']),
                      (conf['syslog_err'], ['echo', 'quiet']), (conf['syslog_err'], ['nope', 'x'])]:
        got = []
        for prog in (OSLO, keel):
            r = run_one(prog, cfg, args, None, env, T, wrap)
            lines = []
            while True:
                try:
                    lines.append(s.recv(65536).replace(b'oslo-rootwrap: ', b'ROOTWRAP: ').replace(
                        b'keel-rootwrap: ', b'ROOTWRAP: '))
                except socket.timeout:
                    break
            got.append((r, lines))
        n += 1
        if got[0][1] != got[1][1] or not agree(got[0][0], got[1][0]):
            bad += 1
            print('E2E SYSLOG DIFF %s %r\n  python: %r\n  keel:   %r' % (os.path.basename(cfg), args, got[0], got[1]))
    s.close()
    return n, bad


def run(keel, F, rnd):
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
    sn, sbad = syslog_cases(keel, F, conf, env)
    print('end-to-end: %d runs (%d with syslog), %d disagreements' % (n + sn, sn, bad + sbad))
    return n + sn, bad + sbad
