#!/usr/bin/python3
"""keel's AMQP client (src/client) against a private RabbitMQ node.

usage: client_rabbitmq.py CLIENT_INTEROP

CLIENT_INTEROP is tests/interop/client_interop.c built by meson. This
script starts Debian's rabbitmq-server on free loopback ports with
broker_fixtures.RabbitMQ, then:

  1. runs the functional cases (declare, publish/consume, confirms, nacks
     from x-overflow reject-publish, basic.return, channel exceptions and
     recovery, basic.get, a 1 MiB message, prefetch, consumer cancel
     notification, exchange-to-exchange bindings, 405 on an exclusive
     queue, failover from a dead port, a refused login);
  2. turns on a TLS listener (application:set_env + stop_app/start_app, with
     a throwaway CA made by the openssl command line) and runs a verified
     TLS round trip;
  3. runs a steady confirmed publish load (persistent messages to a durable
     queue) and a consumer on a second connection, and meanwhile restarts
     the broker twice: gracefully (rabbitmqctl stop_app / start_app: the
     node closes connections with 320) and hard (SIGKILL of the node, then
     a new node on the same port and data). It then checks that every
     publish was confirmed or failed (none unanswered), that every
     confirmed message reached the consumer (none lost silently), and how
     long each client took to reconnect after the node answered again
     (target: under 1 s).

Prints one line per case and one SUMMARY line; exits non-zero on any failure.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'broker'))
import broker_fixtures as bf  # noqa: E402

RECONNECT_TARGET_MS = 1000.0


def wait_ready(broker, deadline):
    """Polls every 10 ms until the node answers; returns time.monotonic() then."""
    while time.monotonic() < deadline:
        if bf.amqp_ready(broker.host, broker.port):
            return time.monotonic()
        time.sleep(0.01)
    raise bf.BrokerError('rabbitmq did not come back in time')


def run(argv, timeout=120):
    p = subprocess.run(argv, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def make_certs(d):
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    q = dict(cwd=d, check=True, capture_output=True)
    subprocess.run(['openssl', 'req', '-x509'] + ec + ['-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
                                                       '-subj', '/CN=keel-interop-ca'], **q)
    with open(os.path.join(d, 'san.ext'), 'w') as f:
        f.write('subjectAltName=DNS:localhost,IP:127.0.0.1\n')
    subprocess.run(['openssl', 'req'] + ec + ['-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], **q)
    subprocess.run(['openssl', 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
                    '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext'], **q)
    # the node runs as us, but keep the key readable whatever the umask
    os.chmod(os.path.join(d, 'server.key'), 0o644)


def enable_tls(broker, d):
    port = bf.free_port()
    expr = ('application:set_env(rabbit, ssl_options, [{cacertfile,"%s/ca.pem"},{certfile,"%s/server.pem"},'
            '{keyfile,"%s/server.key"},{verify,verify_none},{fail_if_no_peer_cert,false}]),'
            'application:set_env(rabbit, ssl_listeners, [{"127.0.0.1",%d}]).') % (d, d, d, port)
    broker.ctl('eval', expr)
    broker.ctl('stop_app')
    broker.ctl('start_app')
    return port


def hard_restart(broker):
    """SIGKILLs the node (no goodbye to its clients) and starts a new one on
    the same ports and data directory. Returns when the old one is gone."""
    node = broker.procs[-1]
    try:
        os.killpg(node.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    left = bf.kill_session(node, grace=0)
    broker.procs.remove(node)
    broker.leftovers += left
    new = bf.spawn([os.path.join(bf.RABBIT_SBIN, 'rabbitmq-server')], env=broker.env, log=broker.logfile, cwd=broker.dir)
    broker.procs.append(new)


class Load:
    """Runs `client_interop load` and collects its lines as they come."""

    def __init__(self, exe, port):
        self.p = subprocess.Popen([exe, 'load', '--port', str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines = []
        self.ready = threading.Event()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            self.lines.append((time.monotonic(), line))
            if line.startswith('READY'):
                self.ready.set()

    def events(self, what):
        out = []
        for _, line in self.lines:
            m = re.match(r'EVENT t=([\d.]+) who=(\w+) what=(\w+)', line)
            if m and m.group(3) == what:
                out.append((float(m.group(1)) / 1000.0, m.group(2)))
        return out

    def stop(self, timeout=90):
        self.p.send_signal(signal.SIGUSR1)
        self.p.wait(timeout)
        self.t.join(5)
        return self.p.returncode


def reconnect_delays(load, restarts, who):
    """For each (went_down, answered_again) restart: ms from the node
    answering again to the client's first reconnect after it went down
    (0 when the client got there before this script's 10 ms poll did)."""
    out = []
    for down, up in restarts:
        after = [e for e, w in load.events('reconnected') if w == who and e >= down]
        out.append(max(0.0, (min(after) - up) * 1000.0) if after else None)
    return out


def sanitizer_report(err):
    """The part of a dying child's stderr worth reading: a sanitizer's
    report from its first line (its tail is only the shadow legend), or
    else the last lines."""
    at = err.find('ERROR: AddressSanitizer')
    if at < 0:
        at = err.find('runtime error:')
    return err[max(0, at - 200):at + 4000] if at >= 0 else err[-500:]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    exe = os.path.abspath(sys.argv[1])
    bf.install_cleanup()
    results = []  # (name, ok, detail)
    load_summary = ''
    delays = []
    broker = bf.RabbitMQ()
    certs = tempfile.mkdtemp(prefix='keel-client-interop-')
    try:
        t0 = time.monotonic()
        broker.start()
        print('rabbitmq up in %.1fs on port %d' % (time.monotonic() - t0, broker.port), flush=True)

        # 1. functional cases
        rc, out, err = run([exe, 'cases', '--port', str(broker.port), '--dead-port', str(bf.free_port())])
        for line in out.splitlines():
            print('  ' + line)
            if line.startswith('ok '):
                results.append((line[3:], True, ''))
            elif line.startswith('FAIL '):
                results.append((line[5:].split(':')[0], False, line))
        if rc != 0 and not any(not ok for _, ok, _ in results):
            results.append(('cases', False, 'exit %d: %s' % (rc, sanitizer_report(err))))

        # 2. TLS
        make_certs(certs)
        tls_port = enable_tls(broker, certs)
        bf.wait_amqp(broker.host, broker.port, time.monotonic() + 30)
        rc, out, err = run([exe, 'tls', '--port', str(tls_port), '--ca', os.path.join(certs, 'ca.pem')])
        for line in out.splitlines():
            print('  ' + line)
        results.append(('tls', rc == 0, out.strip().splitlines()[0] if out.strip() else err[-300:]))

        # 3. load through a graceful and a hard restart
        load = Load(exe, broker.port)
        if not load.ready.wait(30):
            raise bf.BrokerError('load generator did not start: %s' % load.lines)
        restarts = []
        time.sleep(3)
        print('  stop_app under load', flush=True)
        down = time.monotonic()
        broker.ctl('stop_app')
        time.sleep(1.5)
        broker.ctl('start_app')
        restarts.append((down, wait_ready(broker, time.monotonic() + 60)))
        time.sleep(3)
        print('  SIGKILL of the node under load', flush=True)
        down = time.monotonic()
        hard_restart(broker)
        restarts.append((down, wait_ready(broker, time.monotonic() + 90)))
        time.sleep(3)
        rc = load.stop()
        for _, line in load.lines:
            if line.startswith(('EVENT', 'SUMMARY', 'READY', 'STOPPING')) and 'connect_failed' not in line:
                print('  ' + line)
            if line.startswith('SUMMARY:'):
                load_summary = line[len('SUMMARY: '):]
        fields = dict(kv.split('=') for kv in load_summary.split()) if load_summary else {}
        published = int(fields.get('published', 0))
        answered_ok = published > 0 and fields.get('unanswered') == '0'
        results.append(('load_every_publish_answered', answered_ok, load_summary))
        results.append(('load_no_confirmed_message_lost', fields.get('missing_acked') == '0' and rc == 0, load_summary))
        for who in ('pub', 'con'):
            for i, d in enumerate(reconnect_delays(load, restarts, who)):
                name = 'reconnect_%s_after_%s' % (who, ('stop_app', 'kill')[i])
                delays.append(d)
                ok = d is not None and d < RECONNECT_TARGET_MS
                results.append((name, ok, 'no reconnect seen' if d is None else '%.0f ms after the node answered' % d))
    except Exception as e:  # report, then stop the node
        results.append(('harness', False, '%s: %s' % (type(e).__name__, e)))
    finally:
        left = broker.stop()
        subprocess.run(['rm', '-rf', certs])
        if left:
            results.append(('cleanup', False, 'processes left behind: %s' % left))

    for name, ok, detail in results:
        if name.startswith(('load', 'reconnect', 'tls', 'harness', 'cleanup', 'cases')):
            print('%s %s%s' % ('ok' if ok else 'FAIL', name, (': ' + detail) if detail else ''))
    failed = [n for n, ok, _ in results if not ok]
    known = [d for d in delays if d is not None]
    print('SUMMARY: cases=%d passed=%d failed=%d %s max_reconnect_ms=%s' % (
        len(results), len(results) - len(failed), len(failed), load_summary or 'load=not-run',
        ('%.0f' % max(known)) if known else 'n/a'))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
