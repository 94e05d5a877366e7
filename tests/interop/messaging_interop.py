#!/usr/bin/python3
"""The messaging interop matrix of issue 4: keel against Python
oslo.messaging 14.0.3 (Debian's python3-oslo.messaging), both ways, over
keeld and over RabbitMQ.

usage: messaging_interop.py --keel KEEL [--keeld KEELD]
                            [--brokers keeld,rabbitmq]
                            [--directions py-keel,keel-py] [--timeout-scale S]

For each broker it starts (broker_fixtures: a free loopback port, a private
RabbitMQ node, stopped by pid at the end) and each direction it runs the
same features with the roles filled by the two sides:

  py-keel   a Python RPC client calls keel servers (`keel rpc serve`), a
            Python Notifier sends to keel listeners (`keel notify listen`);
  keel-py   `keel rpc call|cast` calls Python RPC servers, `keel notify
            send` sends to Python notification listeners;
  py-py     Python on both sides: proves the harness itself (and the
            broker) without keel; keel-keel the same for keel alone.

The Python side runs in this process (oslo.messaging with the threading
executor); the keel side is keel's CLI, one process per client call and
per server or listener. Features (rows of the table):

  call              echo(**kwargs) returns its arguments; the server saw the
                    request context
  call error        fail(): ValueError comes back as ValueError; an
                    exception of module messaging_interop (this file) as
                    that class when the module is in allowed_remote_exmods,
                    as oslo_messaging.RemoteError otherwise; keel's client
                    reports class, module and message
  cast              one server of the topic gets it, once
  fanout cast       every server of the topic gets it, once
  targeted server   calls and a cast to server s2 reach s2 only
  namespace/version the endpoint (namespace interop_ns, version 1.3)
                    answers 1.0-1.3 in its namespace; 1.4, 2.0 or another
                    namespace raise UnsupportedVersion, an unknown method
                    NoSuchMethod
  call timeout      sleep() longer than the call's timeout: MessagingTimeout
                    (Python) or keel's timeout exit, within the timeout
  mixed with peer   a server of the sender's kind joins the receivers' topic
                    and a listener of each kind shares a pool: the queue
                    declarations agree (RabbitMQ would refuse others with
                    406) and the work is shared, as when a keel service
                    runs beside a Python one of the same topic
  notify            a notification of each priority (audit ... sample)
                    arrives with its priority, publisher_id, event_type,
                    payload, context and message_id
  notify pools      two listeners of one pool share the notifications
                    (each once, both get some); a second pool gets them all
  notify requeue    the endpoint returns REQUEUE for the first delivery;
                    the broker redelivers it, and it is handled
  clean stop        the servers stop when asked (keel's on SIGTERM with
                    exit status 0); every keel process, listeners and
                    clients too, must leave no sanitizer report

Prints one line per check, then the table (rows: features; columns:
direction/broker), then "messaging interop: N passed, N failed". Exits 1
on any failure.
"""
import argparse
import builtins
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'broker'))
import broker_fixtures as bf  # noqa: E402

FEATURES = ['call', 'call error', 'cast', 'fanout cast', 'targeted server', 'namespace/version', 'call timeout',
            'mixed with peer', 'notify', 'notify pools', 'notify requeue', 'clean stop']
DIRECTIONS = {'py-keel': 'py→keel', 'keel-py': 'keel→py', 'py-py': 'py→py', 'keel-keel': 'keel→keel'}
NAMESPACE = 'interop_ns'
ENDPOINT_VERSION = '1.3'
SCALE = 1.0  # --timeout-scale: waits grow under sanitizers


class InteropError(Exception):
    """The non-builtin exception both sides raise. A Python client imports
    it as messaging_interop.InteropError when allowed to."""


class CheckFailed(Exception):
    pass


SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:')


def sanitizer_report(err):
    """The first sanitizer report in a keel process's stderr, or None."""
    for mark in SANITIZER_MARKS:
        at = err.find(mark)
        if at >= 0:
            return err[max(0, at - 100):at + 1500]
    return None


def stop_all(things):
    """Stops every server or listener; then raises the first failure."""
    first = None
    for t in things:
        try:
            t.stop()
        except Exception as e:
            first = first or e
    if first:
        raise first if isinstance(first, CheckFailed) else CheckFailed('%s: %s' % (type(first).__name__, first))


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def uid():
    return uuid.uuid4().hex[:8]


class Log:
    """What a server or listener received: a list of dicts, with a wait."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()

    def add(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def matching(self, pred):
        with self.cond:
            return [i for i in self.items if pred(i)]

    def wait(self, pred, n=1, timeout=5.0):
        """Waits until at least n items match pred; returns those."""
        deadline = time.monotonic() + timeout * SCALE
        with self.cond:
            while True:
                got = [i for i in self.items if pred(i)]
                left = deadline - time.monotonic()
                if len(got) >= n or left <= 0:
                    return got
                self.cond.wait(left)


def wait_total(logs, pred, n, timeout=5.0):
    """Waits until the logs together hold at least n items matching pred;
    returns each log's matches."""
    deadline = time.monotonic() + timeout * SCALE
    while True:
        got = [log.matching(pred) for log in logs]
        if sum(map(len, got)) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def has_arg(key, value):
    return lambda e: isinstance(e.get('args'), dict) and e['args'].get(key) == value


