#!/usr/bin/python3
"""Runs a command against a broker started for it: the rabbit:// tests of
the messaging module (tests/messaging/test_rabbit.c) over keeld or RabbitMQ.

usage: rabbit_broker.py keeld KEELD_PATH -- CMD [ARG...]
       rabbit_broker.py rabbitmq -- CMD [ARG...]
       rabbit_broker.py rabbitmq-tls -- CMD [ARG...]

Starts the broker on a free loopback port with the interop harness's
fixtures (tests/interop/broker/broker_fixtures.py), runs CMD with
KEEL_TEST_RABBIT_URL=rabbit://guest:guest@127.0.0.1:PORT/ in its
environment, stops the broker (no process is left behind) and exits with
CMD's status. Exit 77 (meson's skip) when RabbitMQ is not installed.

rabbitmq-tls adds a TLS listener with a throwaway CA (client_rabbitmq.py's
make_certs and enable_tls) and gives the URL of that port with ssl=1 and
ssl_ca_file, so the same tests run over verified TLS."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'interop', 'broker'))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'interop'))
import broker_fixtures as bf  # noqa: E402


def main(argv):
    if '--' not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    sep = argv.index('--')
    spec, cmd = argv[1:sep], argv[sep + 1:]
    if spec[:1] == ['keeld'] and len(spec) == 2:
        broker = bf.Keeld(spec[1])
    elif spec in (['rabbitmq'], ['rabbitmq-tls']):
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
        url = 'rabbit://guest:guest@%s:%d/' % (broker.host, broker.port)
        if spec == ['rabbitmq-tls']:
            import client_rabbitmq as cr
            certs = os.path.join(broker.dir, 'certs')
            os.mkdir(certs)
            cr.make_certs(certs)
            port = cr.enable_tls(broker, certs)
            url = 'rabbit://guest:guest@%s:%d/?ssl=1&ssl_ca_file=%s' % (broker.host, port, os.path.join(certs, 'ca.pem'))
        env['KEEL_TEST_RABBIT_URL'] = url
        print('broker %s: %s' % (broker.kind, url), flush=True)
        return subprocess.run(cmd, env=env).returncode
    finally:
        left = broker.stop()
        if left:
            print('broker processes left behind: %s' % left, file=sys.stderr)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
