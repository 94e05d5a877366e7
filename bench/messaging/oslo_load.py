#!/usr/bin/python3
"""oslo.messaging's side of the messaging benchmark: the same endpoint and
client as bench/messaging/rpc_load.c, in Python, so that compare.py can run
both against the same broker in one run.

  oslo_load.py server URL TOPIC
  oslo_load.py client URL TOPIC [--calls N] [--casts N] [--size B]

The server's endpoint has echo(**kwargs), noop() (counts casts) and
wait_count(n) (answers once n casts have arrived). The client makes 200
warm-up calls, then N sequential calls (rate, p50/p99 latency), then N
casts followed by wait_count(N), and prints one JSON line per measure, as
rpc_load does. The server runs until SIGTERM or SIGINT.

oslo.messaging casts are synchronous (each publish waits for its confirm
when the driver confirms), so there is no window to set here.
"""
import argparse
import json
import signal
import sys
import threading
import time

import oslo_messaging
from oslo_config import cfg


class Endpoint(object):
    def __init__(self):
        self.casts = 0
        self.cond = threading.Condition()

    def echo(self, ctxt, **kwargs):
        return kwargs

    def noop(self, ctxt, **kwargs):
        with self.cond:
            self.casts += 1
            self.cond.notify_all()

    def wait_count(self, ctxt, n):
        with self.cond:
            self.cond.wait_for(lambda: self.casts >= n, timeout=300)
            got = self.casts
            self.casts = 0
        return got


def transport(url):
    # cfg.CONF, as a service has it: the RPC client registers its metrics
    # options on the global object
    cfg.CONF([], project='bench')
    return oslo_messaging.get_rpc_transport(cfg.CONF, url=url)


def serve(args):
    t = transport(args.url)
    target = oslo_messaging.Target(topic=args.topic, server='bench')
    # threading: wait_count blocks one worker while others take the casts
    server = oslo_messaging.get_rpc_server(t, target, [Endpoint()], executor='threading')
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    server.start()
    print('oslo_load: serving %s' % args.topic, file=sys.stderr, flush=True)
    stop.wait()
    server.stop()
    server.wait()
    t.cleanup()


def result(mode, n, size, seconds, lat=None, failures=0):
    r = {'impl': 'oslo.messaging', 'mode': mode, 'n': n, 'size': size, 'seconds': round(seconds, 4),
         'rate': round(n / seconds, 1)}
    if lat:
        lat.sort()
        r.update(p50_us=round(lat[len(lat) // 2] * 1e6, 1), p99_us=round(lat[int(len(lat) * 0.99)] * 1e6, 1),
                 max_us=round(lat[-1] * 1e6, 1))
    r['failures'] = failures
    print(json.dumps(r), flush=True)


def client(args):
    t = transport(args.url)
    c = oslo_messaging.get_rpc_client(t, oslo_messaging.Target(topic=args.topic), timeout=30)
    payload = {'payload': 'x' * args.size}
    deadline = time.monotonic() + 60
    done = 0
    while done < 200:
        try:
            c.prepare(timeout=1).call({}, 'echo', **payload)
            done += 1
        except oslo_messaging.MessagingTimeout:
            if time.monotonic() > deadline:
                sys.exit('oslo_load: the server did not answer within 60 s')
    failures = 0
    if args.calls:
        lat = []
        t0 = time.perf_counter()
        for _ in range(args.calls):
            s = time.perf_counter()
            if c.call({}, 'echo', **payload) != payload:
                failures += 1
            lat.append(time.perf_counter() - s)
        result('call', args.calls, args.size, time.perf_counter() - t0, lat, failures)
    if args.casts:
        t0 = time.perf_counter()
        for _ in range(args.casts):
            c.cast({}, 'noop', **payload)
        got = c.prepare(timeout=300).call({}, 'wait_count', n=args.casts)
        if got < args.casts:
            failures += 1
        result('cast', args.casts, args.size, time.perf_counter() - t0, None, failures)
    t.cleanup()
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('role', choices=['server', 'client'])
    p.add_argument('url')
    p.add_argument('topic')
    p.add_argument('--calls', type=int, default=2000)
    p.add_argument('--casts', type=int, default=5000)
    p.add_argument('--size', type=int, default=16)
    args = p.parse_args()
    if args.role == 'server':
        serve(args)
        return 0
    return client(args)


if __name__ == '__main__':
    sys.exit(main())