class Outcome:
    """A call's result, whichever side made it: ok and result, or the
    exception's class, module and message; timeout when it timed out."""

    def __init__(self, ok, result=None, cls=None, module=None, message='', timeout=False, exc=None, elapsed=0.0,
                 detail=''):
        self.ok, self.result, self.cls, self.module, self.message = ok, result, cls, module, message
        self.timeout, self.exc, self.elapsed, self.detail = timeout, exc, elapsed, detail

    def __repr__(self):
        if self.ok:
            return 'ok %r' % (self.result,)
        return 'error %s.%s: %r%s %s' % (self.module, self.cls, self.message[:200], ' (timeout)' if self.timeout else '',
                                         self.detail)


# ---------------------------------------------------------------- Python side

class PyEnv:
    """oslo.messaging in this process, for one broker: an RPC transport
    without allowed_remote_exmods, one with, and a notification transport."""

    def __init__(self, url):
        from oslo_config import cfg
        import oslo_messaging as om
        from oslo_messaging._metrics import client as metrics
        self.om = om
        self.url = url
        self.conf = cfg.ConfigOpts()
        # oslo registers these on the global cfg.CONF only; a private
        # ConfigOpts (one per broker) needs them for RPCClient.
        self.conf.register_opts(metrics.oslo_messaging_metrics, group='oslo_messaging_metrics')
        self.conf([], project='keel-interop')
        self.rpc = om.get_rpc_transport(self.conf, url=url)
        self.rpc_allowed = om.get_rpc_transport(
            self.conf, url=url, allowed_remote_exmods=['messaging_interop', 'oslo_messaging.rpc.dispatcher'])
        self.notify = om.get_notification_transport(self.conf, url=url)

    def close(self):
        for t in (self.rpc, self.rpc_allowed, self.notify):
            try:
                t.cleanup()
            except Exception as e:  # keep closing the others
                print('  (python transport cleanup: %s)' % e)


def py_endpoint(om, log, namespace, version):
    """The Python twin of `keel rpc serve`'s diagnostic endpoint."""

    class Endpoint(object):
        target = om.Target(namespace=namespace, version=version)

        def echo(self, ctxt, **kwargs):
            log.add({'method': 'echo', 'args': kwargs, 'context': ctxt})
            return kwargs

        def fail(self, ctxt, message='fail() called', exception='ValueError', module=None):
            log.add({'method': 'fail', 'args': {'message': message, 'exception': exception}, 'context': ctxt})
            if exception == 'InteropError':
                import messaging_interop
                raise messaging_interop.InteropError(message)
            raise ValueError(message)

        def sleep(self, ctxt, seconds=1):
            log.add({'method': 'sleep', 'args': {'seconds': seconds}, 'context': ctxt})
            time.sleep(float(seconds))
            return seconds

    return Endpoint()


class PyServer:
    def __init__(self, env, topic, server, namespace=None, version=ENDPOINT_VERSION):
        om = env.om
        self.log = Log()
        target = om.Target(topic=topic, server=server)
        self.srv = om.get_rpc_server(env.rpc, target, [py_endpoint(om, self.log, namespace, version)],
                                     executor='threading')
        self.srv.start()

    def alive(self):
        return None

    def stop(self):
        self.srv.stop()
        self.srv.wait()


class PyClient:
    kind = 'py'

    def __init__(self, env):
        self.env = env

    def _client(self, topic, server=None, namespace=None, version=None, fanout=False, timeout=None, allowed=False):
        om = self.env.om
        t = self.env.rpc_allowed if allowed else self.env.rpc
        target = om.Target(topic=topic, server=server, namespace=namespace, version=version, fanout=fanout or None)
        return om.get_rpc_client(t, target, timeout=timeout)

    def call(self, topic, method, args, ctxt=None, server=None, namespace=None, version=None, timeout=10.0,
             allowed=False):
        om = self.env.om
        c = self._client(topic, server, namespace, version, timeout=timeout * SCALE, allowed=allowed)
        t0 = time.monotonic()
        try:
            r = c.call(ctxt or {}, method, **args)
            return Outcome(True, result=r, elapsed=time.monotonic() - t0)
        except om.MessagingTimeout as e:
            return Outcome(False, cls=type(e).__name__, module=type(e).__module__, message=str(e), timeout=True,
                           exc=e, elapsed=time.monotonic() - t0)
        except Exception as e:
            return Outcome(False, cls=type(e).__name__, module=type(e).__module__, message=str(e), exc=e,
                           elapsed=time.monotonic() - t0)

    def cast(self, topic, method, args, ctxt=None, server=None, fanout=False):
        c = self._client(topic, server, fanout=fanout)
        c.cast(ctxt or {}, method, **args)


class PyNotifier:
    def __init__(self, env):
        self.env = env

    def send(self, topic, priority, event_type, payload, publisher_id='interop.host1', ctxt=None):
        n = self.env.om.Notifier(self.env.notify, publisher_id=publisher_id, driver='messagingv2', topics=[topic])
        getattr(n, priority)(ctxt or {}, event_type, payload)


PRIORITIES = ['audit', 'debug', 'info', 'warn', 'error', 'critical', 'sample']


class PyListener:
    def __init__(self, env, topic, pool=None, requeue=0):
        om = env.om
        self.log = Log()       # handled notifications
        self.requeued = Log()  # the ones given back
        state = {'requeue': requeue}
        log, requeued = self.log, self.requeued

        class Endpoint(object):
            pass

        def handler(prio):
            def h(self, ctxt, publisher_id, event_type, payload, metadata):
                item = {'priority': prio, 'publisher_id': publisher_id, 'event_type': event_type, 'payload': payload,
                        'metadata': metadata, 'ctxt': ctxt}
                if state['requeue'] > 0:
                    state['requeue'] -= 1
                    requeued.add(item)
                    return om.NotificationResult.REQUEUE
                log.add(item)
                return om.NotificationResult.HANDLED
            return h

        for p in PRIORITIES:
            setattr(Endpoint, p, handler(p))
        self.lst = om.get_notification_listener(env.notify, [om.Target(topic=topic)], [Endpoint()],
                                                executor='threading', pool=pool, allow_requeue=True)
        self.lst.start()

    def alive(self):
        return None

    def stop(self):
        self.lst.stop()
        self.lst.wait()


