#!/usr/bin/python3
"""keeld against RabbitMQ 3.10 in one run, on this machine, with the same
load generator (bench/broker/amqp_load.c) and the same scenarios:

  1p1c-16B     one producer, one consumer, 16-byte transient messages
  1p1c-1KiB    the same with 1 KiB messages
  fanout-4     one producer, a fanout exchange to 4 queues, 4 consumers
  confirms     one producer with publisher confirms, one consumer
  latency      1,000 msg/s fixed rate: p50 and p99 end-to-end latency
  idle-rss     resident memory of the broker's processes, idle, after start
  startup      time from exec to accepting AMQP connections

usage: compare.py --keeld build/programs/keeld --load build/bench/amqp_load
                  [--scale F] [--markdown]

Prints one line per measure (bench=broker scenario=... broker=... value=...)
and, with --markdown, the table docs/benchmarks.md carries."""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tests', 'interop', 'broker'))
import broker_fixtures as fx  # noqa: E402


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/status' % pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def broker_pids(broker):
    """Every process of the broker's sessions (RabbitMQ: beam.smp, epmd,
    erl_child_setup, inet_gethost; keeld: itself)."""
    pids = set()
    for proc in broker.procs:
        try:
            pids.update(fx.session_members(os.getsid(proc.pid)) or [proc.pid])
        except OSError:
            pass
    return sorted(pids)


def run_load(load, port, args):
    cmd = [load, '--port', str(port)] + args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError('%s failed: %s' % (' '.join(cmd), out.stderr.strip()))
    line = out.stdout.strip().splitlines()[-1]
    return dict(kv.split('=', 1) for kv in line.split())


def scenarios(scale):
    n = lambda x: str(max(1000, int(x * scale)))  # noqa: E731
    return [
        ('1p1c-16B', ['--size', '16', '--count', n(200000)], 'consume_rate', 'msg/s'),
        ('1p1c-1KiB', ['--size', '1024', '--count', n(100000)], 'consume_rate', 'msg/s'),
        ('fanout-4', ['--size', '16', '--count', n(50000), '--fanout', '4'], 'consume_rate', 'deliveries/s'),
        ('confirms', ['--size', '16', '--count', n(100000), '--confirm'], 'consume_rate', 'msg/s'),
    ]


def keeld_startup_ms(path, tries=5):
    """Median time from exec to the first accepted TCP connection, polling
    every 0.2 ms (the fixture's own wait polls far more coarsely)."""
    import socket
    times = []
    for _ in range(tries):
        port = fx.free_port()
        t0 = time.monotonic()
        p = subprocess.Popen([path, '--port', str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                s = socket.socket()
                try:
                    s.connect(('127.0.0.1', port))
                    times.append((time.monotonic() - t0) * 1000.0)
                    break
                except OSError:
                    time.sleep(0.0002)
                finally:
                    s.close()
        finally:
            p.terminate()
            p.wait()
    return sorted(times)[len(times) // 2]


def measure(kind, args):
    results = {}
    t0 = time.monotonic()
    if kind == 'keeld':
        broker = fx.Keeld(args.keeld)
    else:
        broker = fx.RabbitMQ()
    broker.start()
    results['startup'] = (time.monotonic() - t0) * 1000.0
    if kind == 'keeld':
        results['startup'] = keeld_startup_ms(args.keeld)
    try:
        time.sleep(2.0)
        results['idle-rss'] = rss_kib(broker_pids(broker)) / 1024.0
        for name, load_args, key, _unit in scenarios(args.scale):
            r = run_load(args.load, broker.port, load_args)
            if int(r.get('lost', 0)) or int(r.get('duplicates', 0)):
                raise RuntimeError('%s on %s: lost %s, duplicates %s' % (name, kind, r['lost'], r['duplicates']))
            results[name] = float(r[key])
        r = run_load(args.load, broker.port, ['--size', '16', '--rate', '1000', '--count', str(int(10000 * min(1, args.scale)))])
        results['latency-p50'] = float(r['latency_p50_us'])
        results['latency-p99'] = float(r['latency_p99_us'])
    finally:
        broker.stop()
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--keeld', required=True)
    ap.add_argument('--load', required=True)
    ap.add_argument('--scale', type=float, default=1.0, help='multiply message counts (e.g. 0.1 for a quick run)')
    ap.add_argument('--markdown', action='store_true')
    args = ap.parse_args()
    res = {kind: measure(kind, args) for kind in ('keeld', 'rabbitmq')}
    rows = [(name, unit, True) for name, _a, _k, unit in scenarios(args.scale)]
    rows += [('latency-p50', 'µs', False), ('latency-p99', 'µs', False), ('idle-rss', 'MiB', False), ('startup', 'ms', False)]
    for name, unit, higher_better in rows:
        k, r = res['keeld'][name], res['rabbitmq'][name]
        ratio = (k / r) if higher_better else (r / k if k else float('inf'))
        print('bench=broker scenario=%s unit=%s keeld=%.1f rabbitmq=%.1f advantage=%.1fx' % (name, unit, k, r, ratio))
    if args.markdown:
        print('\n| measure | keeld | RabbitMQ 3.10 | keeld advantage |\n|---|---|---|---|')
        for name, unit, higher_better in rows:
            k, r = res['keeld'][name], res['rabbitmq'][name]
            ratio = (k / r) if higher_better else (r / k if k else float('inf'))
            print('| %s (%s) | %s | %s | %.1f× |' % (name, unit, '{:,.1f}'.format(k), '{:,.1f}'.format(r), ratio))


if __name__ == '__main__':
    main()
