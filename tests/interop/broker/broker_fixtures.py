#!/usr/bin/python3
"""Broker fixtures for the broker interop harness: start an AMQP 0-9-1 broker
on a free loopback port, administer it (users, vhosts, permissions) and stop
it, leaving no process behind.

Two kinds:

  rabbitmq  Debian's rabbitmq-server 3.10, started directly (not through the
            Debian wrapper, which would `su rabbitmq` and use /var/lib) with
            every RABBITMQ_* location under a private temp dir, a private
            Erlang cookie, a private epmd on its own port, and a node name of
            its own, so it never meets a system-wide RabbitMQ.
  keeld     keel's broker: `keeld --port N --bind-host 127.0.0.1 --data-dir D`.
            Administration goes through `keel add_user/add_vhost/
            set_permissions` with rabbitmqctl's argument order.

Every process is started in its own session with PR_SET_PDEATHSIG, so even a
runner killed by SIGKILL takes its broker down with it; stop() sends SIGTERM
to the process group, escalates to SIGKILL, and then checks /proc for any
process of that session still alive.

usage as a script (for trying a broker by hand):
  broker_fixtures.py rabbitmq       start, print the URL, wait for Ctrl-C, stop
  broker_fixtures.py keeld PATH     the same for keeld"""
import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

RABBIT_SBIN = '/usr/lib/rabbitmq/bin'
EPMD = '/usr/bin/epmd'

_live = []


class BrokerError(Exception):
    pass


class AdminUnavailable(Exception):
    """The broker kind has no administration command (yet); the cases that
    need extra users or vhosts are skipped with this reason."""


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel's choice)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


def free_ports(n):
    """n distinct free ports: hold all sockets open while choosing."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup():
    # Runs in the child between fork and exec: die with the parent.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:
        os._exit(1)


def spawn(argv, env=None, log=None, cwd=None):
    """Starts argv in a new session (its own process group) that dies when
    this process dies. Output goes to the file `log` (or /dev/null)."""
    out = open(log, 'ab') if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_child_setup)
    finally:
        if log:
            out.close()


def session_members(sid):
    """pids of live processes whose session id is sid (from /proc)."""
    pids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        # fields after the ")" of comm: state ppid pgrp session ...
        rest = stat[stat.rfind(')') + 2:].split()
        if len(rest) > 3 and rest[0] != 'Z' and int(rest[3]) == sid:
            pids.append(int(d))
    return pids


def kill_session(proc, grace=10.0):
    """SIGTERM the process group of proc, SIGKILL what is left after grace
    seconds, reap proc, and return the pids of its session still alive."""
    if proc is None:
        return []
    sid = proc.pid
    if proc.poll() is None:
        try:
            os.killpg(sid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + 5
    while True:
        left = session_members(sid)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    return session_members(sid)


def wait_port(host, port, deadline, proc=None, what='broker', logfile=None):
    """Waits until host:port accepts a TCP connection."""
    while True:
        if proc is not None and proc.poll() is not None:
            raise BrokerError('%s exited with status %s before accepting connections%s'
                              % (what, proc.returncode, _tail(logfile)))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BrokerError('%s did not accept connections on %s:%d in time%s'
                              % (what, host, port, _tail(logfile)))
        time.sleep(0.05)


def amqp_ready(host, port, timeout=0.5):
    """Whether host:port answers an AMQP 0-9-1 protocol header with
    connection.start (frame type 1, channel 0, class 10 method 10)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b'AMQP\x00\x00\x09\x01')
            data = b''
            while len(data) < 11:
                chunk = s.recv(64)
                if not chunk:
                    return False
                data += chunk
            return data[0] == 1 and data[7:11] == b'\x00\x0a\x00\x0a'
    except OSError:
        return False


def wait_amqp(host, port, deadline, proc=None, what='broker', logfile=None):
    """Waits until host:port answers an AMQP 0-9-1 protocol header with
    connection.start (RabbitMQ opens its port a moment before it is ready)."""
    wait_port(host, port, deadline, proc, what, logfile)
    while not amqp_ready(host, port, timeout=2):
        if proc is not None and proc.poll() is not None:
            raise BrokerError('%s exited with status %s%s' % (what, proc.returncode, _tail(logfile)))
        if time.monotonic() > deadline:
            raise BrokerError('%s on %s:%d never sent connection.start%s' % (what, host, port, _tail(logfile)))
        time.sleep(0.1)