# ---------------------------------------------------------------- keel side

class KeelProc:
    """A long-running keel CLI process (rpc serve, notify listen): stdout's
    JSON lines go to self.log, stderr to a file and, line by line, to
    self.stderr_lines."""

    def __init__(self, argv, logdir, name):
        self.argv = argv
        self.log = Log()
        self.stderr_lines = Log()
        self.errfile = os.path.join(logdir, '%s.err' % name)
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=True, preexec_fn=bf._child_setup)
        self.threads = [threading.Thread(target=self._out, daemon=True),
                        threading.Thread(target=self._err, daemon=True)]
        for t in self.threads:
            t.start()

    def _out(self):
        for raw in self.p.stdout:
            try:
                self.log.add(json.loads(raw))
            except ValueError:
                self.log.add({'unparsed': raw.decode('utf-8', 'replace')})

    def _err(self):
        with open(self.errfile, 'ab') as f:
            for raw in self.p.stderr:
                f.write(raw)
                f.flush()
                self.stderr_lines.add({'line': raw.decode('utf-8', 'replace').rstrip('\n')})

    def alive(self):
        """None while running, else why it is not."""
        if self.p.poll() is None:
            return None
        for t in self.threads:
            t.join(2)
        tail = [i['line'] for i in self.stderr_lines.items][-5:]
        return '%s exited %s: %s' % (' '.join(self.argv[1:4]), self.p.returncode, ' | '.join(tail))

    def stop(self):
        """SIGTERM, as an operator stops it; raises CheckFailed unless it
        exits 0 in time with no sanitizer report."""
        hung = False
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(10 * SCALE)
            except subprocess.TimeoutExpired:
                hung = True
        bf.kill_session(self.p, grace=0)
        for t in self.threads:
            t.join(2)
        err = '\n'.join(i['line'] for i in self.stderr_lines.items)
        report = sanitizer_report(err)
        if hung or self.p.returncode != 0 or report:
            raise CheckFailed('%s: %s%s' % (' '.join(self.argv[1:3]), 'did not stop on SIGTERM' if hung else
                                            'exit status %s' % self.p.returncode, '\n' + report if report else ''))


class KeelEnv:
    def __init__(self, keel, url, logdir):
        self.keel, self.url, self.logdir = keel, url, logdir
        self.n = 0

    def name(self, what):
        self.n += 1
        return '%s-%d' % (what, self.n)


class KeelServer(KeelProc):
    def __init__(self, env, topic, server, namespace=None, version=ENDPOINT_VERSION):
        argv = [env.keel, 'rpc', 'serve', env.url, topic, '--server', server, '--target-version', version]
        if namespace:
            argv += ['--namespace', namespace]
        super().__init__(argv, env.logdir, env.name('serve-' + server))


def run_keel(argv):
    """Runs a short keel command that must succeed quietly for sanitizers."""
    try:
        p = subprocess.run(argv, capture_output=True, timeout=30 * SCALE)
    except subprocess.TimeoutExpired:
        raise CheckFailed('%s hung' % ' '.join(argv[1:3]))
    err = p.stderr.decode('utf-8', 'replace')
    report = sanitizer_report(err)
    if p.returncode != 0 or report:
        raise CheckFailed('%s exited %d: %s' % (' '.join(argv[1:3]), p.returncode, report or err[-300:]))


class KeelClient:
    kind = 'keel'

    def __init__(self, env):
        self.env = env

    def _argv(self, verb, topic, method, args, ctxt, server=None, namespace=None, version=None):
        argv = [self.env.keel, 'rpc', verb, self.env.url, topic, method, '--args', json.dumps(args)]
        if ctxt:
            argv += ['--context', json.dumps(ctxt)]
        if server:
            argv += ['--server', server]
        if namespace:
            argv += ['--namespace', namespace]
        if version:
            argv += ['--target-version', version]
        return argv

    def call(self, topic, method, args, ctxt=None, server=None, namespace=None, version=None, timeout=10.0,
             allowed=False):
        # allowed makes no difference here: keel's CLI names the remote
        # class and module whether or not a Python client would rebuild it.
        argv = self._argv('call', topic, method, args, ctxt, server, namespace, version)
        argv += ['--timeout', '%g' % (timeout * SCALE)]
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, capture_output=True, timeout=timeout * SCALE + 20 * SCALE)
        except subprocess.TimeoutExpired:
            return Outcome(False, message='keel rpc call hung', elapsed=time.monotonic() - t0, detail='(killed)')
        elapsed = time.monotonic() - t0
        out = p.stdout.decode('utf-8', 'replace')
        err = p.stderr.decode('utf-8', 'replace')
        report = sanitizer_report(err)
        if report:
            return Outcome(False, message=report, elapsed=elapsed, detail='sanitizer report, exit %d' % p.returncode)
        if p.returncode == 0:
            try:
                return Outcome(True, result=json.loads(out), elapsed=elapsed)
            except ValueError:
                return Outcome(False, message='unparsable output %r' % out, elapsed=elapsed)
        if 'MessagingTimeout' in err:
            return Outcome(False, cls='MessagingTimeout', message=err.strip(), timeout=True, elapsed=elapsed,
                           detail='exit %d' % p.returncode)
        # "keel rpc call: <module>.<class>: <str() of the exception>"
        m = re.match(r'keel rpc call: ([\w.]+)\.(\w+): (.*)', err, re.S)
        if m:
            return Outcome(False, module=m.group(1), cls=m.group(2), message=m.group(3), elapsed=elapsed,
                           detail='exit %d' % p.returncode)
        return Outcome(False, message=err.strip()[-400:], elapsed=elapsed, detail='exit %d' % p.returncode)

    def cast(self, topic, method, args, ctxt=None, server=None, fanout=False):
        argv = self._argv('cast', topic, method, args, ctxt, server)
        if fanout:
            argv.append('--fanout')
        run_keel(argv)


