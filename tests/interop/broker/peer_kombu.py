#!/usr/bin/python3
"""kombu 5.2 (python3-kombu) and py-amqp 5.1 (python3-amqp) against a broker:
kombu's Connection, Exchange, Queue, Producer, Consumer and SimpleQueue the
way Celery and oslo.messaging's rabbit driver drive them, and py-amqp's
Connection/Channel directly for the methods kombu hides.

usage: peer_kombu.py --host H --port P [--only GLOB] [--list]"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amqp  # noqa: E402
import amqp.exceptions as aex  # noqa: E402
from kombu import Connection, Consumer, Exchange, Producer, Queue  # noqa: E402
from caselib import Suite, CaseFailure, expect, expect_eq  # noqa: E402

suite = Suite('kombu')


def kconn(ctx, **kw):
    vh = ctx.vhost if ctx.vhost != '/' else ''
    url = 'pyamqp://%s:%s@%s:%d/%s' % (ctx.user, ctx.password, ctx.host, ctx.port, vh)
    c = Connection(url, connect_timeout=5, **kw)
    c.connect()
    return c


def aconn(ctx, **kw):
    c = amqp.Connection(host='%s:%d' % (ctx.host, ctx.port), userid=kw.pop('userid', ctx.user),
                        password=kw.pop('password', ctx.password), virtual_host=kw.pop('virtual_host', ctx.vhost),
                        connect_timeout=5, read_timeout=5, write_timeout=5, **kw)
    c.connect()
    return c


def text(body):
    return body.decode() if isinstance(body, bytes) else body


def drain_until(conn, pred, timeout=5, what='messages'):
    deadline = time.monotonic() + timeout
    while not pred():
        left = deadline - time.monotonic()
        if left <= 0:
            raise CaseFailure('timed out after %ss waiting for %s' % (timeout, what))
        try:
            conn.drain_events(timeout=min(left, 0.5))
        except socket.timeout:
            pass


# ---------------------------------------------------------------------------
# kombu

@suite.case()
def kombu_connection(ctx):
    with kconn(ctx) as c:
        expect(c.connected, 'kombu connection connected')
        props = c.connection.server_properties
        expect('capabilities' in props, 'server_properties carry capabilities (got %r)' % sorted(props))
        expect_eq(c.transport_cls, 'pyamqp', 'transport')
        ch = c.channel()
        ch.close()


@suite.case()
def kombu_connection_refused_credentials(ctx):
    vh = ctx.vhost if ctx.vhost != '/' else ''
    c = Connection('pyamqp://%s:wrong@%s:%d/%s' % (ctx.user, ctx.host, ctx.port, vh), connect_timeout=5)
    try:
        c.connect()
    except aex.AccessRefused as e:
        expect_eq(e.code, 403, 'AccessRefused reply code')
    except Exception as e:
        raise CaseFailure('expected AccessRefused (403), got %r' % e)
    else:
        raise CaseFailure('connection with a wrong password succeeded')
    finally:
        c.release()


@suite.case()
def kombu_producer_consumer_json(ctx):
    with kconn(ctx) as c:
        x = Exchange(ctx.name('x'), type='direct', auto_delete=True)
        q = Queue(ctx.name(), exchange=x, routing_key='task', auto_delete=True)
        got = []
        with c.channel() as ch:
            prod = Producer(ch, exchange=x, serializer='json')
            prod.publish({'n': 1, 'text': 'héllo'}, routing_key='task', declare=[q])
            prod.publish({'n': 2}, routing_key='task', headers={'h': 'v'}, priority=4, correlation_id='c2')
            with Consumer(ch, queues=[q], callbacks=[lambda body, msg: (got.append((body, msg)), msg.ack())],
                          accept=['json']):
                drain_until(c, lambda: len(got) >= 2, what='2 kombu messages')
        expect_eq([b for b, _ in got], [{'n': 1, 'text': 'héllo'}, {'n': 2}], 'decoded bodies')
        m = got[1][1]
        expect_eq(m.content_type, 'application/json', 'content_type')
        expect_eq(m.headers.get('h'), 'v', 'header')
        expect_eq((m.properties.get('priority'), m.properties.get('correlation_id')), (4, 'c2'),
                  'priority/correlation_id')
        expect_eq(m.delivery_info['routing_key'], 'task', 'delivery_info routing_key')


@suite.case()
def kombu_topic_and_fanout(ctx):
    with kconn(ctx) as c:
        tx = Exchange(ctx.name('topic'), type='topic', auto_delete=True)
        fx = Exchange(ctx.name('fan'), type='fanout', auto_delete=True)
        with c.channel() as ch:
            qa = Queue('', exchange=tx, routing_key='a.*', exclusive=True)(ch)
            qh = Queue('', exchange=tx, routing_key='a.#', exclusive=True)(ch)
            qf1 = Queue('', exchange=fx, exclusive=True)(ch)
            qf2 = Queue('', exchange=fx, exclusive=True)(ch)
            for q in (qa, qh, qf1, qf2):
                q.declare()
            prod = Producer(ch, serializer='raw')
            for k in ('a.b', 'a.b.c', 'b.a'):
                prod.publish(k, exchange=tx, routing_key=k)
            prod.publish('fan', exchange=fx, routing_key='x')

            def drain(q):
                out = []
                while True:
                    m = q.get(no_ack=True)
                    if m is None:
                        return out
                    out.append(text(m.body))
            expect_eq(drain(qa), ['a.b'], 'a.*')
            expect_eq(drain(qh), ['a.b', 'a.b.c'], 'a.#')
            expect_eq((drain(qf1), drain(qf2)), (['fan'], ['fan']), 'fanout copies')


@suite.case()
def kombu_headers_exchange(ctx):
    with kconn(ctx) as c:
        hx = Exchange(ctx.name('hx'), type='headers', auto_delete=True)
        with c.channel() as ch:
            q = Queue('', exchange=hx, binding_arguments={'x-match': 'any', 'kind': 'a', 'tier': 1},
                      exclusive=True)(ch)
            q.declare()
            prod = Producer(ch, exchange=hx, serializer='raw')
            prod.publish('one', headers={'kind': 'a'})
            prod.publish('two', headers={'tier': 1})
            prod.publish('three', headers={'kind': 'b'})
            got = []
            while True:
                m = q.get(no_ack=True)
                if m is None:
                    break
                got.append(text(m.body))
            expect_eq(got, ['one', 'two'], 'x-match any')


@suite.case()
def kombu_get_ack_reject_requeue(ctx):
    with kconn(ctx) as c:
        with c.channel() as ch:
            q = Queue(ctx.name(), auto_delete=False)(ch)
            q.declare()
            prod = Producer(ch, serializer='raw')
            for b in ('m0', 'm1', 'm2'):
                prod.publish(b, routing_key=q.name)
            m0 = q.get()
            m0.requeue()
            m0b = q.get()
            expect_eq((text(m0b.body), m0b.delivery_info['redelivered']), ('m0', True), 'requeued m0 first, redelivered')
            m0b.ack()
            m1 = q.get()
            m1.reject()
            m2 = q.get()
            expect_eq(text(m2.body), 'm2', 'after reject of m1 comes m2')
            m2.ack()
            expect(q.get() is None, 'queue empty')
            q.delete()


@suite.case()
def kombu_simple_queue(ctx):
    with kconn(ctx) as c:
        name = ctx.name()
        sq = c.SimpleQueue(name, queue_opts={'auto_delete': False})
        try:
            for i in range(3):
                sq.put({'i': i})
            deadline = time.monotonic() + 3  # publishes reach the queue asynchronously
            while sq.qsize() != 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            expect_eq(sq.qsize(), 3, 'SimpleQueue qsize')
            got = []
            for _ in range(3):
                m = sq.get(block=True, timeout=3)
                got.append(m.payload['i'])
                m.ack()
            expect_eq(got, [0, 1, 2], 'SimpleQueue order')
            try:
                sq.get(block=True, timeout=0.3)
            except sq.Empty:
                pass
            else:
                raise CaseFailure('SimpleQueue.get on an empty queue did not raise Empty')
        finally:
            sq.close()  # cancel the consumer before the queue goes
            Queue(name)(c.default_channel).delete()


@suite.case()
def kombu_simple_buffer_no_ack(ctx):
    with kconn(ctx) as c:
        sb = c.SimpleBuffer(ctx.name())
        try:
            sb.put('buffered')
            m = sb.get(block=True, timeout=3)
            expect_eq(m.payload, 'buffered', 'SimpleBuffer payload')
        finally:
            sb.close()


@suite.case()
def kombu_confirm_publish(ctx):
    with kconn(ctx, transport_options={'confirm_publish': True}) as c:
        with c.channel() as ch:
            q = Queue('', exclusive=True)(ch)
            q.declare()
            prod = Producer(ch, serializer='json')
            for i in range(5):
                prod.publish({'i': i}, routing_key=q.name)  # waits for basic.ack
            expect_eq(q.queue_declare(passive=True).message_count, 5, 'confirmed messages queued')


@suite.case()
def kombu_compression_and_expiration(ctx):
    with kconn(ctx) as c:
        with c.channel() as ch:
            q = Queue('', exclusive=True)(ch)
            q.declare()
            prod = Producer(ch, serializer='json')
            prod.publish({'big': 'x' * 1000}, routing_key=q.name, compression='zlib')
            prod.publish({'gone': True}, routing_key=q.name, expiration=0.05)
            time.sleep(0.3)
            m = q.get(no_ack=True)
            expect_eq(m.headers.get('compression'), 'application/x-gzip', 'compression header')
            expect_eq(m.decode(), {'big': 'x' * 1000}, 'decompressed body')
            expect(q.get(no_ack=True) is None, 'expired message gone')


@suite.case()
def kombu_passive_missing_then_recover(ctx):
    with kconn(ctx) as c:
        ch = c.channel()
        try:
            Queue(ctx.name())(ch).queue_declare(passive=True)
        except aex.NotFound as e:
            expect_eq(e.reply_code, 404, 'NotFound reply code')
        else:
            raise CaseFailure('passive declare of a missing queue succeeded')
        expect(c.connected, 'connection still up after a channel error')
        with c.channel() as ch2:
            q = Queue('', exclusive=True)(ch2)
            q.declare()
            Producer(ch2, serializer='raw').publish('ok', routing_key=q.name)
            expect_eq(text(q.get(no_ack=True).body), 'ok', 'new channel works')


@suite.case()
def kombu_ensure_and_autoretry(ctx):
    with kconn(ctx) as c:
        c.ensure_connection(max_retries=1)
        x = Exchange(ctx.name('x'), type='direct', auto_delete=True)
        q = Queue(ctx.name(), exchange=x, routing_key='r', auto_delete=True)
        prod = c.Producer(serializer='json')
        publish = c.ensure(prod, prod.publish, max_retries=2)
        publish({'ok': 1}, exchange=x, routing_key='r', declare=[q])
        m = q(c.default_channel).get(no_ack=True)
        expect_eq(m.payload, {'ok': 1}, 'published through Connection.ensure')


# ---------------------------------------------------------------------------
# py-amqp directly

@suite.case()
def amqp_connect_tune(ctx):
    c = aconn(ctx, heartbeat=2)
    try:
        expect(c.server_heartbeat > 0, 'broker proposes a heartbeat (got %r)' % c.server_heartbeat)
        expect_eq(c.heartbeat, min(2, c.server_heartbeat), 'negotiated heartbeat')
        expect(c.frame_max >= 4096, 'frame_max at least 4096 (got %r)' % c.frame_max)
        caps = c.server_capabilities
        expect(caps.get('publisher_confirms') and caps.get('consumer_cancel_notify'),
               'capabilities (got %r)' % caps)
        time.sleep(2.5)
        c.heartbeat_tick()
        ch = c.channel()
        ch.queue_declare('', exclusive=True)
    finally:
        c.close()


@suite.case()
def amqp_publish_get_properties(ctx):
    c = aconn(ctx)
    try:
        ch = c.channel()
        q, n, cons = ch.queue_declare('', exclusive=True)
        expect_eq((n, cons), (0, 0), 'declare-ok counts')
        msg = amqp.Message(b'payload', content_type='text/plain', application_headers={'k': 'v', 'n': 7},
                           delivery_mode=2, priority=1, correlation_id='cid', reply_to='rq', message_id='mid',
                           timestamp=1700000000, type='t', app_id='keeltest')
        ch.basic_publish(msg, exchange='', routing_key=q)
        got = None
        for _ in range(50):
            got = ch.basic_get(q, no_ack=False)
            if got:
                break
            time.sleep(0.02)
        expect(got is not None, 'basic.get-ok')
        expect_eq(got.body, b'payload', 'body')
        p = got.properties
        expect_eq((p['content_type'], p['application_headers'], p['delivery_mode'], p['priority'],
                   p['correlation_id'], p['reply_to'], p['message_id'], p['type'], p['app_id']),
                  ('text/plain', {'k': 'v', 'n': 7}, 2, 1, 'cid', 'rq', 'mid', 't', 'keeltest'), 'properties')
        expect_eq(got.delivery_info['routing_key'], q, 'delivery_info routing_key')
        ch.basic_ack(got.delivery_tag)
        expect(ch.basic_get(q) is None, 'empty after ack')
    finally:
        c.close()


@suite.case()
def amqp_consume_drain_cancel(ctx):
    c = aconn(ctx)
    try:
        ch = c.channel()
        q = ch.queue_declare('', exclusive=True, auto_delete=False).queue
        ch.basic_qos(0, 1, False)
        got = []

        def on_msg(m):
            got.append(m.body)
            ch.basic_ack(m.delivery_tag)

        tag = ch.basic_consume(q, callback=on_msg)
        for i in range(3):
            ch.basic_publish(amqp.Message(b'%d' % i), routing_key=q)
        drain_until(c, lambda: len(got) >= 3, what='3 deliveries')
        expect_eq(got, [b'0', b'1', b'2'], 'consumed in order')
        ch.basic_cancel(tag)
        ch.basic_publish(amqp.Message(b'after'), routing_key=q)
        _settle(ch, q, 1)  # 'after' stays queued: no consumer any more
    finally:
        c.close()


def _settle(ch, q, want, timeout=2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ch.queue_declare(q, passive=True).message_count == want:
            return True
        time.sleep(0.02)
    raise CaseFailure('queue %s never reached %d messages' % (q, want))


@suite.case()
def amqp_confirm_select(ctx):
    c = aconn(ctx, confirm_publish=True)
    try:
        ch = c.channel()
        q = ch.queue_declare('', exclusive=True).queue
        for i in range(5):
            ch.basic_publish(amqp.Message(b'%d' % i), routing_key=q)
        expect_eq(ch.queue_declare(q, passive=True).message_count, 5, 'confirmed publishes queued')
        ch2 = c.channel()
        q2 = ch2.queue_declare('', exclusive=True, arguments={'x-max-length': 1,
                                                              'x-overflow': 'reject-publish'}).queue
        ch2.basic_publish(amqp.Message(b'fits'), routing_key=q2)
        try:
            ch2.basic_publish(amqp.Message(b'over'), routing_key=q2)
        except aex.MessageNacked:
            pass
        else:
            raise CaseFailure('publish over a reject-publish limit was not nacked')
    finally:
        c.close()


@suite.case()
def amqp_tx(ctx):
    c = aconn(ctx)
    try:
        ch = c.channel()
        q = ch.queue_declare('', exclusive=True).queue
        ch.tx_select()
        ch.basic_publish(amqp.Message(b'no'), routing_key=q)
        ch.tx_rollback()
        ch.basic_publish(amqp.Message(b'yes'), routing_key=q)
        ch.tx_commit()
        m = ch.basic_get(q, no_ack=True)
        expect(m is not None and m.body == b'yes', 'committed message only (got %r)' % (m and m.body))
        expect(ch.basic_get(q, no_ack=True) is None, 'rolled-back message absent')
    finally:
        c.close()


@suite.case()
def amqp_exchange_bind_and_recover(ctx):
    c = aconn(ctx)
    try:
        ch = c.channel()
        src, dst = ctx.name('src'), ctx.name('dst')
        ch.exchange_declare(src, 'fanout', auto_delete=False)
        ch.exchange_declare(dst, 'fanout', auto_delete=False)
        ch.exchange_bind(dst, src)
        q = ch.queue_declare('', exclusive=True).queue
        ch.queue_bind(q, dst)
        ch.basic_publish(amqp.Message(b'e2e'), exchange=src)
        m = None
        for _ in range(50):
            m = ch.basic_get(q)
            if m:
                break
            time.sleep(0.02)
        expect(m is not None and m.body == b'e2e', 'routed over exchange.bind')
        ch.basic_recover(requeue=True)
        m2 = ch.basic_get(q, no_ack=True)
        expect(m2 is not None and m2.delivery_info['redelivered'], 'recovered and redelivered')
        ch.exchange_unbind(dst, src)
        ch.exchange_delete(src)
        ch.exchange_delete(dst)
    finally:
        c.close()


def _ack_unknown_tag(ch):
    ch.basic_ack(12345)
    ch.queue_declare('', exclusive=True)  # the channel.close arrives here


@suite.case()
def amqp_channel_errors(ctx):
    c = aconn(ctx)
    try:
        for exc, code, fn in (
                (aex.NotFound, 404, lambda ch: ch.queue_declare(ctx.name(), passive=True)),
                (aex.PreconditionFailed, 406, _ack_unknown_tag),
                (aex.AccessRefused, 403, lambda ch: ch.exchange_declare('amq.keeltest', 'direct')),
        ):
            ch = c.channel()
            try:
                fn(ch)
            except exc as e:
                expect_eq(e.reply_code, code, '%s reply code' % exc.__name__)
            except aex.AMQPError as e:
                raise CaseFailure('expected %s (%d), got %r' % (exc.__name__, code, e))
            else:
                raise CaseFailure('expected %s (%d), nothing raised' % (exc.__name__, code))
            expect(c.connected, 'connection stays open after %d' % code)
        ch = c.channel()
        ch.queue_declare('', exclusive=True)
    finally:
        c.close()


@suite.case()
def amqp_resource_locked(ctx):
    a, b = aconn(ctx), aconn(ctx)
    try:
        q = a.channel().queue_declare(ctx.name(), exclusive=True).queue
        try:
            b.channel().queue_declare(q, passive=True)
        except aex.ResourceLocked as e:
            expect_eq(e.reply_code, 405, 'ResourceLocked reply code')
        else:
            raise CaseFailure('another connection could use an exclusive queue')
    finally:
        a.close()
        b.close()


@suite.case()
def amqp_connection_error_503(ctx):
    c = aconn(ctx)
    try:
        ch = c.channel()
        try:
            ch.exchange_declare(ctx.name('x'), 'bogus-type')
        except aex.ConnectionError as e:
            expect_eq(e.reply_code, 503, 'connection-level reply code')
        except aex.AMQPError as e:
            raise CaseFailure('expected a connection error 503, got %r' % e)
        else:
            raise CaseFailure('unknown exchange type accepted')
    finally:
        try:
            c.close()
        except Exception:
            pass


if __name__ == '__main__':
    suite.main()
