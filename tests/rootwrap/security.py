#!/usr/bin/python3
"""Security tests of keel-rootwrap (and, given its path, the daemon).

usage: security.py KEEL_ROOTWRAP [KEEL_ROOTWRAP_DAEMON]

Each check runs the real program as root in a scratch directory:
no shell ever sees the arguments, $PATH cannot substitute a binary, the
child's environment holds nothing the filters did not allow, descriptors
of the caller do not reach the child, run_as drops the user, signals sent
to the wrapper reach the command, and broken config or filter files are
refused with a message that says where.
"""
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

failures = []
checks = []


def check(name, ok, detail=''):
    checks.append(name)
    print('%s %s%s' % ('ok  ' if ok else 'FAIL', name, (': ' + detail) if not ok and detail else ''))
    if not ok:
        failures.append(name)


def main():
    keel = os.path.abspath(sys.argv[1])
    daemon = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
    T = tempfile.mkdtemp(prefix='keel-rootwrap-sec-')
    os.chmod(T, 0o755)
    try:
        run_checks(keel, T)
        if daemon:
            daemon_checks(daemon, T)
    finally:
        shutil.rmtree(T, ignore_errors=True)
    print('SUMMARY: rootwrap security: %d checks, %d failed' % (len(checks), len(failures)))
    sys.exit(1 if failures else 0)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)


def run_checks(keel, T):
    F = T + '/filters'
    write(F + '/sec.filters', """[Filters]
echo: CommandFilter, echo, root
env: EnvFilter, env, root, FOO=, BAR=, env
printenv: CommandFilter, printenv, root
ls: CommandFilter, ls, root
id: CommandFilter, id, nobody
sleep: CommandFilter, sleep, root
""")
    conf = T + '/rootwrap.conf'
    write(conf, '[DEFAULT]\nfilters_path=%s\nexec_dirs=/usr/bin,/bin\n' % F)
    base_env = {'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8', 'OUTER': '1'}

    def rw(*args, env=None, conf_path=None, **kw):
        return subprocess.run([keel, conf_path or conf] + list(args), capture_output=True,
                              env=env or base_env, cwd=T, timeout=30, **kw)

    # 1. No shell: metacharacters reach echo as they are and run nothing.
    marker = T + '/pwned'
    payload = ['$(touch %s)' % marker, '`touch %s`' % marker, ';touch %s' % marker, '|touch', '&&', '*', '~']
    r = rw('echo', *payload)
    check('arguments are never interpreted by a shell',
          r.returncode == 0 and r.stdout.decode() == ' '.join(payload) + '\n' and not os.path.exists(marker),
          repr(r))
    r = rw('echo; touch %s' % marker)
    check('a command glued to shell syntax is refused', r.returncode == 99 and not os.path.exists(marker))

    # 2. No PATH hijack: a fake echo first in $PATH is not what runs.
    evil = T + '/evil'
    write(evil + '/echo', '#!/bin/sh\ntouch %s\n' % marker, 0o755)
    r = rw('echo', 'safe', env=dict(base_env, PATH=evil + ':/usr/bin:/bin'))
    check('$PATH cannot replace an executable found through exec_dirs',
          r.stdout == b'safe\n' and not os.path.exists(marker), repr(r))
    r = rw('%s/echo' % evil, 'x')
    check('an absolute path outside the filters is refused', r.returncode == 99 and not os.path.exists(marker))

    # 3. The environment: exactly the wrapper's, plus what EnvFilter allows.
    r = rw('printenv')
    check('the child environment is the wrapper environment',
          sorted(r.stdout.decode().splitlines()) == sorted('%s=%s' % kv for kv in base_env.items()), repr(r.stdout))
    r = rw('env', 'FOO=1', 'BAR=2', 'env')
    got = sorted(r.stdout.decode().splitlines())
    check('EnvFilter adds only its variables',
          got == sorted(['%s=%s' % kv for kv in base_env.items()] + ['FOO=1', 'BAR=2']), repr(got))
    for extra in (['LD_PRELOAD=/tmp/x.so', 'FOO=1', 'BAR=2'], ['FOO=1', 'BAR=2', 'PATH=/tmp'], ['FOO=1']):
        r = rw('env', *extra, 'env')
        check('EnvFilter refuses %s' % ' '.join(extra), r.returncode == 99, repr(r))

    # 4. Descriptors of the caller stay with the caller.
    rfd, wfd = os.pipe()
    os.dup2(rfd, 50)
    r = rw('ls', '/proc/self/fd', pass_fds=(50,))
    fds = r.stdout.decode().split()
    check('only stdin, stdout and stderr reach the command', '50' not in fds and '0' in fds, repr(fds))
    for fd in (rfd, wfd, 50):
        os.close(fd)

    # 5. run_as drops the user id.
    r = rw('id', '-u')
    check('run_as nobody runs as nobody', r.stdout.strip() == str(pwd.getpwnam('nobody').pw_uid).encode(), repr(r))

    # 6. Signals sent to the wrapper reach the command.
    p = subprocess.Popen([keel, conf, 'sleep', '30'], env=base_env, cwd=T, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    time.sleep(0.3)
    children = subprocess.run(['pgrep', '-P', str(p.pid)], capture_output=True).stdout.split()
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=10)
    check('SIGTERM is passed on and reported as 128+15', rc == 143 and time.time() - t0 < 5, 'rc=%r' % rc)
    alive = [c for c in children if os.path.exists('/proc/%s' % c.decode())]
    check('the command does not outlive the wrapper', not alive, repr(alive))

    # 7. Broken files are refused with a clear message.
    bad = T + '/bad.conf'
    write(bad, '[DEFAULT]\nfilters_path=%s\nthis is not an option\n' % F)
    r = rw('echo', 'x', conf_path=bad)
    check('a malformed rootwrap.conf exits 97 with a message',
          r.returncode == 97 and b'Incorrect configuration file: ' + bad.encode() in r.stderr, repr(r))
    BF = T + '/badfilters'
    write(BF + '/x.filters', '[Filters]\necho: CommandFilter, echo, root\nbroken line\n')
    write(T + '/bf.conf', '[DEFAULT]\nfilters_path=%s\nexec_dirs=/usr/bin\n' % BF)
    r = rw('echo', 'x', conf_path=T + '/bf.conf')
    check('a malformed filter file is refused with file and line',
          r.returncode == 1 and (BF + '/x.filters:3:').encode() in r.stderr and r.stdout == b'', repr(r))
    with open(BF + '/x.filters', 'wb') as f:
        f.write(b'[Filters]\necho: CommandFilter, ec\x00ho, root\n')
    r = rw('echo', 'x', conf_path=T + '/bf.conf')
    check('a filter file with a NUL byte is refused', r.returncode == 1 and b'NUL byte' in r.stderr, repr(r))
    write(BF + '/x.filters', '[Filters]\necho: CommandFilter, echo\n')
    r = rw('echo', 'x', conf_path=T + '/bf.conf')
    check('a filter with too few fields is refused', r.returncode == 1 and b'x.filters:2:' in r.stderr, repr(r))