class KeelNotifier:
    def __init__(self, env):
        self.env = env

    def send(self, topic, priority, event_type, payload, publisher_id='interop.host1', ctxt=None):
        argv = [self.env.keel, 'notify', 'send', self.env.url, '--topic', topic, '--priority', priority,
                '--event-type', event_type, '--publisher-id', publisher_id, '--payload', json.dumps(payload)]
        if ctxt:
            argv += ['--context', json.dumps(ctxt)]
        run_keel(argv)


class KeelListener(KeelProc):
    def __init__(self, env, topic, pool=None, requeue=0):
        argv = [env.keel, 'notify', 'listen', env.url, '--topic', topic]
        if pool:
            argv += ['--pool', pool]
        if requeue:
            argv += ['--requeue', str(requeue)]
        super().__init__(argv, env.logdir, env.name('listen'))
        self.requeued = _RequeueView(self.stderr_lines)


class _RequeueView:
    """`keel notify listen --requeue`'s stderr lines, "keel notify listen:
    requeued info E, message_id M", read as PyListener.requeued's items."""
    LINE = re.compile(r'requeued (\w+) (\S+), message_id (\S+)')

    def __init__(self, lines):
        self.lines = lines

    def matching(self, pred):
        found = [self.LINE.search(i['line']) for i in self.lines.matching(lambda i: True)]
        items = [{'priority': m.group(1), 'event_type': m.group(2), 'metadata': {'message_id': m.group(3)}}
                 for m in found if m]
        return [i for i in items if pred(i)]

    def wait(self, pred, n=1, timeout=5.0):
        """Log.wait() over the parsed lines."""
        return wait_total([self], pred, n, timeout)[0]


# ---------------------------------------------------------------- readiness

class Prober:
    """Passive queue.declare over py-amqp: does queue Q exist, and with how
    many consumers? Both brokers answer it, so the harness waits for a
    server's or listener's queues instead of sleeping."""

    def __init__(self, broker):
        import amqp
        self.amqp = amqp
        self.conn = amqp.Connection(host='%s:%d' % (broker.host, broker.port), userid=broker.user,
                                    password=broker.password, virtual_host=broker.vhost)
        self.conn.connect()
        self.ch = None

    def consumers(self, queue):
        try:
            if self.ch is None or not self.ch.is_open:
                self.ch = self.conn.channel()
            _, _, n = self.ch.queue_declare(queue, passive=True)
            return n
        except self.amqp.exceptions.NotFound:
            self.ch = None
            return -1

    def wait(self, queues, procs=(), timeout=15.0):
        """Waits until every queue (name -> consumers wanted) has them;
        fails early if one of procs died."""
        deadline = time.monotonic() + timeout * SCALE
        while True:
            for p in procs:
                why = p.alive()
                if why:
                    raise CheckFailed(why)
            missing = {q: self.consumers(q) for q, n in queues.items()}
            missing = {q: c for q, c in missing.items() if c < queues[q]}
            if not missing:
                return
            if time.monotonic() > deadline:
                raise CheckFailed('not consuming in time: %s' % ', '.join('%s has %d' % kv for kv in missing.items()))
            time.sleep(0.05)

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


# ---------------------------------------------------------------- the features

