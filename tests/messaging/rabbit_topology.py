#!/usr/bin/python3
"""What the rabbit:// driver declares, read back from RabbitMQ and compared
with spec §4 (the tables observed with oslo.messaging 14.0.3).

usage: rabbit_topology.py RABBIT_TOPOLOGY_EXE

Starts RabbitMQ (tests/interop/broker/broker_fixtures.py), and for each
option set below runs tests/messaging/rabbit_topology.c in a vhost of its
own: an RPC server, a call, two notification listeners (one with a pool)
and a notification nobody listens to. Then compares `rabbitmqctl
list_queues / list_exchanges / list_bindings / list_consumers` with what
oslo declares: names (the hex32 of fanout and reply queues shown as *),
durable, auto_delete, x-arguments, exchange types and flags, bindings and
keys, and consumers (acking, basic.qos prefetch, consume arguments).
Prints one line per option set and exits non-zero on any difference.
Exit 77 (skip) when RabbitMQ is not installed."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'interop', 'broker'))
import broker_fixtures as bf  # noqa: E402

T, N, POOL = 'wsp', 'wspn', 'wsp_pool'
PRIORITIES = ['audit', 'critical', 'debug', 'error', 'info', 'sample', 'warn']

CASES = [
    # (name, query, topic/notification queue flags and args, transient queue args, topic exchange durable,
    #  consumers' prefetch_count and arguments)
    ('defaults', '', (False, False, {}), {'x-expires': '1800000'}, False),
    ('prefetch+cancel', 'rabbit_qos_prefetch_count=7&enable_cancel_on_failover=true', (False, False, {}),
     {'x-expires': '1800000'}, False, ('7', {'x-cancel-on-ha-failover': 'true'})),
    ('quorum', 'rabbit_quorum_queue=true&rabbit_quorum_delivery_limit=5',
     (True, False, {'x-queue-type': '"quorum"', 'x-delivery-limit': '5'}), {'x-expires': '1800000'}, True),
    ('durable+ha', 'amqp_durable_queues=true&rabbit_ha_queues=true',
     (True, False, {'x-ha-policy': '"all"'}), {'x-expires': '1800000', 'x-ha-policy': '"all"'}, True),
    ('auto_delete+ttl', 'amqp_auto_delete=true&rabbit_transient_queues_ttl=60',
     (False, True, {}), {'x-expires': '60000'}, False),
]


def stable(name):
    return re.sub(r'_[0-9a-f]{32}$', '_*', name)


def args_of(text):
    return dict(re.findall(r'\{"([^"]+)",("[^"]*"|[^}]*)\}', text))


def expected(case):
    _, _, (durable, auto_delete, targs), transient, ex_durable = case[:5]
    prefetch, cargs = case[5] if len(case) > 5 else ('0', {})
    queues = {}
    for q in [T, T + '.srv1', N + '.info', N + '.error', N + '.warn', POOL]:
        queues[q] = (durable, auto_delete, targs)
    for q in [T + '_fanout_*', 'reply_*']:
        queues[q] = (False, False, transient)
    exchanges = {'openstack': ('topic', ex_durable, auto_delete), T + '_fanout': ('fanout', False, True)}
    bindings = {('openstack', T, T), ('openstack', T + '.srv1', T + '.srv1'), (T + '_fanout', T + '_fanout_*', T),
                ('openstack', N + '.info', N + '.info'), ('openstack', N + '.error', N + '.error'),
                ('openstack', N + '.warn', N + '.warn')}
    bindings |= {('openstack', POOL, N + '.' + p) for p in PRIORITIES}
    # Every listening queue has one consumer, acking, with the prefetch and arguments of the options.
    consumers = {q: ('true', prefetch, cargs) for q in [T, T + '.srv1', T + '_fanout_*', 'reply_*', N + '.info', N + '.error',
                                                         POOL]}
    return queues, exchanges, bindings, consumers


def actual(broker, vhost):
    queues, exchanges, bindings, consumers = {}, {}, set(), {}
    for line in broker.ctl('list_queues', '-p', vhost, 'name', 'durable', 'auto_delete', 'arguments').splitlines():
        f = line.split('\t')
        if len(f) < 4 or f[0] == 'name':
            continue
        queues[stable(f[0])] = (f[1] == 'true', f[2] == 'true', args_of(f[3]))
    for line in broker.ctl('list_exchanges', '-p', vhost, 'name', 'type', 'durable', 'auto_delete').splitlines():
        f = line.split('\t')
        if len(f) < 4 or f[0] in ('name', '') or f[0].startswith('amq.'):
            continue
        exchanges[f[0]] = (f[1], f[2] == 'true', f[3] == 'true')
    for line in broker.ctl('list_bindings', '-p', vhost, 'source_name', 'destination_name', 'routing_key').splitlines():
        f = line.split('\t')
        if len(f) < 3 or f[0] in ('source_name', ''):
            continue
        bindings.add((f[0], stable(f[1]), f[2]))
    for line in broker.ctl('list_consumers', '-p', vhost, 'queue_name', 'ack_required', 'prefetch_count',
                           'arguments').splitlines():
        f = line.split('\t')
        if len(f) < 4 or f[0] == 'queue_name':
            continue
        consumers[stable(f[0])] = (f[1], f[2], args_of(f[3]))
    return queues, exchanges, bindings, consumers


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.path.exists(os.path.join(bf.RABBIT_SBIN, 'rabbitmq-server')):
        print('rabbitmq-server is not installed: skipped')
        return 77
    exe = argv[1]
    failed = 0
    with bf.RabbitMQ() as broker:
        for i, case in enumerate(CASES):
            vhost = 'topo%d' % i
            broker.ctl('add_vhost', vhost)
            broker.ctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*')
            url = 'rabbit://guest:guest@%s:%d/%s%s' % (broker.host, broker.port, vhost, '?' + case[1] if case[1] else '')
            p = subprocess.Popen([exe, url, T, N, POOL], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            line = p.stdout.readline().decode().strip()
            if line != 'ready':
                p.kill()
                print('%-16s FAIL: not ready: %s' % (case[0], p.stderr.read().decode()[-500:]))
                failed += 1
                continue
            got = actual(broker, vhost)
            p.stdin.close()
            rc = p.wait(30)
            want = expected(case)
            diffs = []
            for what, w, g in zip(('queue', 'exchange', 'binding', 'consumer'), want, got):
                if isinstance(w, dict):
                    for k in sorted(set(w) | set(g)):
                        if w.get(k) != g.get(k):
                            diffs.append('%s %s: want %s, got %s' % (what, k, w.get(k), g.get(k)))
                else:
                    for b in sorted(w - g):
                        diffs.append('%s missing: %s' % (what, b))
                    for b in sorted(g - w):
                        diffs.append('%s unexpected: %s' % (what, b))
            if rc != 0:
                diffs.append('rabbit_topology exited %d' % rc)
            if diffs:
                failed += 1
                print('%-16s FAIL\n  %s' % (case[0], '\n  '.join(diffs)))
            else:
                print('%-16s OK   %d queues, %d exchanges, %d bindings, %d consumers as oslo makes them'
                      % (case[0], len(got[0]), len(got[1]), len(got[2]), len(got[3])))
    print('SUMMARY: %d option sets, %d differ' % (len(CASES), failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