def _tail(logfile, n=15):
    if not logfile or not os.path.exists(logfile):
        return ''
    with open(logfile, 'rb') as f:
        lines = f.read().decode('utf-8', 'replace').splitlines()
    return '\n--- last lines of %s ---\n%s' % (logfile, '\n'.join(lines[-n:]))


class Broker:
    """Common part: host, port, credentials, temp dir, stop()."""
    kind = None
    host = '127.0.0.1'
    user = 'guest'
    password = 'guest'
    vhost = '/'

    def __init__(self, keep_dir=False):
        self.port = None
        self.dir = None
        self.keep_dir = keep_dir
        self.procs = []
        self.leftovers = []

    def url(self, user=None, password=None, vhost=None, scheme='amqp'):
        from urllib.parse import quote
        vh = self.vhost if vhost is None else vhost
        return '%s://%s:%s@%s:%d/%s' % (scheme, quote(user or self.user, safe=''),
                                        quote(password or self.password, safe=''),
                                        self.host, self.port, quote(vh, safe=''))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        raise NotImplementedError

    def stop(self):
        """Stops every process started, newest first, and records any that
        survived in self.leftovers (a non-empty list is a harness bug)."""
        for p in reversed(self.procs):
            self.leftovers += kill_session(p)
        self.procs = []
        if self in _live:
            _live.remove(self)
        if self.dir and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        return self.leftovers

    # Administration: the contract is rabbitmqctl's argument order.
    def add_user(self, name, password, tags=()):
        raise AdminUnavailable('%s has no administration command' % self.kind)

    def delete_user(self, name):
        raise AdminUnavailable('%s has no administration command' % self.kind)

    def add_vhost(self, name):
        raise AdminUnavailable('%s has no administration command' % self.kind)

    def delete_vhost(self, name):
        raise AdminUnavailable('%s has no administration command' % self.kind)

    def set_permissions(self, vhost, user, conf, write, read):
        raise AdminUnavailable('%s has no administration command' % self.kind)