class Column:
    """One direction over one broker: who plays which role."""

    def __init__(self, direction, broker, py_env, keel_env, prober):
        self.direction, self.broker, self.prober = direction, broker, prober
        sender, receiver = direction.split('-')
        self.client = PyClient(py_env) if sender == 'py' else KeelClient(keel_env)
        self.notifier = PyNotifier(py_env) if sender == 'py' else KeelNotifier(keel_env)
        py_server = lambda *a, **k: PyServer(py_env, *a, **k)  # noqa: E731
        py_listener = lambda *a, **k: PyListener(py_env, *a, **k)  # noqa: E731
        keel_server = lambda *a, **k: KeelServer(keel_env, *a, **k)  # noqa: E731
        keel_listener = lambda *a, **k: KeelListener(keel_env, *a, **k)  # noqa: E731
        self.server, self.listener = (py_server, py_listener) if receiver == 'py' else (keel_server, keel_listener)
        # The sender's kind, for the row where both kinds share queues.
        self.peer_server, self.peer_listener = (py_server, py_listener) if sender == 'py' else (keel_server,
                                                                                               keel_listener)
        self.tag = '%s-%s-%s' % (sender, receiver, uid())
        self.topic = 'interop_%s' % self.tag.replace('-', '_')
        self.ns_topic = self.topic + '_ns'
        self.servers = {}
        self.procs = []

    @property
    def name(self):
        return '%s/%s' % (DIRECTIONS[self.direction], self.broker.kind)

    def start_servers(self):
        for s in ('s1', 's2'):
            self.servers[s] = self.server(self.topic, s)
            self.procs.append(self.servers[s])
        self.servers['n1'] = self.server(self.ns_topic, 'n1', namespace=NAMESPACE)
        self.procs.append(self.servers['n1'])
        self.prober.wait({self.topic: 2, self.topic + '.s1': 1, self.topic + '.s2': 1, self.ns_topic: 1,
                          self.ns_topic + '.n1': 1}, self.procs)
        # The fanout queues have random names: cast probes until both servers
        # have one, so the fanout check below starts with both bound.
        deadline = time.monotonic() + 15 * SCALE
        while True:
            probe = 'probe-' + uid()
            self.client.cast(self.topic, 'echo', {'probe': probe}, fanout=True)
            if all(self.servers[s].log.wait(has_arg('probe', probe), 1, 0.5) for s in ('s1', 's2')):
                break
            if time.monotonic() > deadline:
                raise CheckFailed('fanout probes never reached both servers')

    def stop(self):
        procs, self.procs = self.procs, []
        stop_all(procs)

    def t_stop(self):
        check(self.procs, 'no servers to stop')
        self.stop()
        return 'the servers stopped on request (keel: SIGTERM, exit 0, no sanitizer report)'

    def ctxt(self):
        return {'request_id': 'req-%s' % uuid.uuid4(), 'user': 'interop-user', 'project_id': 'interop-project',
                'roles': ['reader'], 'is_admin': False}

    # -- RPC

    def t_call(self):
        args = {'word': 'h\u00e9llo', 'n': 7, 'nested': {'list': [1, 2.5, None, True]}, 'call_id': uid()}
        ctxt = self.ctxt()
        o = self.client.call(self.topic, 'echo', args, ctxt=ctxt)
        check(o.ok and o.result == args, 'echo returned %r, wanted %r' % (o, args))
        # The reply can overtake the server's own line about the request (another process, another pipe).
        logs = [self.servers[s].log for s in ('s1', 's2')]
        seen = [e for got in wait_total(logs, has_arg('call_id', args['call_id']), 1) for e in got]
        check(len(seen) == 1, 'the servers saw the call %d times' % len(seen))
        check(seen[0].get('context', {}).get('request_id') == ctxt['request_id'],
              'the server saw context %r, sent %r' % (seen[0].get('context'), ctxt))
        if 'call' in seen[0]:
            check(seen[0]['call'] is True, 'keel serve logged call=%r' % seen[0]['call'])
        # Bodies larger than one frame (RabbitMQ's frame_max is 128 KiB)
        # both ways; the keel CLI takes it in one argv string (< 128 KiB).
        big = {'blob': ''.join(chr(0x41 + i % 26) for i in range(120000)) + '\u00e9\u4e2d', 'big_id': uid()}
        o = self.client.call(self.topic, 'echo', big)
        check(o.ok and o.result == big, 'a 120 kB echo came back as %r' % (o if not o.ok else 'another value'))
        return 'echo round trip (120 kB too), context request_id seen by the server'

    def t_call_error(self):
        msg = 'boom-%s' % uid()
        o = self.client.call(self.topic, 'fail', {'message': msg})
        if self.client.kind == 'py':
            check(not o.ok and isinstance(o.exc, ValueError) and msg in str(o.exc),
                  'fail() raised %r, wanted ValueError(%r)' % (o, msg))
            import messaging_interop
            msg2 = 'custom-%s' % uid()
            o = self.client.call(self.topic, 'fail', {'message': msg2, 'exception': 'InteropError',
                                                       'module': 'messaging_interop'}, allowed=True)
            check(not o.ok and isinstance(o.exc, messaging_interop.InteropError) and msg2 in str(o.exc),
                  'allowed InteropError came back as %r' % o)
            allowed_as = '%s.%s' % (o.module, o.cls)
            o = self.client.call(self.topic, 'fail', {'message': msg2, 'exception': 'InteropError',
                                                       'module': 'messaging_interop'})
            om = self.client.env.om
            check(not o.ok and isinstance(o.exc, om.RemoteError) and o.exc.exc_type == 'InteropError'
                  and msg2 in (o.exc.value or ''), 'not allowed InteropError came back as %r' % o)
            return 'ValueError; InteropError allowed -> %s, not allowed -> RemoteError' % allowed_as
        check(not o.ok and o.cls == 'ValueError' and o.module == 'builtins' and msg in o.message,
              'fail() gave %r, wanted builtins.ValueError(%r)' % (o, msg))
        msg2 = 'custom-%s' % uid()
        o = self.client.call(self.topic, 'fail', {'message': msg2, 'exception': 'InteropError',
                                                   'module': 'messaging_interop'})
        check(not o.ok and o.cls == 'InteropError' and o.module == 'messaging_interop' and msg2 in o.message,
              'fail(InteropError) gave %r' % o)
        return 'builtins.ValueError and messaging_interop.InteropError with their messages'

    def t_cast(self):
        cid = uid()
        self.client.cast(self.topic, 'echo', {'cast_id': cid}, ctxt=self.ctxt())
        logs = [self.servers[s].log for s in ('s1', 's2')]
        check(any(wait_total(logs, has_arg('cast_id', cid), 1)), 'no server got the cast')
        time.sleep(0.3 * SCALE)
        got = [log.matching(has_arg('cast_id', cid)) for log in logs]
        check(sum(map(len, got)) == 1, 'the cast arrived %d times' % sum(map(len, got)))
        e = (got[0] or got[1])[0]
        if 'call' in e:
            check(e['call'] is False, 'keel serve logged call=%r for a cast' % e['call'])
        return 'one server (%s) got it once' % ('s1' if got[0] else 's2')

    def t_fanout(self):
        fid = uid()
        self.client.cast(self.topic, 'echo', {'fanout_id': fid}, fanout=True)
        for s in ('s1', 's2'):
            check(self.servers[s].log.wait(has_arg('fanout_id', fid), 1, 5), '%s did not get the fanout cast' % s)
        time.sleep(0.3 * SCALE)
        counts = [len(self.servers[s].log.matching(has_arg('fanout_id', fid))) for s in ('s1', 's2')]
        check(counts == [1, 1], 'fanout copies per server: %r' % counts)
        check(not self.servers['n1'].log.matching(has_arg('fanout_id', fid)), 'another topic got the fanout')
        return 'both servers once'

    def t_targeted(self):
        tid = uid()
        for i in range(3):
            o = self.client.call(self.topic, 'echo', {'target_id': tid, 'i': i}, server='s2')
            check(o.ok and o.result == {'target_id': tid, 'i': i}, 'call to s2 returned %r' % o)
        self.client.cast(self.topic, 'echo', {'target_id': tid, 'i': 'cast'}, server='s1')
        check(self.servers['s1'].log.wait(has_arg('target_id', tid), 1, 5), 's1 did not get the cast sent to it')
        time.sleep(0.3 * SCALE)
        n1 = len(self.servers['s1'].log.matching(has_arg('target_id', tid)))
        n2 = len(self.servers['s2'].log.matching(has_arg('target_id', tid)))
        check((n1, n2) == (1, 3), 's1 got %d, s2 got %d (want 1 cast, 3 calls)' % (n1, n2))
        return '3 calls to s2 and a cast to s1 reached only them'

    def t_namespace(self):
        for v in ('1.0', '1.2', '1.3'):
            a = {'ns_id': uid(), 'v': v}
            o = self.client.call(self.ns_topic, 'echo', a, namespace=NAMESPACE, version=v)
            check(o.ok and o.result == a, 'version %s in %s: %r' % (v, NAMESPACE, o))
        bad = [('1.4', NAMESPACE, 'echo', 'UnsupportedVersion'), ('2.0', NAMESPACE, 'echo', 'UnsupportedVersion'),
               ('1.0', None, 'echo', 'UnsupportedVersion'), ('1.0', 'other_ns', 'echo', 'UnsupportedVersion'),
               ('1.1', NAMESPACE, 'no_such_method', 'NoSuchMethod')]
        for v, ns, method, want in bad:
            o = self.client.call(self.ns_topic, method, {}, namespace=ns, version=v, allowed=True)
            what = '%s(version %s, namespace %s)' % (method, v, ns)
            check(not o.ok, '%s succeeded: %r' % (what, o))
            if self.client.kind == 'py':
                from oslo_messaging.rpc import dispatcher
                check(isinstance(o.exc, getattr(dispatcher, want)), '%s raised %r, wanted %s' % (what, o, want))
                o2 = self.client.call(self.ns_topic, method, {}, namespace=ns, version=v)
                om = self.client.env.om
                check(isinstance(o2.exc, om.RemoteError) and o2.exc.exc_type == want,
                      '%s without allowed_remote_exmods raised %r' % (what, o2))
            else:
                check(o.cls == want and o.module == 'oslo_messaging.rpc.dispatcher',
                      '%s raised %r, wanted oslo_messaging.rpc.dispatcher.%s' % (what, o, want))
        n = self.servers['n1'].log.matching(lambda e: e.get('method') == 'no_such_method')
        check(not n, 'no_such_method was dispatched')
        return '1.0-1.3 answered; 1.4, 2.0, other namespaces UnsupportedVersion; NoSuchMethod'

    def t_timeout(self):
        timeout = 1.0
        o = self.client.call(self.topic, 'sleep', {'seconds': 4}, timeout=timeout)
        check(not o.ok and o.timeout, 'sleep(4) with a 1 s timeout gave %r' % o)
        if self.client.kind == 'py':
            check(isinstance(o.exc, self.client.env.om.MessagingTimeout), 'raised %r' % o)
        lo, hi = timeout * SCALE * 0.9, timeout * SCALE + 3.0 * SCALE
        check(lo <= o.elapsed <= hi, 'timed out after %.2f s, want %.1f-%.1f' % (o.elapsed, lo, hi))
        return '%s after %.2f s' % (o.cls, o.elapsed)

    def t_mixed(self):
        """A server of the other kind joins the topic and a listener of the
        other kind the pool: both must declare the queues alike (RabbitMQ
        refuses a redeclare with other flags or arguments, 406) and share
        the work, as a keel service beside a Python one of the same topic."""
        peer = self.peer_server(self.topic, 's3')
        self.procs.append(peer)
        self.prober.wait({self.topic: 3, self.topic + '.s3': 1}, self.procs)
        mid = uid()
        for i in range(6):
            o = self.client.call(self.topic, 'echo', {'mixed_id': mid, 'i': i})
            check(o.ok and o.result == {'mixed_id': mid, 'i': i}, 'call %d with a mixed topic returned %r' % (i, o))
        # As in t_call, a reply can overtake the server's line about its request.
        s1, s2, s3 = wait_total([self.servers['s1'].log, self.servers['s2'].log, peer.log], has_arg('mixed_id', mid), 6)
        ours, theirs = len(s1) + len(s2), len(s3)
        check(ours + theirs == 6 and ours and theirs, 'the 6 calls went %d to s1+s2, %d to s3' % (ours, theirs))
        topic = 'mixed_%s' % self.tag.replace('-', '_')
        pool = 'mixed_%s' % uid()
        made = []
        try:
            made.append(self.listener(topic, pool=pool))
            self.prober.wait({pool: 1}, made)
            made.append(self.peer_listener(topic, pool=pool))
            self.prober.wait({pool: 2}, made)
            run = uid()
            for i in range(4):
                self.notifier.send(topic, 'info', 'interop.mixed', {'run': run, 'i': i})
            mine = lambda e: (e.get('payload') or {}).get('run') == run  # noqa: E731
            wait_total([m.log for m in made], mine, 4, 10)
            time.sleep(0.3 * SCALE)
            a, b = [sorted(e['payload']['i'] for e in m.log.matching(mine)) for m in made]
            check(sorted(a + b) == list(range(4)) and a and b, 'the pool split the 4 as %r + %r' % (a, b))
        finally:
            stop_all(made)
        return 'a server (calls %d+%d) and a pool listener (%d+%d) of each kind share the queues' % (
            ours, theirs, len(a), len(b))

    # -- notifications

    def _listeners(self, specs, queues):
        made = []
        try:
            for topic, pool, requeue in specs:
                made.append(self.listener(topic, pool=pool, requeue=requeue))
            self.prober.wait(queues, made)
        except Exception:
            try:
                stop_all(made)
            except CheckFailed:
                pass  # the first error is the one to report
            raise
        return made

    def t_notify(self):
        topic = 'notif_%s' % self.tag.replace('-', '_')
        (lst,) = self._listeners([(topic, None, 0)], {'%s.%s' % (topic, p): 1 for p in PRIORITIES})
        try:
            nid = uid()
            payload = {'nid': nid, 'size': 42, 'name': 'caf\u00e9'}
            ctxt = self.ctxt()
            self.notifier.send(topic, 'info', 'interop.instance.create.end', payload, publisher_id='compute.host1',
                               ctxt=ctxt)
            others = [p for p in PRIORITIES if p != 'info']
            for p in others:
                self.notifier.send(topic, p, 'interop.%s' % p, {'nid': nid}, publisher_id='compute.host2')
            got = lst.log.wait(lambda e: (e.get('payload') or {}).get('nid') == nid, len(PRIORITIES), 5)
            check(len(got) == len(PRIORITIES), 'got %d of %d notifications: %r' % (len(got), len(PRIORITIES), got))
            by = {e['priority']: e for e in got}
            check(sorted(by) == sorted(PRIORITIES), 'priorities %r' % sorted(by))
            i = by['info']
            check(i['publisher_id'] == 'compute.host1' and i['event_type'] == 'interop.instance.create.end'
                  and i['payload'] == payload, 'info notification %r' % i)
            for p in others:
                check(by[p]['event_type'] == 'interop.%s' % p and by[p]['publisher_id'] == 'compute.host2',
                      '%s notification %r' % (p, by[p]))
            check((i.get('ctxt') or {}).get('request_id') == ctxt['request_id'],
                  'the listener saw context %r, sent %r' % (i.get('ctxt'), ctxt))
            md = i.get('metadata') or {}
            check(isinstance(md.get('message_id'), str) and md.get('timestamp'), 'metadata %r' % md)
        finally:
            lst.stop()
        return 'all 7 priorities, with publisher_id, event_type, payload, context, metadata'

    def t_pools(self):
        topic = 'pools_%s' % self.tag.replace('-', '_')
        pa, pb = 'poolA_%s' % uid(), 'poolB_%s' % uid()
        made = self._listeners([(topic, pa, 0), (topic, pa, 0), (topic, pb, 0)], {pa: 2, pb: 1})
        try:
            run = uid()
            n = 6
            for i in range(n):
                self.notifier.send(topic, 'info', 'interop.pool', {'run': run, 'i': i})
            mine = lambda e: (e.get('payload') or {}).get('run') == run  # noqa: E731
            made[2].log.wait(mine, n, 10)
            wait_total([made[0].log, made[1].log], mine, n, 10)
            time.sleep(0.3 * SCALE)
            a = [sorted(e['payload']['i'] for e in m.log.matching(mine)) for m in made[:2]]
            b = sorted(e['payload']['i'] for e in made[2].log.matching(mine))
            check(sorted(a[0] + a[1]) == list(range(n)), 'pool A got %r + %r, want each of %d once' % (a[0], a[1], n))
            check(a[0] and a[1], 'pool A did not share: %r + %r' % (a[0], a[1]))
            check(b == list(range(n)), 'pool B got %r, want all %d' % (b, n))
        finally:
            stop_all(made)
        return 'pool A split %d+%d, pool B got all %d' % (len(a[0]), len(a[1]), n)

    def t_requeue(self):
        topic = 'requeue_%s' % self.tag.replace('-', '_')
        pool = 'requeue_%s' % uid()
        (lst,) = self._listeners([(topic, pool, 1)], {pool: 1})
        try:
            rid = uid()
            self.notifier.send(topic, 'info', 'interop.requeue', {'rid': rid})
            mine = lambda e: (e.get('payload') or {}).get('rid') == rid  # noqa: E731
            got = lst.log.wait(mine, 1, 10)
            # stderr, where keel reports the requeue, is read apart from stdout: wait for it too.
            back = lst.requeued.wait(lambda e: e.get('event_type') == 'interop.requeue', 1)
            check(len(back) == 1, 'requeued %d times, want 1' % len(back))
            check(len(got) == 1, 'handled %d times after the requeue, want 1' % len(got))
            m1 = back[0]['metadata']['message_id']
            m2 = got[0]['metadata']['message_id']
            check(m1 == m2, 'redelivered message_id %s != requeued %s' % (m2, m1))
            time.sleep(0.3 * SCALE)
            check(len(lst.log.matching(mine)) == 1, 'handled again')
        finally:
            lst.stop()
        return 'REQUEUE, then the same message_id redelivered and handled'

    TESTS = [('call', 't_call'), ('call error', 't_call_error'), ('cast', 't_cast'), ('fanout cast', 't_fanout'),
             ('targeted server', 't_targeted'), ('namespace/version', 't_namespace'), ('call timeout', 't_timeout'),
             ('mixed with peer', 't_mixed'),
             ('notify', 't_notify'), ('notify pools', 't_pools'), ('notify requeue', 't_requeue'),
             ('clean stop', 't_stop')]


