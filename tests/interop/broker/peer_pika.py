#!/usr/bin/python3
"""pika 1.2 (python3-pika) against a broker: BlockingConnection for the
protocol surface RabbitMQ clients rely on (routing of every exchange type,
acknowledgements, confirms, transactions, QoS, queue arguments, dead
lettering, direct reply-to, channel errors) and SelectConnection for the
asynchronous round trip and close paths.

Each case opens its own connection and uses names unique to the case, so
cases do not depend on one another. Expected values follow RabbitMQ 3.10's
documented behaviour; where RabbitMQ extends AMQP 0-9-1 (x-arguments,
direct reply-to, basic.nack, exchange-to-exchange bindings) it is what
clients expect of a broker, so keeld is held to it too.

usage: peer_pika.py --host H --port P [--only GLOB] [--list]"""
import datetime
import decimal
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402
from caselib import Suite, Skip, CaseFailure, expect, expect_eq, wait_until  # noqa: E402

suite = Suite('pika')


def params(ctx, **kw):
    kw.setdefault('heartbeat', 0)
    p = pika.ConnectionParameters(
        host=ctx.host, port=ctx.port, virtual_host=kw.pop('vhost', ctx.vhost),
        credentials=pika.PlainCredentials(kw.pop('user', ctx.user), kw.pop('password', ctx.password)),
        connection_attempts=1, socket_timeout=5, stack_timeout=10, blocked_connection_timeout=10, **kw)
    return p


class Conn:
    """A BlockingConnection closed at the end of the with-block."""

    def __init__(self, ctx, **kw):
        self.conn = pika.BlockingConnection(params(ctx, **kw))

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc):
        try:
            if self.conn.is_open:
                self.conn.close()
        except Exception:
            pass


def get_all(ch, q, limit=1000, auto_ack=True):
    """Every message basic.get returns from q, as (method, props, body)."""
    out = []
    while len(out) < limit:
        m, p, b = ch.basic_get(q, auto_ack=auto_ack)
        if m is None:
            break
        out.append((m, p, b))
    return out


def bodies(ch, q, auto_ack=True):
    return [b for _, _, b in get_all(ch, q, auto_ack=auto_ack)]


def counts_of(ch, q, want, what, timeout=3):
    """Waits until passive declare reports (messages, consumers) == want:
    acks and cancels reach the queue asynchronously."""
    last = []

    def check():
        ok = ch.queue_declare(q, passive=True)
        last[:] = [(ok.method.message_count, ok.method.consumer_count)]
        return last[0] == want
    try:
        wait_until(check, timeout, what, interval=0.05)
    except CaseFailure:
        raise CaseFailure('%s: expected (messages, consumers) %r, got %r' % (what, want, last[0] if last else None))


def temp_queue(ch, **kw):
    return ch.queue_declare('', exclusive=True, **kw).method.queue


def expect_channel_error(conn, code, fn, what, probe_queue=None):
    """Runs fn(channel); it must close that channel with reply code `code`,
    leaving the connection open and able to open a working channel (checked
    by a publish/get through probe_queue, or a new server-named queue)."""
    ch = conn.channel()
    try:
        fn(ch)
        # An asynchronous error (basic.publish) shows on the next sync call.
        if probe_queue:
            ch.queue_declare(probe_queue, passive=True)
        else:
            ch.queue_declare('', exclusive=True)
    except pex.ChannelClosedByBroker as e:
        if e.reply_code != code:
            raise CaseFailure('%s: expected channel.close %d, got %d %s' % (what, code, e.reply_code, e.reply_text))
    else:
        raise CaseFailure('%s: expected channel.close %d, the channel stayed open' % (what, code))
    expect(not ch.is_open, '%s: channel still marked open after channel.close' % what)
    expect(conn.is_open, '%s: the connection closed too (only the channel should)' % what)
    ch2 = conn.channel()
    q = probe_queue or temp_queue(ch2)
    ch2.basic_publish('', q, b'still-works')
    m, _, b = ch2.basic_get(q, auto_ack=True)
    expect_eq(b, b'still-works', '%s: publish/get on a new channel after the error' % what)
    ch2.close()


def expect_connection_error(ctx, codes, what, **kw):
    try:
        c = pika.BlockingConnection(params(ctx, **kw))
    except (pex.ProbableAuthenticationError, pex.ProbableAccessDeniedError, pex.AuthenticationError) as e:
        return e
    except pex.ConnectionClosedByBroker as e:
        if e.reply_code not in codes:
            raise CaseFailure('%s: expected connection.close %s, got %d %s' % (what, codes, e.reply_code, e.reply_text))
        return e
    except pex.AMQPConnectionError as e:
        # pika wraps the broker's close during the handshake
        args = e.args[0] if e.args else None
        code = getattr(args, 'reply_code', None)
        if code is not None and code not in codes:
            raise CaseFailure('%s: expected %s, got %r' % (what, codes, e))
        return e
    c.close()
    raise CaseFailure('%s: connection was accepted' % what)


# ---------------------------------------------------------------------------
# connection level

@suite.case()
def connection_open_close(ctx):
    with Conn(ctx) as c:
        expect(c.is_open, 'connection is open')
        props = c._impl.server_properties
        caps = props.get('capabilities', {})
        for cap in ('publisher_confirms', 'basic.nack', 'consumer_cancel_notify',
                    'exchange_exchange_bindings', 'authentication_failure_close'):
            expect(caps.get(cap) is True, 'server capability %s advertised (got %r)' % (cap, caps))
        ch = c.channel()
        ch.close()
    expect(not c.is_open, 'connection closed after close()')


@suite.case()
def connection_bad_password(ctx):
    e = expect_connection_error(ctx, (403,), 'wrong password', password='not-the-password')
    expect(isinstance(e, (pex.ProbableAuthenticationError, pex.AuthenticationError, pex.ConnectionClosedByBroker)),
           'authentication error raised, got %r' % e)
    s = str(e)
    expect('403' in s or 'ACCESS_REFUSED' in s, 'reply 403 ACCESS_REFUSED in %r' % s)


@suite.case()
def connection_unknown_vhost(ctx):
    e = expect_connection_error(ctx, (530,), 'unknown vhost', vhost='no-such-vhost-keeltest')
    s = repr(e)
    expect('530' in s or 'NOT_ALLOWED' in s or 'ProbableAccessDenied' in s, 'NOT_ALLOWED (530) in %s' % s)


@suite.case(timeout=20)
def heartbeat_negotiated(ctx):
    seen = {}

    def choose(conn, server_value):
        seen['server'] = server_value
        return 1

    with Conn(ctx, heartbeat=choose) as c:
        expect(seen.get('server', 0) > 0, 'broker proposes a heartbeat in connection.tune (got %r)' % seen)
        expect_eq(c._impl.params.heartbeat, 1, 'negotiated heartbeat')
        # stay idle for several heartbeat periods: the broker must not drop us
        # and must itself send heartbeats (pika would close after 2 missed).
        checker = c._impl._heartbeat_checker
        expect(checker is not None, 'pika runs a heartbeat checker')
        t_end = time.monotonic() + 4.5
        while time.monotonic() < t_end:
            c.process_data_events(time_limit=0.5)
        expect(c.is_open, 'connection open after 4.5s idle with heartbeat=1')
        expect(checker._heartbeat_frames_received >= 2,
               'broker sent heartbeats while idle (received %d)' % checker._heartbeat_frames_received)
        ch = c.channel()
        temp_queue(ch)