def daemon_checks(daemon, T):
    import socket
    conf = T + '/rootwrap.conf'
    env = {'PATH': '/usr/bin:/bin', 'SUDO_UID': str(pwd.getpwnam('daemon').pw_uid),
           'SUDO_GID': str(pwd.getpwnam('daemon').pw_gid)}
    p = subprocess.Popen([daemon, conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    path = p.stdout.readline().decode().strip()
    token = p.stdout.readline().decode().strip()
    d = os.path.dirname(path)
    st = os.stat(d)
    check('the daemon directory is 0700 and belongs to the sudo user',
          st.st_mode & 0o777 == 0o700 and st.st_uid == pwd.getpwnam('daemon').pw_uid, oct(st.st_mode))

    def try_connect(as_user):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.setgid(pwd.getpwnam(as_user).pw_gid)
                os.setuid(pwd.getpwnam(as_user).pw_uid)
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.sendall(b'KRW1' + bytes.fromhex(token))
                os.write(w, s.recv(4) or b'closed')
            except OSError as e:
                os.write(w, type(e).__name__.encode())
            os._exit(0)
        os.close(w)
        out = os.read(r, 100)
        os.close(r)
        os.waitpid(pid, 0)
        return out

    check('another user cannot reach the socket, even with the token', try_connect('nobody') == b'PermissionError',
          repr(try_connect('nobody')))
    check('the sudo user gets in with the token', try_connect('daemon') == b'OK\0\0', repr(try_connect('daemon')))
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=10)
    check('SIGTERM stops the daemon and removes its directory', rc == 0 and not os.path.exists(d), 'rc=%r' % rc)


if __name__ == '__main__':
    main()