def run_column(col, results):
    """Runs every feature of one column; results[(feature, column)] = (ok, detail)."""
    t0 = time.monotonic()
    rpc_ready = None
    try:
        col.start_servers()
    except Exception as e:
        rpc_ready = 'servers did not start: %s' % e
    for feature, meth in Column.TESTS:
        rpc = not feature.startswith('notify')
        if rpc and rpc_ready:
            ok, detail = False, rpc_ready
        else:
            try:
                for p in col.procs if rpc else ():
                    why = p.alive()
                    if why:
                        raise CheckFailed(why)
                ok, detail = True, getattr(col, meth)()
            except CheckFailed as e:
                ok, detail = False, str(e)
            except Exception as e:
                ok, detail = False, '%s: %s' % (type(e).__name__, e)
        results[(feature, col.name)] = ok
        print('%s %-18s %-18s %s' % ('ok  ' if ok else 'FAIL', col.name, feature, detail), flush=True)
    try:
        col.stop()  # what a failed start left
    except CheckFailed:
        pass
    print('   %s: %.1f s' % (col.name, time.monotonic() - t0), flush=True)


def print_table(columns, results):
    """The matrix, each line marked SUMMARY: so that make check's last
    lines (scripts/summarize.py) show it."""
    def print(text):  # noqa: A001
        builtins.print('SUMMARY: ' + text)
    w0 = max(len(f) for f in FEATURES)
    widths = [max(len(c), 4) for c in columns]
    line = '+-%s-+-%s-+' % ('-' * w0, '-+-'.join('-' * w for w in widths))
    print(line)
    print('| %s | %s |' % ('feature'.ljust(w0), ' | '.join(c.ljust(w) for c, w in zip(columns, widths))))
    print(line)
    for f in FEATURES:
        cells = []
        for c, w in zip(columns, widths):
            r = results.get((f, c))
            cells.append(('pass' if r else 'FAIL' if r is not None else '-').ljust(w))
        print('| %s | %s |' % (f.ljust(w0), ' | '.join(cells)))
    print(line)