@suite.case()
def channel_numbers_and_multiple_channels(ctx):
    with Conn(ctx) as c:
        chans = [c.channel() for _ in range(5)]
        expect_eq(len({ch.channel_number for ch in chans}), 5, 'distinct channel numbers')
        q = temp_queue(chans[0])
        for i, ch in enumerate(chans):
            ch.basic_publish('', q, ('m%d' % i).encode())
        # each channel keeps its own order; across channels there is none
        counts_of(chans[4], q, (5, 0), 'five messages queued')
        got = sorted(bodies(chans[4], q))
        expect_eq(got, [b'm0', b'm1', b'm2', b'm3', b'm4'], 'messages from five channels')
        chans[2].close()
        expect(chans[3].is_open, 'closing one channel leaves the others open')


# ---------------------------------------------------------------------------
# declare / bind / publish / get / consume

@suite.case()
def default_exchange_publish_get(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ok = ch.queue_declare(q)
        ch.confirm_delivery()  # so message_count below sees both publishes
        expect_eq(ok.method.queue, q, 'declare-ok queue name')
        expect_eq((ok.method.message_count, ok.method.consumer_count), (0, 0), 'counts of a new queue')
        ch.basic_publish('', q, b'hello')
        ch.basic_publish('', q, b'')
        ok = ch.queue_declare(q, passive=True)
        expect_eq(ok.method.message_count, 2, 'message_count after two publishes')
        m, p, b = ch.basic_get(q, auto_ack=False)
        expect_eq(b, b'hello', 'first body')
        expect_eq(m.message_count, 1, 'get-ok message_count (messages left)')
        expect_eq((m.exchange, m.routing_key, m.redelivered), ('', q, False), 'get-ok exchange/key/redelivered')
        ch.basic_ack(m.delivery_tag)
        m, p, b = ch.basic_get(q, auto_ack=True)
        expect_eq(b, b'', 'empty body')
        m, p, b = ch.basic_get(q)
        expect(m is None, 'basic.get-empty on an empty queue')
        ch.queue_delete(q)


@suite.case()
def default_exchange_cannot_bind(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        expect_channel_error(c, 403, lambda ch: ch.queue_bind(q, '', routing_key='x'), 'bind to the default exchange')


@suite.case()
def predeclared_exchanges(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        for name, typ in (('amq.direct', 'direct'), ('amq.fanout', 'fanout'), ('amq.topic', 'topic'),
                          ('amq.headers', 'headers'), ('amq.match', 'headers')):
            ch.exchange_declare(name, typ, passive=True, durable=True)
        q = temp_queue(ch)
        ch.queue_bind(q, 'amq.direct', routing_key='k')
        ch.basic_publish('amq.direct', 'k', b'x')
        expect_eq(bodies(ch, q), [b'x'], 'routed through amq.direct')


@suite.case()
def properties_round_trip(ctx):
    headers = {
        'str': 'text', 'int': 42, 'neg': -7, 'big': 2 ** 40, 'bool': True, 'false': False,
        'decimal': decimal.Decimal('2.50'), 'bytes': b'\x00\x01raw', 'list': [1, 'two', [3]], 'table': {'nested': {'x': 1}},
        'none': None, 'ts': datetime.datetime(2023, 5, 6, 7, 8, 9),
    }
    props = pika.BasicProperties(
        content_type='application/json', content_encoding='utf-8', headers=headers, delivery_mode=2,
        priority=3, correlation_id='corr-1', reply_to='reply-q', expiration='60000', message_id='mid-1',
        timestamp=1700000000, type='kind', user_id=ctx.user, app_id='keeltest')
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        ch.basic_publish('', q, b'{"a": 1}', props)
        m, p, b = ch.basic_get(q, auto_ack=True)
        expect_eq(b, b'{"a": 1}', 'body')
        for f in ('content_type', 'content_encoding', 'delivery_mode', 'priority', 'correlation_id', 'reply_to',
                  'expiration', 'message_id', 'timestamp', 'type', 'user_id', 'app_id'):
            expect_eq(getattr(p, f), getattr(props, f), 'property %s' % f)
        got = dict(p.headers)
        want = dict(headers)
        want['bytes'] = b'\x00\x01raw'
        for k, v in want.items():
            expect_eq(got.get(k, '<missing>'), v, 'header %s' % k)


@suite.case()
def user_id_mismatch_refused(ctx):
    with Conn(ctx) as c:
        q = temp_queue(c.channel())
        expect_channel_error(c, 406, lambda ch: ch.basic_publish(
            '', q, b'x', pika.BasicProperties(user_id='someone-else')), 'publish with a foreign user_id')


@suite.case(timeout=30)
def large_message_multi_frame(ctx):
    body = bytes(range(256)) * 4096 + b'tail'  # 1 MiB + 4, many body frames
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        ch.basic_publish('', q, body)
        m, p, b = ch.basic_get(q, auto_ack=True)
        expect(b == body, 'large body intact (got %d bytes, want %d)' % (len(b or b''), len(body)))


@suite.case(timeout=30)
def many_messages_in_order(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        for i in range(500):
            ch.basic_publish('', q, b'%d' % i)
        got = []
        for m, p, b in ch.consume(q, auto_ack=True, inactivity_timeout=5):
            if m is None:
                break
            got.append(b)
            if len(got) == 500:
                break
        ch.cancel()
        expect_eq(got, [b'%d' % i for i in range(500)], '500 messages consumed in publish order')


@suite.case()
def consume_and_ack(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q)
        for i in range(3):
            ch.basic_publish('', q, b'm%d' % i)
        got = []

        def on_msg(ch_, method, props, body):
            got.append((method.delivery_tag, method.redelivered, method.routing_key, body))
            ch_.basic_ack(method.delivery_tag)

        tag = ch.basic_consume(q, on_msg, consumer_tag='keeltest-ctag')
        expect_eq(tag, 'keeltest-ctag', 'consume-ok consumer tag')
        wait_until(lambda: c.process_data_events(0.05) or len(got) == 3, 5, '3 deliveries')
        expect_eq([g[3] for g in got], [b'm0', b'm1', b'm2'], 'bodies in order')
        expect_eq([g[0] for g in got], [1, 2, 3], 'delivery tags 1,2,3')
        expect(not any(g[1] for g in got), 'redelivered false on first delivery')
        ok = ch.queue_declare(q, passive=True)
        expect_eq(ok.method.consumer_count, 1, 'consumer_count while consuming')
        ch.basic_cancel(tag)
        counts_of(ch, q, (0, 0), 'counts after acks and cancel')
        ch.queue_delete(q)


@suite.case()
def consume_server_generated_tag(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        # pika generates tags itself; use the raw method to let the broker do it
        got = {}

        def on_ok(frame):
            got['tag'] = frame.method.consumer_tag

        ch._impl._rpc(pika.spec.Basic.Consume(queue=q, consumer_tag=''), on_ok, [pika.spec.Basic.ConsumeOk])
        wait_until(lambda: c.process_data_events(0.05) or got, 5, 'basic.consume-ok')
        expect(got['tag'].startswith('amq.ctag-') or len(got['tag']) > 0,
               'broker-generated consumer tag (got %r)' % got['tag'])


@suite.case()
def consume_no_ack(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        for i in range(3):
            ch.basic_publish('', q, b'%d' % i)
        got = []
        for m, p, b in ch.consume(q, auto_ack=True, inactivity_timeout=3):
            if m is None:
                break
            got.append(b)
            if len(got) == 3:
                break
        ch.cancel()
        expect_eq(got, [b'0', b'1', b'2'], 'no-ack deliveries')
        counts_of(ch, q, (0, 0), 'queue empty after no-ack consume')


@suite.case()
def consume_missing_queue_404(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 404, lambda ch: ch.basic_consume(ctx.name(), lambda *a: None),
                             'basic.consume on a missing queue')


@suite.case()
def exclusive_consumer(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q, auto_delete=True)
        ch.basic_consume(q, lambda *a: None, exclusive=True)
        expect_channel_error(c, 403, lambda ch2: ch2.basic_consume(q, lambda *a: None),
                             'second consumer on a queue with an exclusive consumer')


# ---------------------------------------------------------------------------
# exchange types

@suite.case()
def direct_exchange_routing(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        x = ctx.name('x')
        ch.exchange_declare(x, 'direct', auto_delete=True)
        q1, q2 = temp_queue(ch), temp_queue(ch)
        ch.queue_bind(q1, x, routing_key='red')
        ch.queue_bind(q2, x, routing_key='green')
        ch.queue_bind(q2, x, routing_key='red')
        for k in ('red', 'green', 'blue', 'red'):
            ch.basic_publish(x, k, k.encode())
        expect_eq(bodies(ch, q1), [b'red', b'red'], 'queue bound to red')
        expect_eq(bodies(ch, q2), [b'red', b'green', b'red'], 'queue bound to red and green')
        ch.queue_unbind(q2, x, routing_key='red')
        ch.basic_publish(x, 'red', b'after-unbind')
        expect_eq(bodies(ch, q2), [], 'no delivery after unbind')
        expect_eq(bodies(ch, q1), [b'after-unbind'], 'other binding unaffected')


TOPIC_PATTERNS = ['a.*.c', 'a.#', '#', '*.b.*', 'a.#.c', '*', '#.c', 'a.b.c', '*.*', 'a.*.#']
TOPIC_KEYS = ['a.b.c', 'a.c', 'a', 'a.x.y.c', 'b.b.b', 'x', 'a.b', '']
# Which keys each pattern matches, by the AMQP 0-9-1 rules as RabbitMQ
# applies them: words split on '.', '*' is one word, '#' zero or more.
TOPIC_EXPECTED = {
    'a.*.c': ['a.b.c'],
    'a.#': ['a.b.c', 'a.c', 'a', 'a.x.y.c', 'a.b'],
    '#': TOPIC_KEYS,
    '*.b.*': ['a.b.c', 'b.b.b'],
    'a.#.c': ['a.b.c', 'a.c', 'a.x.y.c'],
    '*': ['a', 'x'],  # '' has no words: '*' needs one
    '#.c': ['a.b.c', 'a.c', 'a.x.y.c'],
    'a.b.c': ['a.b.c'],
    '*.*': ['a.c', 'a.b'],
    'a.*.#': ['a.b.c', 'a.c', 'a.x.y.c', 'a.b'],
}


@suite.case()
def topic_exchange_wildcards(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        x = ctx.name('x')
        ch.exchange_declare(x, 'topic', auto_delete=True)
        qs = {}
        for pat in TOPIC_PATTERNS:
            qs[pat] = temp_queue(ch)
            ch.queue_bind(qs[pat], x, routing_key=pat)
        for k in TOPIC_KEYS:
            ch.basic_publish(x, k, k.encode())
        bad = []
        for pat in TOPIC_PATTERNS:
            got = sorted(b.decode() for b in bodies(ch, qs[pat]))
            want = sorted(TOPIC_EXPECTED[pat])
            if got != want:
                bad.append('%r matched %r, expected %r' % (pat, got, want))
        expect(not bad, '; '.join(bad))


@suite.case()
def topic_exchange_multiple_bindings_one_copy(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        x = ctx.name('x')
        ch.exchange_declare(x, 'topic', auto_delete=True)
        q = temp_queue(ch)
        for pat in ('a.*', 'a.#', '#', '*.b'):
            ch.queue_bind(q, x, routing_key=pat)
        ch.basic_publish(x, 'a.b', b'once')
        expect_eq(bodies(ch, q), [b'once'], 'one copy per queue however many bindings match')


@suite.case()
def fanout_exchange(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        x = ctx.name('x')
        ch.exchange_declare(x, 'fanout', auto_delete=True)
        qs = [temp_queue(ch) for _ in range(3)]
        for q in qs:
            ch.queue_bind(q, x, routing_key='ignored-%s' % q)
        ch.basic_publish(x, 'any.key', b'fan')
        for q in qs:
            expect_eq(bodies(ch, q), [b'fan'], 'fanout copy in %s' % q)


@suite.case()
def headers_exchange_all_any(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        x = ctx.name('x')
        ch.exchange_declare(x, 'headers', auto_delete=True)
        q_all, q_any, q_def = temp_queue(ch), temp_queue(ch), temp_queue(ch)
        ch.queue_bind(q_all, x, arguments={'x-match': 'all', 'a': 1, 'b': 'two'})
        ch.queue_bind(q_any, x, arguments={'x-match': 'any', 'a': 1, 'b': 'two'})
        ch.queue_bind(q_def, x, arguments={'a': 1, 'b': 'two'})  # x-match defaults to all
        cases = [
            ('both', {'a': 1, 'b': 'two'}),
            ('a-only', {'a': 1}),
            ('b-only', {'b': 'two'}),
            ('extra', {'a': 1, 'b': 'two', 'c': 3}),
            ('none', {}),
            ('wrong-value', {'a': 2, 'b': 'three'}),
            ('wrong-type', {'a': '1', 'b': 'two'}),
        ]
        for name, h in cases:
            ch.basic_publish(x, 'rk-ignored', name.encode(), pika.BasicProperties(headers=h))
        expect_eq(sorted(bodies(ch, q_all)), [b'both', b'extra'], 'x-match all')
        expect_eq(sorted(bodies(ch, q_def)), [b'both', b'extra'], 'x-match absent (all)')
        expect_eq(sorted(bodies(ch, q_any)), sorted([b'both', b'a-only', b'b-only', b'extra', b'wrong-type']),
                  'x-match any')


@suite.case()
def exchange_to_exchange_binding(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        src, dst = ctx.name('src'), ctx.name('dst')
        # not auto-delete: unbinding its last binding would delete it
        ch.exchange_declare(src, 'topic')
        ch.exchange_declare(dst, 'direct', auto_delete=True)
        ch.exchange_bind(dst, src, routing_key='k.*')
        q = temp_queue(ch)
        ch.queue_bind(q, dst, routing_key='k.1')
        ch.basic_publish(src, 'k.1', b'via-e2e')
        ch.basic_publish(src, 'k.2', b'not-bound-at-dst')
        ch.basic_publish(src, 'j.1', b'not-bound-at-src')
        expect_eq(bodies(ch, q), [b'via-e2e'], 'routed source -> destination -> queue')
        ch.exchange_unbind(dst, src, routing_key='k.*')
        ch.basic_publish(src, 'k.1', b'after-unbind')
        expect_eq(bodies(ch, q), [], 'nothing routed after exchange.unbind')
        ch.exchange_delete(src)


@suite.case()
def alternate_exchange(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        ae, x = ctx.name('ae'), ctx.name('x')
        ch.exchange_declare(ae, 'fanout', auto_delete=True)
        ch.exchange_declare(x, 'direct', auto_delete=True, arguments={'alternate-exchange': ae})
        q_main, q_alt = temp_queue(ch), temp_queue(ch)
        ch.queue_bind(q_main, x, routing_key='known')
        ch.queue_bind(q_alt, ae)
        ch.basic_publish(x, 'known', b'routed')
        ch.basic_publish(x, 'unknown', b'unroutable')
        expect_eq(bodies(ch, q_main), [b'routed'], 'routed message')
        expect_eq(bodies(ch, q_alt), [b'unroutable'], 'unroutable message went to the alternate exchange')


@suite.case()
def exchange_redeclare_different_type_406(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        x = ctx.name('x')
        ch.exchange_declare(x, 'direct', auto_delete=True)
        ch.exchange_declare(x, 'direct', auto_delete=True)  # same: fine
        ch.basic_consume(temp_queue(ch), lambda *a: None)  # keep the channel in use
        expect_channel_error(c, 406, lambda ch2: ch2.exchange_declare(x, 'fanout', auto_delete=True),
                             'redeclare an exchange with another type')


@suite.case()
def exchange_declare_reserved_name_403(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 403, lambda ch: ch.exchange_declare('amq.keeltest-%d' % os.getpid(), 'direct'),
                             'declare an exchange named amq.*')


@suite.case()
def exchange_declare_unknown_type(ctx):
    with Conn(ctx) as c:
        # 503 COMMAND_INVALID is a connection error in AMQP 0-9-1.
        ch = c.channel()
        try:
            ch.exchange_declare(ctx.name('x'), 'no-such-type')
        except pex.ConnectionClosedByBroker as e:
            expect_eq(e.reply_code, 503, 'exchange.declare of an unknown type closes the connection with')
        except pex.ChannelClosedByBroker as e:
            raise CaseFailure('expected connection.close 503, got channel.close %d %s' % (e.reply_code, e.reply_text))
        else:
            raise CaseFailure('exchange.declare of an unknown type was accepted')


@suite.case()
def exchange_delete_if_unused(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        x = ctx.name('x')
        ch.exchange_declare(x, 'fanout')
        q = temp_queue(ch)
        ch.queue_bind(q, x)
        expect_channel_error(c, 406, lambda ch2: ch2.exchange_delete(x, if_unused=True), 'exchange.delete if-unused')
        ch = c.channel()
        ch.queue_unbind(q, x)
        ch.exchange_delete(x, if_unused=True)
        expect_channel_error(c, 404, lambda ch2: ch2.exchange_declare(x, passive=True), 'passive declare after delete')


@suite.case()
def exchange_delete_predeclared_403(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 403, lambda ch: ch.exchange_delete('amq.direct'), 'delete amq.direct')


@suite.case()
def internal_exchange_publish_403(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        x = ctx.name('x')
        ch.exchange_declare(x, 'fanout', auto_delete=True, internal=True)
        q = temp_queue(ch)
        ch.queue_bind(q, x)
        expect_channel_error(c, 403, lambda ch2: ch2.basic_publish(x, '', b'x'), 'publish to an internal exchange')


# ---------------------------------------------------------------------------
# mandatory, confirms, transactions

@suite.case()
def mandatory_returned(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        returned = []
        ch.add_on_return_callback(lambda ch_, m, p, b: returned.append((m.reply_code, m.reply_text, m.exchange,
                                                                         m.routing_key, p.message_id, b)))
        x = ctx.name('x')
        ch.exchange_declare(x, 'direct', auto_delete=True)
        ch.basic_publish(x, 'nobody', b'ret', pika.BasicProperties(message_id='r1'), mandatory=True)
        ch.basic_publish(x, 'nobody', b'dropped', mandatory=False)
        temp_queue(ch)  # a round trip so the return has arrived
        wait_until(lambda: c.process_data_events(0.05) or returned, 5, 'basic.return')
        c.process_data_events(0.2)
        expect_eq(len(returned), 1, 'one basic.return (the non-mandatory one is dropped)')
        expect_eq(returned[0], (312, 'NO_ROUTE', x, 'nobody', 'r1', b'ret'), 'basic.return fields')


@suite.case()
def confirms_ack(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        ch.confirm_delivery()
        q = temp_queue(ch)
        for i in range(20):
            ch.basic_publish('', q, b'%d' % i)  # raises on nack
        expect_eq(ch.queue_declare(q, passive=True).method.message_count, 20, 'confirmed messages are queued')


@suite.case()
def confirms_raw_delivery_tags(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        impl = ch._impl
        acks = []
        done = {}
        impl.confirm_delivery(lambda frame: acks.append((type(frame.method).__name__, frame.method.delivery_tag,
                                                         frame.method.multiple)),
                              callback=lambda f: done.setdefault('ok', True))
        wait_until(lambda: c.process_data_events(0.05) or done, 5, 'confirm.select-ok')
        q = temp_queue(ch)
        for i in range(5):
            impl.basic_publish('', q, b'%d' % i)
        wait_until(lambda: c.process_data_events(0.05) or
                   (acks and max(t for _, t, _ in acks) == 5), 5, 'confirms up to tag 5')
        covered = set()
        for kind, tag, multiple in acks:
            expect_eq(kind, 'Ack', 'confirm kind')
            covered |= set(range(1, tag + 1)) if multiple else {tag}
        expect_eq(covered, {1, 2, 3, 4, 5}, 'delivery tags 1..5 confirmed')


@suite.case()
def confirms_mandatory_unroutable(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        ch.confirm_delivery()
        try:
            ch.basic_publish('amq.direct', 'nobody-' + ctx.name(), b'x', mandatory=True)
        except pex.UnroutableError as e:
            expect_eq(len(e.messages), 1, 'one returned message')
        else:
            raise CaseFailure('mandatory unroutable publish on a confirm channel did not raise UnroutableError')
        q = temp_queue(ch)
        ch.basic_publish('', q, b'ok', mandatory=True)


@suite.case()
def confirms_publish_missing_exchange_404(ctx):
    with Conn(ctx) as c:
        def go(ch):
            ch.confirm_delivery()
            ch.basic_publish(ctx.name('missing'), 'k', b'x')
        expect_channel_error(c, 404, go, 'publish to a missing exchange')


@suite.case()
def publish_missing_exchange_404(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 404, lambda ch: ch.basic_publish(ctx.name('missing'), 'k', b'x'),
                             'publish to a missing exchange (no confirms)')


@suite.case()
def tx_commit_rollback(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        ch.tx_select()
        ch.basic_publish('', q, b'rolled-back')
        expect_eq(c.channel().queue_declare(q, passive=True).method.message_count, 0,
                  'uncommitted publish is not visible')
        ch.tx_rollback()
        ch.basic_publish('', q, b'committed')
        ch.tx_commit()
        expect_eq(bodies(c.channel(), q, auto_ack=True), [b'committed'], 'only the committed publish arrives')


@suite.case()
def tx_ack_rollback(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q, auto_delete=False)
        ch.basic_publish('', q, b'm')
        ch.tx_select()
        m, _, _ = ch.basic_get(q, auto_ack=False)
        ch.basic_ack(m.delivery_tag)
        ch.tx_rollback()
        # the ack was undone: the message is still unacked on ch
        ch.close()
        m2, _, b = c.channel().basic_get(q, auto_ack=True)
        expect(m2 is not None and b == b'm', 'message back after rollback of its ack and channel close')
        expect(m2.redelivered, 'redelivered flag set')
        c.channel().queue_delete(q)


@suite.case()
def tx_commit_without_select_406(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 406, lambda ch: ch.tx_commit(), 'tx.commit without tx.select')


# ---------------------------------------------------------------------------
# acknowledgements

def _fill(ch, q, n, prefix='m'):
    for i in range(n):
        ch.basic_publish('', q, b'%s%d' % (prefix.encode(), i))


@suite.case()
def nack_requeue_keeps_order(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        _fill(ch, q, 3)
        got = get_all(ch, q, auto_ack=False)
        expect_eq([b for _, _, b in got], [b'm0', b'm1', b'm2'], 'first round')
        ch.basic_nack(got[-1][0].delivery_tag, multiple=True, requeue=True)
        again = get_all(ch, q, auto_ack=True)
        expect_eq([b for _, _, b in again], [b'm0', b'm1', b'm2'], 'requeued messages in their original order')
        expect(all(m.redelivered for m, _, _ in again), 'redelivered flag on requeued messages')


@suite.case()
def reject_requeue_false_drops(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        _fill(ch, q, 2)
        m, _, b = ch.basic_get(q)
        ch.basic_reject(m.delivery_tag, requeue=False)
        expect_eq(bodies(ch, q), [b'm1'], 'rejected message dropped')


@suite.case()
def reject_requeue_true_redelivers_first(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        _fill(ch, q, 3)
        seen = []

        def on_msg(ch_, m, p, b):
            seen.append((b, m.redelivered))
            if b == b'm0' and not m.redelivered:
                ch_.basic_reject(m.delivery_tag, requeue=True)
            else:
                ch_.basic_ack(m.delivery_tag)

        ch.basic_qos(prefetch_count=1)
        ch.basic_consume(q, on_msg)
        wait_until(lambda: c.process_data_events(0.05) or len(seen) >= 4, 5, '4 deliveries')
        expect_eq(seen[:2], [(b'm0', False), (b'm0', True)], 'rejected message redelivered first, flagged')
        expect_eq([s[0] for s in seen[2:]], [b'm1', b'm2'], 'the rest in order')


@suite.case()
def nack_single_and_multiple(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        _fill(ch, q, 4)
        got = get_all(ch, q, auto_ack=False)
        ch.basic_nack(got[1][0].delivery_tag, multiple=False, requeue=False)  # drop m1
        ch.basic_nack(got[3][0].delivery_tag, multiple=True, requeue=True)    # requeue m0, m2, m3
        expect_eq(bodies(ch, q), [b'm0', b'm2', b'm3'], 'after nack m1 (drop) and nack multiple (requeue)')


@suite.case()
def ack_multiple(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q)
        _fill(ch, q, 4)
        got = get_all(ch, q, auto_ack=False)
        ch.basic_ack(got[2][0].delivery_tag, multiple=True)  # m0..m2
        ch.close()
        ch = c.channel()
        expect_eq(bodies(ch, q), [b'm3'], 'only the unacked message is requeued on channel close')
        ch.queue_delete(q)


@suite.case()
def close_channel_requeues_unacked(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q)
        _fill(ch, q, 2)
        get_all(ch, q, auto_ack=False)
        ch.close()
        ch = c.channel()
        got = get_all(ch, q)
        expect_eq([b for _, _, b in got], [b'm0', b'm1'], 'unacked messages requeued in order')
        expect(all(m.redelivered for m, _, _ in got), 'redelivered set')
        ch.queue_delete(q)


@suite.case()
def ack_unknown_tag_406(ctx):
    with Conn(ctx) as c:
        def go(ch):
            ch.basic_ack(999)
        expect_channel_error(c, 406, go, 'basic.ack of an unknown delivery tag')


@suite.case()
def double_ack_406(ctx):
    with Conn(ctx) as c:
        ch0 = c.channel()
        q = temp_queue(ch0)
        ch0.basic_publish('', q, b'x')

        def go(ch):
            m, _, _ = ch.basic_get(q)
            ch.basic_ack(m.delivery_tag)
            ch.basic_ack(m.delivery_tag)
        expect_channel_error(c, 406, go, 'acking one delivery tag twice')


@suite.case()
def basic_recover_requeue(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        _fill(ch, q, 2)
        get_all(ch, q, auto_ack=False)
        ch.basic_recover(requeue=True)
        got = get_all(ch, q)
        expect_eq([b for _, _, b in got], [b'm0', b'm1'], 'recovered messages')
        expect(all(m.redelivered for m, _, _ in got), 'redelivered after basic.recover')


@suite.case()
def qos_prefetch_count(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        _fill(ch, q, 5)
        ch.basic_qos(prefetch_count=2)
        got = []
        ch.basic_consume(q, lambda ch_, m, p, b: got.append(m))
        wait_until(lambda: c.process_data_events(0.05) or len(got) >= 2, 5, 'first 2 deliveries')
        c.process_data_events(0.3)
        expect_eq(len(got), 2, 'deliveries with prefetch 2 and nothing acked')
        ch.basic_ack(got[0].delivery_tag)
        wait_until(lambda: c.process_data_events(0.05) or len(got) >= 3, 5, 'third delivery after one ack')
        c.process_data_events(0.3)
        expect_eq(len(got), 3, 'one ack frees one slot')
        ch.basic_ack(got[2].delivery_tag, multiple=True)
        wait_until(lambda: c.process_data_events(0.05) or len(got) >= 5, 5, 'the remaining deliveries')


# ---------------------------------------------------------------------------
# consumers

@suite.case()
def consumer_cancel(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        got = []
        tag = ch.basic_consume(q, lambda ch_, m, p, b: got.append(b), auto_ack=True)
        ch.basic_publish('', q, b'before')
        wait_until(lambda: c.process_data_events(0.05) or got, 5, 'delivery before cancel')
        ch.basic_cancel(tag)
        ch.basic_publish('', q, b'after')
        c.process_data_events(0.3)
        expect_eq(got, [b'before'], 'no delivery after basic.cancel')
        expect_eq(bodies(ch, q), [b'after'], 'message stays in the queue')


@suite.case()
def consumer_cancelled_by_broker_on_queue_delete(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q)
        cancelled = []
        ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
        tag = ch.basic_consume(q, lambda *a: None)
        c.channel().queue_delete(q)
        wait_until(lambda: c.process_data_events(0.05) or cancelled, 5, 'basic.cancel from the broker')
        expect_eq(cancelled, [tag], 'cancelled consumer tag')
        expect(ch.is_open, 'channel stays open after a broker-side cancel')


@suite.case()
def single_active_consumer(ctx):
    with Conn(ctx) as c:
        ch1, ch2, chp = c.channel(), c.channel(), c.channel()
        q = ctx.name()
        chp.queue_declare(q, auto_delete=True, arguments={'x-single-active-consumer': True})
        got1, got2 = [], []
        t1 = ch1.basic_consume(q, lambda ch_, m, p, b: got1.append(b), auto_ack=True)
        ch2.basic_consume(q, lambda ch_, m, p, b: got2.append(b), auto_ack=True)
        _fill(chp, q, 4)
        wait_until(lambda: c.process_data_events(0.05) or len(got1) + len(got2) >= 4, 5, '4 deliveries')
        expect_eq((got1, got2), ([b'm0', b'm1', b'm2', b'm3'], []), 'only the first consumer is active')
        ch1.basic_cancel(t1)
        _fill(chp, q, 2, 'n')
        wait_until(lambda: c.process_data_events(0.05) or len(got2) >= 2, 5, 'deliveries to the second consumer')
        expect_eq(got2, [b'n0', b'n1'], 'second consumer takes over after the first cancels')


# ---------------------------------------------------------------------------
# queues

@suite.case()
def server_named_queue(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        ok = ch.queue_declare('', exclusive=True)
        name = ok.method.queue
        expect(name.startswith('amq.gen-'), 'server-named queue starts with amq.gen- (got %r)' % name)
        ch.basic_publish('', name, b'x')
        expect_eq(bodies(ch, name), [b'x'], 'server-named queue usable by name')
        expect(temp_queue(ch) != name, 'a second server-named queue has another name')


@suite.case()
def queue_declare_reserved_name_403(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 403, lambda ch: ch.queue_declare('amq.keeltest-%d' % os.getpid()),
                             'declare a queue named amq.*')


@suite.case()
def exclusive_queue(ctx):
    with Conn(ctx) as a, Conn(ctx) as b:
        ch = a.channel()
        q = ctx.name()
        ch.queue_declare(q, exclusive=True)
        expect_channel_error(b, 405, lambda ch2: ch2.queue_declare(q, passive=True),
                             'passive declare of another connection\'s exclusive queue')
        expect_channel_error(b, 405, lambda ch2: ch2.basic_consume(q, lambda *x: None),
                             'consume from another connection\'s exclusive queue')
        a.close()
        wait_until(lambda: _queue_gone(b, q), 5, 'exclusive queue deleted when its connection closes')


def _queue_gone(conn, q):
    ch = conn.channel()
    try:
        ch.queue_declare(q, passive=True)
        ch.close()
        return False
    except pex.ChannelClosedByBroker as e:
        return e.reply_code == 404


@suite.case()
def auto_delete_queue(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q, auto_delete=True)
        ch.basic_publish('', q, b'x')
        expect(not _queue_gone(c, q), 'auto-delete queue lives until it had a consumer')
        tag = ch.basic_consume(q, lambda *a: None, auto_ack=True)
        ch.basic_cancel(tag)
        wait_until(lambda: _queue_gone(c, q), 5, 'auto-delete queue deleted after its last consumer cancels')


@suite.case()
def passive_declare_missing_queue_404(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 404, lambda ch: ch.queue_declare(ctx.name(), passive=True),
                             'passive declare of a missing queue')


@suite.case()
def passive_declare_missing_exchange_404(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 404, lambda ch: ch.exchange_declare(ctx.name('x'), passive=True),
                             'passive declare of a missing exchange')


@suite.case()
def bind_missing_exchange_or_queue_404(ctx):
    with Conn(ctx) as c:
        q = temp_queue(c.channel())
        expect_channel_error(c, 404, lambda ch: ch.queue_bind(q, ctx.name('x'), routing_key='k'),
                             'bind to a missing exchange')
        expect_channel_error(c, 404, lambda ch: ch.queue_bind(ctx.name(), 'amq.direct', routing_key='k'),
                             'bind a missing queue')


@suite.case()
def queue_redeclare_different_406(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q, durable=False, auto_delete=True)
        expect_channel_error(c, 406, lambda ch2: ch2.queue_declare(q, durable=True, auto_delete=True),
                             'redeclare with another durable flag')
        expect_channel_error(c, 406, lambda ch2: ch2.queue_declare(q, auto_delete=True,
                                                                   arguments={'x-max-length': 5}),
                             'redeclare with other arguments')


@suite.case()
def queue_argument_invalid_406(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 406, lambda ch: ch.queue_declare(ctx.name(), arguments={'x-max-length': 'ten'}),
                             'x-max-length of the wrong type')
        expect_channel_error(c, 406, lambda ch: ch.queue_declare(ctx.name(), arguments={'x-message-ttl': -1}),
                             'negative x-message-ttl')


@suite.case()
def durable_queue_declare(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q, durable=True)
        ch.confirm_delivery()
        ch.basic_publish('', q, b'persist', pika.BasicProperties(delivery_mode=2))
        ok = ch.queue_declare(q, durable=True, passive=True)
        expect_eq(ok.method.message_count, 1, 'message in durable queue')
        ok = ch.queue_delete(q)
        expect_eq(ok.method.message_count, 1, 'delete-ok message_count')


@suite.case()
def queue_purge(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        _fill(ch, q, 3)
        ok = ch.queue_purge(q)
        expect_eq(ok.method.message_count, 3, 'purge-ok message_count')
        expect_eq(bodies(ch, q), [], 'queue empty after purge')


@suite.case()
def queue_delete_if_unused_if_empty(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q)
        ch.basic_publish('', q, b'x')
        expect_channel_error(c, 406, lambda ch2: ch2.queue_delete(q, if_empty=True), 'queue.delete if-empty')
        ch2 = c.channel()
        tag = ch2.basic_consume(q, lambda *a: None)
        expect_channel_error(c, 406, lambda ch3: ch3.queue_delete(q, if_unused=True), 'queue.delete if-unused')
        ch2.basic_cancel(tag)
        ch2.close()  # requeues the delivered message
        ch = c.channel()
        ok = ch.queue_delete(q)
        expect_eq(ok.method.message_count, 1, 'delete-ok message_count')
        expect(_queue_gone(c, q), 'queue gone after delete')


@suite.case()
def queue_delete_missing_ok(ctx):
    # RabbitMQ 3.10 answers delete-ok for a queue that does not exist.
    with Conn(ctx) as c:
        ch = c.channel()
        ok = ch.queue_delete(ctx.name())
        expect_eq(ok.method.message_count, 0, 'delete-ok of a missing queue')


@suite.case(timeout=15)
def x_message_ttl(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch, arguments={'x-message-ttl': 100})
        ch.basic_publish('', q, b'short-lived')
        m, _, b = ch.basic_get(q, auto_ack=False)
        expect_eq(b, b'short-lived', 'fresh message still there')
        ch.basic_nack(m.delivery_tag, requeue=True)
        time.sleep(0.5)
        expect_eq(bodies(ch, q), [], 'message gone after its queue TTL')


@suite.case(timeout=15)
def per_message_expiration(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch)
        ch.basic_publish('', q, b'long', pika.BasicProperties(expiration='60000'))
        ch.basic_publish('', q, b'short', pika.BasicProperties(expiration='100'))
        ch.basic_publish('', q, b'zero', pika.BasicProperties(expiration='0'))
        time.sleep(0.5)
        expect_eq(bodies(ch, q), [b'long'], 'expired messages (expiration 100 ms and 0) are gone')


@suite.case()
def per_message_expiration_invalid_406(ctx):
    with Conn(ctx) as c:
        q = temp_queue(c.channel())
        expect_channel_error(c, 406, lambda ch: ch.basic_publish('', q, b'x', pika.BasicProperties(
            expiration='soon')), 'non-numeric expiration')


@suite.case(timeout=15)
def x_expires(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = ctx.name()
        ch.queue_declare(q, arguments={'x-expires': 300})
        expect(not _queue_gone(c, q), 'queue exists right after declare')
        # a passive declare counts as use and restarts the timer: poll slower
        time.sleep(0.6)
        wait_until(lambda: _queue_gone(c, q), 5, 'unused queue deleted after x-expires', interval=0.5)


@suite.case()
def x_max_length_drop_head(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch, arguments={'x-max-length': 2})
        _fill(ch, q, 4)
        expect_eq(bodies(ch, q), [b'm2', b'm3'], 'oldest messages dropped at x-max-length 2')


@suite.case()
def x_max_length_bytes(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch, arguments={'x-max-length-bytes': 10})
        for b in (b'aaaa', b'bbbb', b'cccc'):
            ch.basic_publish('', q, b)
        expect_eq(bodies(ch, q), [b'bbbb', b'cccc'], 'head dropped past 10 body bytes')


@suite.case()
def x_max_length_reject_publish(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        ch.confirm_delivery()
        q = temp_queue(ch, arguments={'x-max-length': 2, 'x-overflow': 'reject-publish'})
        _fill(ch, q, 2)
        try:
            ch.basic_publish('', q, b'over')
        except pex.NackError:
            pass
        else:
            raise CaseFailure('publish over x-max-length with reject-publish was confirmed, expected basic.nack')
        expect_eq(bodies(ch, q), [b'm0', b'm1'], 'queue keeps the first two')


def _dlx_setup(ch, ctx, qargs, dl_key=None):
    dlx = ctx.name('dlx')
    ch.exchange_declare(dlx, 'direct', auto_delete=True)
    dlq = temp_queue(ch)
    ch.queue_bind(dlq, dlx, routing_key=dl_key or '#')
    q = ctx.name('src')
    args = {'x-dead-letter-exchange': dlx}
    if dl_key:
        args['x-dead-letter-routing-key'] = dl_key
    args.update(qargs)
    ch.queue_declare(q, arguments=args, auto_delete=False)
    return dlx, dlq, q


@suite.case()
def dead_letter_on_reject(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        dlx, dlq, q = _dlx_setup(ch, ctx, {}, dl_key='dead')
        ch.basic_publish('', q, b'doomed', pika.BasicProperties(headers={'keep': 'me'}))
        m, _, _ = ch.basic_get(q)
        ch.basic_reject(m.delivery_tag, requeue=False)
        got = wait_until(lambda: get_all(ch, dlq), 5, 'dead-lettered message')
        m, p, b = got[0]
        expect_eq(b, b'doomed', 'dead-lettered body')
        expect_eq((m.exchange, m.routing_key), (dlx, 'dead'), 'delivered via the DLX with the DL routing key')
        h = p.headers or {}
        expect_eq(h.get('keep'), 'me', 'original headers kept')
        death = h.get('x-death')
        expect(isinstance(death, list) and len(death) == 1, 'one x-death entry (got %r)' % (death,))
        d = death[0]
        expect_eq((d.get('count'), d.get('reason'), d.get('queue'), d.get('exchange'), d.get('routing-keys')),
                  (1, 'rejected', q, '', [q]), 'x-death count/reason/queue/exchange/routing-keys')
        expect(isinstance(d.get('time'), datetime.datetime), 'x-death time is a timestamp (got %r)' % d.get('time'))
        expect_eq((h.get('x-first-death-reason'), h.get('x-first-death-queue'), h.get('x-first-death-exchange')),
                  ('rejected', q, ''), 'x-first-death-* headers')
        ch.queue_delete(q)


@suite.case(timeout=15)
def dead_letter_on_ttl_expiry(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        dlx, dlq, q = _dlx_setup(ch, ctx, {'x-message-ttl': 50}, dl_key='expired')
        ch.basic_publish('', q, b'stale')
        got = wait_until(lambda: get_all(ch, dlq), 5, 'expired message dead-lettered')
        m, p, b = got[0]
        expect_eq(b, b'stale', 'body')
        d = (p.headers or {}).get('x-death', [{}])[0]
        expect_eq((d.get('reason'), d.get('queue'), d.get('count')), ('expired', q, 1), 'x-death reason/queue/count')
        ch.queue_delete(q)


@suite.case()
def dead_letter_on_max_length(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        dlx, dlq, q = _dlx_setup(ch, ctx, {'x-max-length': 1}, dl_key='overflow')
        _fill(ch, q, 2)
        got = wait_until(lambda: get_all(ch, dlq), 5, 'dropped head dead-lettered')
        d = (got[0][1].headers or {}).get('x-death', [{}])[0]
        expect_eq((got[0][2], d.get('reason')), (b'm0', 'maxlen'), 'dropped message and reason maxlen')
        expect_eq(bodies(ch, q), [b'm1'], 'queue keeps the newest')
        ch.queue_delete(q)


@suite.case()
def dead_letter_count_increments(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        # q dead-letters to the default exchange with its own name as key: a loop
        # broken by the consumer; RabbitMQ counts each death in x-death.
        q = ctx.name()
        ch.queue_declare(q, arguments={'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': q})
        ch.basic_publish('', q, b'again')
        for n in (1, 2):
            m, p, b = _get_until(ch, q, c, auto_ack=False)
            ch.basic_reject(m.delivery_tag, requeue=False)
        m, p, b = _get_until(ch, q, c)
        death = (p.headers or {}).get('x-death')
        expect_eq([(d.get('count'), d.get('reason')) for d in death], [(2, 'rejected')], 'x-death count 2 for one queue')
        ch.queue_delete(q)


@suite.case()
def x_max_priority(ctx):
    with Conn(ctx) as c:
        ch = c.channel()
        q = temp_queue(ch, arguments={'x-max-priority': 10})
        for prio, body in ((1, b'p1'), (5, b'p5'), (None, b'none'), (3, b'p3'), (5, b'p5b'), (200, b'p200')):
            ch.basic_publish('', q, body, pika.BasicProperties(priority=prio))
        expect_eq(bodies(ch, q), [b'p200', b'p5', b'p5b', b'p3', b'p1', b'none'],
                  'higher priority first, FIFO within a priority, above-max treated as max')


@suite.case()
def direct_reply_to(ctx):
    with Conn(ctx) as client, Conn(ctx) as server:
        sch = server.channel()
        rq = temp_queue(sch)
        cch = client.channel()
        replies = []
        cch.basic_consume('amq.rabbitmq.reply-to', lambda ch_, m, p, b: replies.append((b, p.correlation_id)),
                          auto_ack=True)
        cch.basic_publish('', rq, b'ping', pika.BasicProperties(reply_to='amq.rabbitmq.reply-to',
                                                                  correlation_id='c-1'))
        m, p, b = _get_until(sch, rq, server)
        expect(p.reply_to.startswith('amq.rabbitmq.reply-to.'),
               'broker rewrote reply_to to a private name (got %r)' % p.reply_to)
        sch.basic_publish('', p.reply_to, b'pong', pika.BasicProperties(correlation_id=p.correlation_id))
        wait_until(lambda: client.process_data_events(0.05) or replies, 5, 'direct reply')
        expect_eq(replies, [(b'pong', 'c-1')], 'reply delivered to the pseudo-queue consumer')


def _get_until(ch, q, conn, timeout=5, auto_ack=True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m, p, b = ch.basic_get(q, auto_ack=auto_ack)
        if m is not None:
            return m, p, b
        conn.process_data_events(0.05)
    raise CaseFailure('no message in %s within %ss' % (q, timeout))


@suite.case()
def direct_reply_to_without_consumer_406(ctx):
    with Conn(ctx) as c:
        expect_channel_error(c, 406, lambda ch: ch.basic_publish('', 'x', b'x', pika.BasicProperties(
            reply_to='amq.rabbitmq.reply-to')), 'reply_to amq.rabbitmq.reply-to without consuming from it')


# ---------------------------------------------------------------------------
# users, vhosts, permissions (need run.py's admin step)

@suite.case()
def other_vhost_isolated(ctx):
    vh = ctx.need_extra('vhost')
    with Conn(ctx) as c, Conn(ctx, vhost=vh) as d:
        q = ctx.name()
        c.channel().queue_declare(q, auto_delete=False)
        expect(_queue_gone(d, q), 'a queue of vhost / is not visible in %s' % vh)
        ch = d.channel()
        ch.queue_declare(q)
        ch.basic_publish('', q, b'in-' + vh.encode())
        expect_eq(c.channel().queue_declare(q, passive=True).method.message_count, 0, 'vhost / queue untouched')
        ch.queue_delete(q)
        c.channel().queue_delete(q)


@suite.case()
def permission_denied_403(ctx):
    user, pw = ctx.need_extra('limited_user')
    # configure '^keeltest-limited-.*', write '.*', read '.*'
    with Conn(ctx, user=user, password=pw) as c:
        ch = c.channel()
        ok = 'keeltest-limited-ok-%d' % os.getpid()
        ch.queue_declare(ok, auto_delete=True)
        expect_channel_error(c, 403, lambda ch2: ch2.queue_declare(ctx.name()),
                             'declare outside the configure permission', probe_queue=ok)


@suite.case()
def vhost_without_permission_530(ctx):
    user, pw = ctx.need_extra('limited_user')
    vh = ctx.need_extra('vhost')  # limited_user has no permission there
    e = expect_connection_error(ctx, (530,), 'vhost the user has no permission on', user=user, password=pw, vhost=vh)
    s = repr(e)
    expect('530' in s or 'NOT_ALLOWED' in s or 'ProbableAccessDenied' in s, 'NOT_ALLOWED (530) in %s' % s)


# ---------------------------------------------------------------------------
# SelectConnection

def _select_run(ctx, on_open, timeout=8, **kw):
    state = {'closed': None}

    def on_closed(conn, reason):
        state['closed'] = reason
        conn.ioloop.stop()

    def on_open_error(conn, err):
        state['open_error'] = err
        conn.ioloop.stop()

    conn = pika.SelectConnection(params(ctx, **kw), on_open_callback=lambda c: on_open(c, state),
                                 on_open_error_callback=on_open_error, on_close_callback=on_closed)

    def give_up():
        state['timeout'] = True
        if conn.is_open:
            conn.close()
        conn.ioloop.call_later(1, conn.ioloop.stop)

    conn.ioloop.call_later(timeout, give_up)
    conn.ioloop.start()
    expect('timeout' not in state, 'SelectConnection scenario timed out (state %r)' % state)
    return state


@suite.case()
def select_publish_consume_round_trip(ctx):
    def on_open(conn, st):
        def on_channel(ch):
            st['ch'] = ch
            ch.queue_declare('', exclusive=True, callback=on_declared)

        def on_declared(frame):
            q = frame.method.queue
            ch = st['ch']
            ch.basic_consume(q, on_msg)
            # publish once confirm.select-ok is in, so the publish is confirmed
            ch.confirm_delivery(lambda f: st.setdefault('confirms', []).append(type(f.method).__name__),
                                callback=lambda f: ch.basic_publish('', q, b'async-hello', pika.BasicProperties(
                                    correlation_id='sel-1')))

        def on_msg(ch, m, p, b):
            st['msg'] = (b, p.correlation_id)
            ch.basic_ack(m.delivery_tag)
            conn.ioloop.call_later(0.1, conn.close)

        conn.channel(on_open_callback=on_channel)

    st = _select_run(ctx, on_open)
    expect('open_error' not in st, 'open failed: %r' % st.get('open_error'))
    expect_eq(st.get('msg'), (b'async-hello', 'sel-1'), 'message consumed asynchronously')
    expect_eq(st.get('confirms'), ['Ack'], 'publisher confirm for the async publish')
    r = st['closed']
    expect(isinstance(r, pex.ConnectionClosedByClient) and r.reply_code == 200,
           'client close reported as ConnectionClosedByClient(200) (got %r)' % r)


@suite.case()
def select_channel_error_then_close(ctx):
    def on_open(conn, st):
        def on_channel_closed(ch, reason):
            st['channel_closed'] = reason
            conn.channel(on_open_callback=lambda ch2: ch2.queue_declare(
                '', exclusive=True, callback=lambda f: (st.setdefault('second', f.method.queue), conn.close())))

        def on_channel(ch):
            ch.add_on_close_callback(on_channel_closed)
            ch.queue_declare(ctx.name(), passive=True)

        conn.channel(on_open_callback=on_channel)

    st = _select_run(ctx, on_open)
    r = st.get('channel_closed')
    expect(isinstance(r, pex.ChannelClosedByBroker) and r.reply_code == 404,
           'channel closed by broker with 404 (got %r)' % r)
    expect(st.get('second', '').startswith('amq.gen-'), 'a second channel works after the first was closed')
    expect(isinstance(st['closed'], pex.ConnectionClosedByClient), 'clean client close (got %r)' % st['closed'])


@suite.case()
def select_broker_closes_connection(ctx):
    def on_open(conn, st):
        def on_channel(ch):
            # 503 command-invalid is a connection-level error
            ch.exchange_declare(ctx.name('x'), 'no-such-type')

        conn.channel(on_open_callback=on_channel)

    st = _select_run(ctx, on_open)
    r = st['closed']
    expect(isinstance(r, pex.ConnectionClosedByBroker) and r.reply_code == 503,
           'connection closed by broker with 503 (got %r)' % r)


@suite.case()
def select_open_error_bad_vhost(ctx):
    st = _select_run(ctx, lambda conn, st: conn.close(), vhost='no-such-vhost-keeltest')
    err = st.get('open_error')
    expect(err is not None, 'on_open_error_callback called')
    expect('530' in repr(err) or 'AccessDenied' in repr(err) or 'NOT_ALLOWED' in repr(err),
           'open error names 530 / access denied (got %r)' % err)


if __name__ == '__main__':
    suite.main()