def sweep_stale_dirs(prefix='keel-rabbit-', min_age=600):
    """Removes temp dirs a killed run (SIGKILL: no finally) left: older than
    min_age seconds and with no live node (the node.pid the fixture wrote
    names a process that is gone)."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        d = os.path.join(root, name)
        if not name.startswith(prefix) or not os.path.isdir(d):
            continue
        try:
            if time.time() - os.path.getmtime(d) < min_age:
                continue
            with open(os.path.join(d, 'node.pid')) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            continue  # not ours, or not started yet: leave it
        if pid and os.path.exists('/proc/%d' % pid):
            continue
        shutil.rmtree(d, ignore_errors=True)


class RabbitMQ(Broker):
    """Debian's rabbitmq-server 3.10 on a private port, node name, cookie,
    epmd and data/log dirs. No plugins are enabled, which keeps the boot
    short (about 3 s on two cores)."""
    kind = 'rabbitmq'

    def __init__(self, keep_dir=False, start_timeout=60):
        super().__init__(keep_dir)
        self.start_timeout = start_timeout
        self.env = None

    def start(self):
        if not os.path.exists(os.path.join(RABBIT_SBIN, 'rabbitmq-server')):
            raise BrokerError('rabbitmq-server is not installed (apt-get install rabbitmq-server)')
        sweep_stale_dirs()
        self.dir = tempfile.mkdtemp(prefix='keel-rabbit-')
        _live.append(self)
        d = self.dir
        self.port, dist, epmd_port, ctl = free_ports(4)
        self.nodename = 'keeltest%d@localhost' % self.port
        for sub in ('mnesia', 'log', 'home'):
            os.mkdir(os.path.join(d, sub))
        cookie = os.path.join(d, 'home', '.erlang.cookie')
        with open(cookie, 'w') as f:
            f.write('KEELTEST%s' % os.urandom(12).hex().upper())
        os.chmod(cookie, 0o400)
        conf = os.path.join(d, 'rabbitmq.conf')
        with open(conf, 'w') as f:
            f.write('listeners.tcp.1 = 127.0.0.1:%d\n' % self.port)
            f.write('log.console = false\nlog.file.level = info\n')
            f.write('disk_free_limit.absolute = 1MB\n')
        with open(os.path.join(d, 'enabled_plugins'), 'w') as f:
            f.write('[].\n')
        with open(os.path.join(d, 'rabbitmq-env.conf'), 'w') as f:
            f.write('# private: keeps /etc/rabbitmq/rabbitmq-env.conf out\n')
        with open(os.path.join(d, 'advanced.config'), 'w') as f:
            f.write('[].\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(('RABBITMQ_', 'ERL_'))}
        env.update({
            'HOME': os.path.join(d, 'home'),
            'RABBITMQ_CONF_ENV_FILE': os.path.join(d, 'rabbitmq-env.conf'),
            'RABBITMQ_CONFIG_FILE': conf,
            'RABBITMQ_ADVANCED_CONFIG_FILE': os.path.join(d, 'advanced.config'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': os.path.join(d, 'enabled_plugins'),
            'RABBITMQ_MNESIA_BASE': os.path.join(d, 'mnesia'),
            'RABBITMQ_LOG_BASE': os.path.join(d, 'log'),
            'RABBITMQ_NODENAME': self.nodename,
            'RABBITMQ_NODE_IP_ADDRESS': '127.0.0.1',
            'RABBITMQ_NODE_PORT': str(self.port),
            'RABBITMQ_DIST_PORT': str(dist),
            'RABBITMQ_CTL_DIST_PORT_MIN': str(ctl),
            'RABBITMQ_CTL_DIST_PORT_MAX': str(ctl),
            'RABBITMQ_USE_LONGNAME': 'false',
            'RABBITMQ_PID_FILE': os.path.join(d, 'rabbit.pid'),
            # exec erl directly (no signal-proxy shell), without a shell on stdin
            'RABBITMQ_ALLOW_INPUT': '1',
            'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS': '-noinput -kernel inet_dist_use_interface {127,0,0,1}',
            'ERL_EPMD_PORT': str(epmd_port),
            'ERL_EPMD_ADDRESS': '127.0.0.1',
        })
        self.env = env
        self.logfile = os.path.join(d, 'server.out')
        deadline = time.monotonic() + self.start_timeout
        # A private epmd, in the foreground, so it is ours to stop.
        epmd = spawn([EPMD, '-port', str(epmd_port), '-address', '127.0.0.1'], env=env,
                     log=os.path.join(d, 'epmd.out'))
        self.procs.append(epmd)
        wait_port('127.0.0.1', epmd_port, deadline, epmd, 'epmd')
        node = spawn([os.path.join(RABBIT_SBIN, 'rabbitmq-server')], env=env, log=self.logfile, cwd=d)
        self.procs.append(node)
        with open(os.path.join(d, 'node.pid'), 'w') as f:
            f.write('%d\n' % node.pid)
        wait_amqp(self.host, self.port, deadline, node, 'rabbitmq-server', self.logfile)
        return self

    def ctl(self, *args, timeout=60):
        """Runs rabbitmqctl against this node; returns its stdout."""
        argv = [os.path.join(RABBIT_SBIN, 'rabbitmqctl'), '-n', self.nodename, '-q'] + list(args)
        p = subprocess.run(argv, env=self.env, cwd=self.dir, capture_output=True, timeout=timeout,
                           start_new_session=True, preexec_fn=_child_setup)
        if p.returncode != 0:
            raise BrokerError('rabbitmqctl %s: exit %d: %s' % (' '.join(args), p.returncode,
                                                               (p.stdout + p.stderr).decode('utf-8', 'replace')))
        return p.stdout.decode('utf-8', 'replace')

    def add_user(self, name, password, tags=()):
        self.ctl('add_user', name, password)
        if tags:
            self.ctl('set_user_tags', name, *tags)

    def delete_user(self, name):
        self.ctl('delete_user', name)

    def add_vhost(self, name):
        self.ctl('add_vhost', name)

    def delete_vhost(self, name):
        self.ctl('delete_vhost', name)

    def set_permissions(self, vhost, user, conf, write, read):
        self.ctl('set_permissions', '-p', vhost, user, conf, write, read)


class Keeld(Broker):
    """keel's broker, given the path of the keeld binary. The `keel` CLI is
    looked for beside it (or given) for administration."""
    kind = 'keeld'

    def __init__(self, keeld_path, keel_cli=None, keep_dir=False, start_timeout=20):
        super().__init__(keep_dir)
        self.keeld_path = os.path.abspath(keeld_path)
        if keel_cli is None:
            cand = os.path.join(os.path.dirname(self.keeld_path), 'keel')
            keel_cli = cand if os.access(cand, os.X_OK) else None
        self.keel_cli = keel_cli
        self.start_timeout = start_timeout
        self._admin_checked = None

    def start(self):
        if not os.access(self.keeld_path, os.X_OK):
            raise BrokerError('keeld binary %s is not executable' % self.keeld_path)
        self.dir = tempfile.mkdtemp(prefix='keel-keeld-')
        _live.append(self)
        data = os.path.join(self.dir, 'data')
        os.mkdir(data)
        self.port = free_port()
        self.logfile = os.path.join(self.dir, 'keeld.out')
        p = spawn([self.keeld_path, '--port', str(self.port), '--bind-host', '127.0.0.1',
                   '--data-dir', data], log=self.logfile, cwd=self.dir)
        self.procs.append(p)
        wait_amqp(self.host, self.port, time.monotonic() + self.start_timeout, p, 'keeld', self.logfile)
        return self

    def _admin(self, *args):
        if not self.keel_cli:
            raise AdminUnavailable('no keel CLI beside %s' % self.keeld_path)
        if self._admin_checked is None:
            # Does this keel have the broker admin subcommands at all?
            h = subprocess.run([self.keel_cli, 'add_user', '--help'], capture_output=True, timeout=20)
            self._admin_checked = h.returncode == 0
        if not self._admin_checked:
            raise AdminUnavailable('`keel add_user` is not implemented yet')
        # `keel COMMAND [--port N] ARGS...`, rabbitmqctl's argument order
        argv = [self.keel_cli, args[0], '--port', str(self.port)] + list(args[1:])
        p = subprocess.run(argv, capture_output=True, timeout=30)
        if p.returncode != 0:
            raise BrokerError('keel %s: exit %d: %s' % (' '.join(args), p.returncode,
                                                        (p.stdout + p.stderr).decode('utf-8', 'replace')))
        return p.stdout.decode('utf-8', 'replace')

    def add_user(self, name, password, tags=()):
        self._admin('add_user', name, password)
        if tags:
            self._admin('set_user_tags', name, *tags)

    def delete_user(self, name):
        self._admin('delete_user', name)

    def add_vhost(self, name):
        self._admin('add_vhost', name)

    def delete_vhost(self, name):
        self._admin('delete_vhost', name)

    def set_permissions(self, vhost, user, conf, write, read):
        self._admin('set_permissions', '-p', vhost, user, conf, write, read)


def make(kind, keeld=None, **kw):
    if kind == 'rabbitmq':
        return RabbitMQ(**kw)
    if kind == 'keeld':
        if not keeld:
            raise BrokerError('keeld needs --keeld PATH')
        return Keeld(keeld, **kw)
    raise BrokerError('unknown broker kind %r' % kind)


def _stop_all():
    for b in list(_live):
        try:
            b.stop()
        except Exception as e:  # keep stopping the others
            print('fixtures: stopping %s: %s' % (b.kind, e), file=sys.stderr)


def _on_signal(signum, frame):
    # Turn SIGTERM/SIGHUP (meson's timeout, a closed terminal) into a normal
    # exit so finally blocks and atexit stop the brokers.
    raise SystemExit(128 + signum)


def install_cleanup():
    """Stops every live broker at exit and on SIGTERM/SIGHUP/SIGINT."""
    atexit.register(_stop_all)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


if __name__ == '__main__':
    install_cleanup()
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    t0 = time.monotonic()
    b = make(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None, keep_dir=True)
    try:
        b.start()
        print('%s up in %.1fs: %s (dir %s)' % (b.kind, time.monotonic() - t0, b.url(), b.dir), flush=True)
        if '--once' not in sys.argv:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        t1 = time.monotonic()
        left = b.stop()
        print('stopped in %.1fs; left behind: %s' % (time.monotonic() - t1, left or 'nothing'))
