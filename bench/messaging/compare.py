#!/usr/bin/python3
"""The messaging benchmark of issue 4, in one run on one machine:
sequential call rate with p50/p99 latency, and cast throughput, for

  keel  <-> keel over keeld        (bench/messaging/rpc_load.c, both sides)
  keel  <-> keel over RabbitMQ
  oslo.messaging <-> oslo.messaging over RabbitMQ (bench/messaging/oslo_load.py)

Both brokers are started here (tests/interop/broker/broker_fixtures.py) on
free loopback ports and stopped afterwards. The server and the client of
each pair are separate processes. Prints one line per measure, the ratios
against oslo.messaging over RabbitMQ, and with --markdown the table for
docs/benchmarks.md.

With --floor BUILD/bench/tcp_pingpong it also measures the machine's floor:
a bare loopback TCP round trip between two processes. A call through a
broker makes two of them, so twice that p50 is the least any broker and
client could take here.

usage: compare.py --rpc-load BUILD/bench/rpc_load --keeld BUILD/programs/keeld
                  [--floor BUILD/bench/tcp_pingpong]
                  [--calls N] [--casts N] [--oslo-calls N] [--oslo-casts N]
                  [--size B] [--markdown]
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tests', 'interop', 'broker'))
import broker_fixtures as fx  # noqa: E402

PY = '/usr/bin/python3'


def run_pair(server_argv, client_argv, timeout):
    """Starts the server, runs the client to its end, stops the server;
    returns the client's JSON lines by mode."""
    server = fx.spawn(server_argv)
    try:
        p = subprocess.run(client_argv, capture_output=True, text=True, timeout=timeout)
    finally:
        fx.kill_session(server)
    if p.returncode != 0:
        raise RuntimeError('%s failed (%d): %s' % (' '.join(client_argv[:3]), p.returncode, p.stderr[-2000:]))
    out = {}
    for line in p.stdout.splitlines():
        r = json.loads(line)
        out[r['mode']] = r
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rpc-load', required=True)
    ap.add_argument('--keeld', required=True)
    ap.add_argument('--floor', help='tcp_pingpong, to print the machine\'s round-trip floor')
    ap.add_argument('--calls', type=int, default=20000)
    ap.add_argument('--casts', type=int, default=200000)
    ap.add_argument('--oslo-calls', type=int, default=2000)
    ap.add_argument('--oslo-casts', type=int, default=5000)
    ap.add_argument('--size', type=int, default=16)
    ap.add_argument('--markdown', action='store_true')
    a = ap.parse_args()
    fx.install_cleanup()
    rpc_load = os.path.abspath(a.rpc_load)
    results = {}
    # The floor first, before any broker runs: it moves with the VM's
    # scheduling (20-75 us per round trip across runs here), so the table
    # shows the floor of this very run.
    floor = None
    if a.floor:
        floor = json.loads(subprocess.run([a.floor], capture_output=True, text=True, check=True, timeout=300).stdout)
        print('floor: loopback TCP round trip between two processes p50 %.1f us p99 %.1f us '
              '(a call through a broker makes two: %.1f us)' % (floor['p50_us'], floor['p99_us'], 2 * floor['p50_us']))
    keeld = fx.Keeld(os.path.abspath(a.keeld))
    rabbit = fx.RabbitMQ()
    try:
        keeld.start()
        rabbit.start()
        kurl = keeld.url(scheme='rabbit')
        rurl = rabbit.url(scheme='rabbit')
        kopts = ['--calls', str(a.calls), '--casts', str(a.casts), '--size', str(a.size)]
        oopts = ['--calls', str(a.oslo_calls), '--casts', str(a.oslo_casts), '--size', str(a.size)]
        plan = [
            ('keel over keeld', [rpc_load, 'server', kurl, 'bench.k'], [rpc_load, 'client', kurl, 'bench.k'] + kopts),
            ('keel over RabbitMQ', [rpc_load, 'server', rurl, 'bench.k'], [rpc_load, 'client', rurl, 'bench.k'] + kopts),
            ('oslo.messaging over RabbitMQ', [PY, os.path.join(HERE, 'oslo_load.py'), 'server', rurl, 'bench.o'],
             [PY, os.path.join(HERE, 'oslo_load.py'), 'client', rurl, 'bench.o'] + oopts),
        ]
        for name, srv, cli in plan:
            t0 = time.monotonic()
            results[name] = run_pair(srv, cli, timeout=900)
            for mode in ('call', 'cast'):
                r = results[name].get(mode)
                if r:
                    extra = ' p50 %8.1f us  p99 %8.1f us' % (r['p50_us'], r['p99_us']) if mode == 'call' else ''
                    print('messaging %-30s %-4s n=%-7d %10.1f /s%s  failures=%d' %
                          (name, mode, r['n'], r['rate'], extra, r['failures']), flush=True)
            print('  (%.1f s)' % (time.monotonic() - t0), flush=True)
    finally:
        keeld.stop()
        rabbit.stop()

    ref = results['oslo.messaging over RabbitMQ']
    failures = sum(r['failures'] for res in results.values() for r in res.values())
    for name in ('keel over keeld', 'keel over RabbitMQ'):
        r = results[name]
        print('ratio %-20s calls/s %6.1fx  p50 %6.1fx lower  p99 %6.1fx lower  casts/s %6.1fx' % (
            name, r['call']['rate'] / ref['call']['rate'], ref['call']['p50_us'] / r['call']['p50_us'],
            ref['call']['p99_us'] / r['call']['p99_us'], r['cast']['rate'] / ref['cast']['rate']))
    if a.markdown:
        print()
        print('| pair | sequential calls/s | call p50 (µs) | call p99 (µs) | casts/s |')
        print('|---|---|---|---|---|')
        for name in ('keel over keeld', 'keel over RabbitMQ', 'oslo.messaging over RabbitMQ'):
            r = results[name]
            print('| %s | %.0f | %.1f | %.1f | %.0f |' % (name, r['call']['rate'], r['call']['p50_us'], r['call']['p99_us'],
                                                       r['cast']['rate']))
        for name in ('keel over keeld', 'keel over RabbitMQ'):
            r = results[name]
            print('| %s vs oslo.messaging over RabbitMQ | %.1f× | %.1f× lower | %.1f× lower | %.1f× |' % (
                name, r['call']['rate'] / ref['call']['rate'], ref['call']['p50_us'] / r['call']['p50_us'],
                ref['call']['p99_us'] / r['call']['p99_us'], r['cast']['rate'] / ref['cast']['rate']))
        if floor:
            print('| floor: two bare loopback TCP round trips | | %.1f | %.1f | |' % (2 * floor['p50_us'],
                                                                               2 * floor['p99_us']))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
