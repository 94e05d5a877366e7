#!/usr/bin/python3
"""Runs a command against a broker started for it: the rabbit:// tests of
the messaging module (tests/messaging/test_rabbit.c) over keeld or RabbitMQ.

usage: rabbit_broker.py keeld KEELD_PATH -- CMD [ARG...]
       rabbit_broker.py rabbitmq -- CMD [ARG...]

Starts the broker on a free loopback port with the interop harness's
fixtures (tests/interop/broker/broker_fixtures.py), runs CMD with
KEEL_TEST_RABBIT_URL=rabbit://guest:guest@127.0.0.1:PORT/ in its
environment, stops the broker (no process is left behind) and exits with
CMD's status. Exit 77 (meson's skip) when RabbitMQ is not installed."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'interop', 'broker'))
import broker_fixtures as bf  # noqa: E402


def main(argv):
    if '--' not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    sep = argv.index('--')
    spec, cmd = argv[1:sep], argv[sep + 1:]
    if spec[:1] == ['keeld'] and len(spec) == 2:
        broker = bf.Keeld(spec[1])
    elif spec == ['rabbitmq']:
        if not os.path.exists(os.path.join(bf.RABBIT_SBIN, 'rabbitmq-server')):
            print('rabbitmq-server is not installed: skipped')
            return 77
        broker = bf.RabbitMQ()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    broker.start()
    try:
        env = dict(os.environ)
        env['KEEL_TEST_RABBIT_URL'] = 'rabbit://guest:guest@%s:%d/' % (broker.host, broker.port)
        print('broker %s on port %d' % (broker.kind, broker.port), flush=True)
        return subprocess.run(cmd, env=env).returncode
    finally:
        left = broker.stop()
        if left:
            print('broker processes left behind: %s' % left, file=sys.stderr)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