def main():
    global SCALE
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--keel', help='the keel CLI (build-dir/programs/keel)')
    ap.add_argument('--keeld', help='keeld (default: beside --keel)')
    ap.add_argument('--brokers', default='keeld,rabbitmq')
    ap.add_argument('--directions', default='py-keel,keel-py')
    ap.add_argument('--timeout-scale', type=float, default=1.0)
    a = ap.parse_args()
    SCALE = a.timeout_scale
    directions = [d for d in a.directions.split(',') if d]
    brokers = [b for b in a.brokers.split(',') if b]
    for d in directions:
        if d not in DIRECTIONS:
            ap.error('unknown direction %s' % d)
    needs_keel = any('keel' in d for d in directions)
    keel = os.path.abspath(a.keel) if a.keel else None
    if needs_keel and not keel:
        ap.error('--keel is needed for the keel directions')
    keeld = os.path.abspath(a.keeld) if a.keeld else (os.path.join(os.path.dirname(keel), 'keeld') if keel else None)
    if 'keeld' in brokers and not keeld:
        ap.error('--keeld (or --keel) is needed for the keeld broker')

    logging.basicConfig(level=logging.WARNING, format='  python: %(levelname)s %(name)s: %(message)s')
    # The servers' "Exception during message handling" tracebacks are the
    # errors this test raises on purpose.
    logging.getLogger('oslo_messaging.rpc.server').setLevel(logging.CRITICAL)
    bf.install_cleanup()
    logdir = tempfile.mkdtemp(prefix='keel-msg-interop-')
    results, columns = {}, []
    t_start = time.monotonic()
    for kind in brokers:
        t0 = time.monotonic()
        broker = bf.make(kind, keeld)
        py_env = prober = None
        cols = ['%s/%s' % (DIRECTIONS[d], kind) for d in directions]
        columns += cols
        try:
            broker.start()
            url = broker.url(scheme='rabbit')
            print('%s up in %.1f s on port %d' % (kind, time.monotonic() - t0, broker.port), flush=True)
            py_env = PyEnv(url)
            prober = Prober(broker)
            keel_env = KeelEnv(keel, url, logdir)
            for d in directions:
                run_column(Column(d, broker, py_env, keel_env, prober), results)
        except Exception as e:
            print('FAIL %s: %s: %s' % (kind, type(e).__name__, e), flush=True)
            for c in cols:
                for f in FEATURES:
                    results.setdefault((f, c), False)
        finally:
            t1 = time.monotonic()
            if prober:
                prober.close()
            if py_env:
                py_env.close()
            t2 = time.monotonic()
            left = broker.stop()
            print('   %s: python transports closed in %.1f s, broker stopped in %.1f s'
                  % (kind, t2 - t1, time.monotonic() - t2), flush=True)
            if left:
                print('FAIL %s left processes behind: %s' % (kind, left))
                results[('broker stopped', kind)] = False
    print()
    print_table(columns, results)
    passed = sum(1 for v in results.values() if v)
    failed = sum(1 for v in results.values() if not v)
    print('(%.1f s; keel logs in %s)' % (time.monotonic() - t_start, logdir if failed else 'a removed temp dir'))
    print('SUMMARY: messaging interop: %d passed, %d failed' % (passed, failed))
    if not failed:
        import shutil
        shutil.rmtree(logdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
