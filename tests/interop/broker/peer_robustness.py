#!/usr/bin/python3
"""Protocol robustness: a raw-socket AMQP 0-9-1 client that completes a
correct handshake and then misbehaves in one way per case (bad frame type,
wrong frame-end octet, oversized frame, truncated method, unknown class or
method, content without a content-bearing method, a method on a channel
never opened, a wrong protocol header, ...). It records what the broker
does -- connection.close (reply code, class id, method id), channel.close,
or a plain socket close -- and checks it against EXPECTED below. While each
misbehaving connection waits for its answer, a second, well-behaved
connection publishes and gets a message, and does so again afterwards: one
bad client must not disturb the others.

EXPECTED was derived by running this file against RabbitMQ 3.10 and checked
against the AMQP 0-9-1 specification's reply codes (501 frame-error, 502
syntax-error, 503 command-invalid, 504 channel-error, 505 unexpected-frame,
530 not-allowed, 540 not-implemented: all connection exceptions, so the
answer is connection.close and then the socket closes); keeld is held to it.

usage: peer_robustness.py --host H --port P [--only GLOB] [--list]"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caselib import Suite, CaseFailure, expect, expect_eq  # noqa: E402

suite = Suite('robustness', default_timeout=20)

PROTOCOL_HEADER = b'AMQP\x00\x00\x09\x01'
FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE
FRAME_MAX = 131072  # what the client asks for in tune-ok

# The answers, case by case: a list of acceptable outcomes, RabbitMQ 3.10's
# first. An outcome is ('connection.close', reply code, class id, method id)
# -- class/method None means "not checked" -- ('socket-close',) for a close
# without connection.close, ('protocol-header', bytes) for a header answered
# with the broker's own and a closed socket, ('method', class, method) for a
# normal reply, or ('nothing',) when the broker ignores the frame. Where
# RabbitMQ departs from the AMQP 0-9-1 text, the code the spec names is
# accepted too, and the comment says so.
def cc(code, class_id=0, method_id=0):
    return ('connection.close', code, class_id, method_id)


EXPECTED = {
    'unknown_frame_type': [cc(501)],
    'wrong_frame_end_octet': [cc(501)],
    'oversized_frame': [cc(501)],
    # spec 4.2.3: heartbeat frames must use channel 0, else 501 frame-error
    'heartbeat_on_nonzero_channel': [cc(505), cc(501)],
    # RabbitMQ drops the message without a word; 501/505 are what the spec
    # would suggest for a body that overruns its header's size
    'body_longer_than_declared': [('nothing',), cc(501, None, None), cc(505, None, None)],
    'frame_at_frame_max_accepted': [('method', 60, 71)],
    # 501 "could not decode" (RabbitMQ), or 502 syntax-error
    'truncated_method_payload': [cc(501, 50, 10), cc(502, 50, 10)],
    # RabbitMQ resets the TCP connection; 540 not-implemented / 503
    # command-invalid are the spec's answers
    'unknown_class_id': [('socket-close',), cc(540, None, None), cc(503, None, None)],
    'unknown_method_id': [('socket-close',), cc(540, None, None), cc(503, None, None)],
    'content_header_without_method': [cc(505)],
    'content_body_without_method': [cc(505)],
    'content_header_wrong_class': [cc(505, 60, 40)],
    'method_during_content': [cc(505, 60, 40)],
    'method_on_unopened_channel': [cc(504, 50, 10)],
    'channel_open_twice': [cc(504, 20, 10)],
    # RabbitMQ limits how many channels are open, not their numbers (the
    # spec's channel-max is "the highest channel number")
    'channel_above_channel_max': [('method', 20, 11), cc(504, None, None), cc(530, None, None)],
    'wrong_protocol_header_version': [('protocol-header', PROTOCOL_HEADER)],
    'wrong_protocol_header_garbage': [('protocol-header', PROTOCOL_HEADER)],
    'frame_before_protocol_header': [('protocol-header', PROTOCOL_HEADER)],
    # before connection.open RabbitMQ closes the socket silently (after 3 s)
    'tune_ok_frame_max_below_minimum': [('socket-close',), cc(530, None, None), cc(501, None, None),
                                        cc(503, None, None)],
    # spec: an unknown mechanism makes the server close the socket
    'start_ok_unknown_mechanism': [('socket-close',), cc(403, None, None)],
    'channel_open_before_connection_open': [cc(505), cc(504, None, None), cc(503, None, None), ('socket-close',)],
}


# ---------------------------------------------------------------------------
# a tiny AMQP 0-9-1 codec: only what the handshake and these cases need

def shortstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack('>B', len(b)) + b


def longstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack('>I', len(b)) + b


def table(d):
    out = b''
    for k, v in d.items():
        out += shortstr(k)
        if isinstance(v, bool):
            out += b't' + struct.pack('>B', v)
        elif isinstance(v, int):
            out += b'I' + struct.pack('>i', v)
        elif isinstance(v, dict):
            out += b'F' + table(v)
        else:
            out += b'S' + longstr(v)
    return struct.pack('>I', len(out)) + out


def frame(ftype, channel, payload, end=FRAME_END):
    return struct.pack('>BHI', ftype, channel, len(payload)) + payload + bytes([end])


def method(channel, class_id, method_id, args=b''):
    return frame(FRAME_METHOD, channel, struct.pack('>HH', class_id, method_id) + args)


def content_header(channel, body_size, class_id=60):
    return frame(FRAME_HEADER, channel, struct.pack('>HHQH', class_id, 0, body_size, 0))


def queue_declare_args(name, exclusive=False, auto_delete=False):
    bits = (exclusive << 2) | (auto_delete << 3)
    return struct.pack('>H', 0) + shortstr(name) + bytes([bits]) + table({})


def publish_args(exchange, key):
    return struct.pack('>H', 0) + shortstr(exchange) + shortstr(key) + b'\x00'


class Closed(Exception):
    pass


class Raw:
    """One raw connection: send bytes, read frames with a deadline."""

    def __init__(self, host, port, timeout=5):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        self.channel_max = 0
        self.frame_max = 0
        self.heartbeat = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout('no data')
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b''
            if not chunk:
                raise Closed()
            self.buf += chunk

    def read_frame(self, timeout=5):
        """(type, channel, payload); raises Closed on EOF, socket.timeout."""
        deadline = time.monotonic() + timeout
        self._fill(7, deadline)
        if self.buf[:4] == b'AMQP':
            self._fill(8, deadline)
            hdr, self.buf = self.buf[:8], self.buf[8:]
            return ('protocol-header', 0, hdr)
        ftype, ch, size = struct.unpack('>BHI', self.buf[:7])
        self._fill(7 + size + 1, deadline)
        payload = self.buf[7:7 + size]
        end = self.buf[7 + size]
        self.buf = self.buf[8 + size:]
        if end != FRAME_END:
            raise CaseFailure('broker sent a frame with end octet 0x%02x' % end)
        return (ftype, ch, payload)

    def expect_method(self, class_id, method_id, timeout=5, skip_heartbeats=True):
        while True:
            ftype, ch, payload = self.read_frame(timeout)
            if ftype == FRAME_HEARTBEAT and skip_heartbeats:
                continue
            if ftype != FRAME_METHOD:
                raise CaseFailure('expected method %d.%d, got frame type %r' % (class_id, method_id, ftype))
            cid, mid = struct.unpack('>HH', payload[:4])
            if (cid, mid) == (10, 50):
                code, text, c2, m2 = parse_close(payload)
                raise CaseFailure('expected method %d.%d, got connection.close %d %s (%d.%d)'
                                  % (class_id, method_id, code, text, c2, m2))
            if (cid, mid) != (class_id, method_id):
                raise CaseFailure('expected method %d.%d, got %d.%d' % (class_id, method_id, cid, mid))
            return ch, payload[4:]

    def handshake(self, vhost='/', user='guest', password='guest', heartbeat=0, frame_max=FRAME_MAX,
                  stop_after=None, mechanism='PLAIN'):
        """The client side of connection.start .. open-ok. stop_after names
        a step ('start', 'tune') after which to return early."""
        self.send(PROTOCOL_HEADER)
        ch, args = self.expect_method(10, 10)
        if stop_after == 'start':
            return
        props = table({'product': 'keel robustness test', 'capabilities': {'authentication_failure_close': True}})
        self.send(method(0, 10, 11, props + shortstr(mechanism) + longstr('\0%s\0%s' % (user, password)) +
                         shortstr('en_US')))
        ch, args = self.expect_method(10, 30)
        self.channel_max, self.frame_max, self.heartbeat = struct.unpack('>HIH', args[:8])
        if stop_after == 'tune':
            return
        self.send(method(0, 10, 31, struct.pack('>HIH', self.channel_max, frame_max, heartbeat)))
        self.send(method(0, 10, 40, shortstr(vhost) + shortstr('') + b'\x00'))
        self.expect_method(10, 41)

    def open_channel(self, n):
        self.send(method(n, 20, 10, shortstr('')))
        self.expect_method(20, 11)


def parse_close(payload):
    code = struct.unpack('>H', payload[4:6])[0]
    n = payload[6]
    text = payload[7:7 + n].decode('utf-8', 'replace')
    c, m = struct.unpack('>HH', payload[7 + n:11 + n])
    return code, text, c, m


def observe(conn, timeout=5):
    """What the broker answers: ('connection.close', code, class, method,
    text), ('channel.close', ...), ('protocol-header', bytes),
    ('socket-close',) or ('nothing',). After a connection.close it answers
    close-ok and checks the broker then closes the socket."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ftype, ch, payload = conn.read_frame(max(0.01, deadline - time.monotonic()))
        except Closed:
            return ('socket-close',)
        except socket.timeout:
            return ('nothing',)
        if ftype == 'protocol-header':
            try:
                conn.read_frame(2)
                closed = False
            except Closed:
                closed = True
            except socket.timeout:
                closed = False
            return ('protocol-header', payload, closed)
        if ftype == FRAME_HEARTBEAT:
            continue
        if ftype == FRAME_METHOD:
            cid, mid = struct.unpack('>HH', payload[:4])
            if (cid, mid) == (10, 50):
                code, text, c, m = parse_close(payload)
                try:
                    conn.send(method(0, 10, 51))
                except OSError:
                    pass
                # RabbitMQ closes at once, or 3 s later when the bad frame
                # left the stream unreadable
                closed_after = _wait_eof(conn, 5)
                return ('connection.close', code, c, m, text, closed_after)
            if (cid, mid) == (20, 40):
                code, text, c, m = parse_close(payload)
                return ('channel.close', code, c, m, text, ch)
            return ('method', cid, mid)


def _wait_eof(conn, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn.read_frame(max(0.01, deadline - time.monotonic()))
        except Closed:
            return True
        except socket.timeout:
            return False
    return False


class Good:
    """The well-behaved second connection: publish + get round trips."""

    def __init__(self, ctx):
        self.c = Raw(ctx.host, ctx.port)
        self.c.handshake(ctx.vhost, ctx.user, ctx.password)
        self.c.open_channel(1)
        self.q = ctx.name('good')
        self.c.send(method(1, 50, 10, queue_declare_args(self.q, exclusive=True)))
        self.c.expect_method(50, 11)
        self.n = 0

    def round_trip(self, what):
        self.n += 1
        body = ('good-%d' % self.n).encode()
        try:
            self.c.send(method(1, 60, 40, publish_args('', self.q)) + content_header(1, len(body)) +
                        frame(FRAME_BODY, 1, body))
            self.c.send(method(1, 60, 70, struct.pack('>H', 0) + shortstr(self.q) + b'\x01'))
            self.c.expect_method(60, 71)
            ftype, ch, payload = self.c.read_frame()
            expect_eq(ftype, FRAME_HEADER, 'content header after get-ok')
            ftype, ch, got = self.c.read_frame()
            expect_eq((ftype, got), (FRAME_BODY, body), 'body')
        except (CaseFailure, Closed, OSError) as e:
            raise CaseFailure('the well-behaved second connection failed %s: %s' % (what, e or type(e).__name__))

    def close(self):
        try:
            self.c.send(method(0, 10, 50, struct.pack('>H', 200) + shortstr('bye') + struct.pack('>HH', 0, 0)))
            self.c.expect_method(10, 51, timeout=3)
        finally:
            self.c.close()


def describe(obs):
    if obs[0] in ('connection.close', 'channel.close'):
        return '%s %d (class %d, method %d) %r' % (obs[0], obs[1], obs[2], obs[3], obs[4])
    if obs[0] == 'protocol-header':
        return 'protocol header %r%s' % (obs[1], ' then socket close' if obs[2] else ' (socket left open)')
    if obs[0] == 'method':
        return 'method %d.%d' % (obs[1], obs[2])
    return obs[0]


def outcome_text(o):
    if o[0] == 'connection.close':
        return 'connection.close %d%s' % (o[1], '' if o[2] is None else ' (class %d, method %d)' % (o[2], o[3]))
    if o[0] == 'method':
        return 'method %d.%d' % (o[1], o[2])
    if o[0] == 'protocol-header':
        return 'protocol header %r then socket close' % o[1]
    return o[0]


def matches(obs, want):
    if obs[0] != want[0]:
        return False
    if want[0] == 'connection.close':
        return obs[1] == want[1] and (want[2] is None or (obs[2], obs[3]) == (want[2], want[3])) and obs[5]
    if want[0] == 'method':
        return obs[1:3] == want[1:3]
    if want[0] == 'protocol-header':
        return obs[1] == want[1] and obs[2]
    return True


def run_bad(ctx, name, setup, misbehave):
    """setup(conn) brings a fresh connection to the state the case needs;
    misbehave(conn) sends the bad bytes. The broker's answer must match
    EXPECTED[name], and a second connection must keep working."""
    good = Good(ctx)
    good.round_trip('before the misbehaving connection')
    bad = Raw(ctx.host, ctx.port)
    try:
        setup(bad)
        misbehave(bad)
        good.round_trip('while the other connection misbehaves')
        obs = observe(bad, timeout=4.5)
    finally:
        bad.close()
    good.round_trip('after the misbehaving connection was closed')
    good.close()
    wants = EXPECTED[name]
    if not any(matches(obs, w) for w in wants):
        got = describe(obs)
        if obs[0] == 'connection.close' and not obs[5]:
            got += ', and the socket stayed open 5 s after close-ok'
        raise CaseFailure('expected %s; got %s' % (' or '.join(outcome_text(w) for w in wants), got))


def opened(conn, ctx=None):
    conn.handshake()
    conn.open_channel(1)


def case(name, setup, misbehave, timeout=20):
    def fn(ctx):
        def s(conn):
            if setup == 'open':
                conn.handshake(ctx.vhost, ctx.user, ctx.password)
                conn.open_channel(1)
            elif setup == 'connected':
                conn.handshake(ctx.vhost, ctx.user, ctx.password)
            elif setup is not None:
                setup(conn, ctx)
        run_bad(ctx, name, s, misbehave)
    fn.__name__ = name
    suite.case(name, timeout=timeout)(fn)


# --- frame-level errors ------------------------------------------------------
case('unknown_frame_type', 'open', lambda c: c.send(frame(9, 0, b'\x00\x00\x00\x00')))
case('wrong_frame_end_octet', 'open',
     lambda c: c.send(method(1, 50, 10, queue_declare_args('keeltest.robust.endoctet'))[:-1] + b'\x00'))
case('oversized_frame', 'open',
     lambda c: c.send(frame(FRAME_BODY, 1, b'x' * (FRAME_MAX + 1))))


def _publish_at_frame_max(c):
    # a body frame exactly as large as the negotiated frame_max allows
    # (frame_max counts the 8 octets of frame header and end)
    body = bytes(range(256)) * ((FRAME_MAX - 8) // 256)
    q = 'keeltest.robust.framemax.%d' % os.getpid()
    c.send(method(1, 50, 10, queue_declare_args(q, exclusive=True)))
    c.expect_method(50, 11)
    c.send(method(1, 60, 40, publish_args('', q)) + content_header(1, len(body)) + frame(FRAME_BODY, 1, body))
    c.send(method(1, 60, 70, struct.pack('>H', 0) + shortstr(q) + b'\x01'))


case('frame_at_frame_max_accepted', 'open', _publish_at_frame_max)
case('heartbeat_on_nonzero_channel', 'open', lambda c: c.send(frame(FRAME_HEARTBEAT, 1, b'')))
case('body_longer_than_declared', 'open',
     lambda c: c.send(method(1, 60, 40, publish_args('', 'keeltest.robust.nobody')) + content_header(1, 4) +
                      frame(FRAME_BODY, 1, b'12345678')))

# --- method-level errors -------------------------------------------------------
# queue.declare cut after the queue name's length octet
case('truncated_method_payload', 'open',
     lambda c: c.send(frame(FRAME_METHOD, 1, struct.pack('>HHH', 50, 10, 0) + b'\x20')))
case('unknown_class_id', 'open', lambda c: c.send(method(1, 999, 10, b'\x00\x00')))
case('unknown_method_id', 'open', lambda c: c.send(method(1, 50, 99, b'\x00\x00')))

# --- content errors ------------------------------------------------------------
case('content_header_without_method', 'open', lambda c: c.send(content_header(1, 5)))
case('content_body_without_method', 'open', lambda c: c.send(frame(FRAME_BODY, 1, b'hello')))
case('content_header_wrong_class', 'open',
     lambda c: c.send(method(1, 60, 40, publish_args('', 'keeltest.robust.nobody')) + content_header(1, 5, class_id=50)))
case('method_during_content', 'open',
     lambda c: c.send(method(1, 60, 40, publish_args('', 'keeltest.robust.nobody')) + content_header(1, 5) +
                      method(1, 50, 10, queue_declare_args('keeltest.robust.mid'))))

# --- channel errors ------------------------------------------------------------
case('method_on_unopened_channel', 'open', lambda c: c.send(method(5, 50, 10, queue_declare_args('keeltest.r.unopened'))))
case('channel_open_twice', 'open', lambda c: c.send(method(1, 20, 10, shortstr(''))))
case('channel_above_channel_max', 'connected',
     lambda c: c.send(method(c.channel_max + 1 if c.channel_max else 65535, 20, 10, shortstr(''))))

# --- handshake errors ----------------------------------------------------------
case('wrong_protocol_header_version', None, lambda c: c.send(b'AMQP\x00\x00\x09\x02'))
case('wrong_protocol_header_garbage', None, lambda c: c.send(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
case('frame_before_protocol_header', None, lambda c: c.send(method(0, 10, 11, b'\x00' * 16)))


def _tune_small(conn, ctx):
    conn.handshake(ctx.vhost, ctx.user, ctx.password, stop_after='tune')


case('tune_ok_frame_max_below_minimum', _tune_small,
     lambda c: c.send(method(0, 10, 31, struct.pack('>HIH', c.channel_max, 1024, 0)) +
                      method(0, 10, 40, shortstr('/') + shortstr('') + b'\x00')))


def _start_only(conn, ctx):
    conn.handshake(ctx.vhost, ctx.user, ctx.password, stop_after='start')


case('start_ok_unknown_mechanism', _start_only,
     lambda c: c.send(method(0, 10, 11, table({}) + shortstr('NO-SUCH-MECH') + longstr('x') + shortstr('en_US'))))


def _tuned_not_opened(conn, ctx):
    conn.handshake(ctx.vhost, ctx.user, ctx.password, stop_after='tune')
    conn.send(method(0, 10, 31, struct.pack('>HIH', conn.channel_max, FRAME_MAX, 0)))


case('channel_open_before_connection_open', _tuned_not_opened, lambda c: c.send(method(1, 20, 10, shortstr(''))))


# --- heartbeats ----------------------------------------------------------------
@suite.case(timeout=20)
def heartbeats_sent_by_broker(ctx):
    c = Raw(ctx.host, ctx.port)
    try:
        c.handshake(ctx.vhost, ctx.user, ctx.password, heartbeat=1)
        expect(c.heartbeat > 0, 'connection.tune proposes a heartbeat (got %d)' % c.heartbeat)
        seen = 0
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline and seen < 2:
            c.send(frame(FRAME_HEARTBEAT, 0, b''))
            try:
                ftype, ch, payload = c.read_frame(0.5)
            except socket.timeout:
                continue
            if ftype == FRAME_HEARTBEAT:
                expect_eq((ch, payload), (0, b''), 'heartbeat frame channel and payload')
                seen += 1
        expect(seen >= 2, 'broker sent %d heartbeat frames in 3.5s with heartbeat=1, expected 2 or more' % seen)
    finally:
        c.close()


@suite.case(timeout=20)
def silent_client_dropped_after_missed_heartbeats(ctx):
    c = Raw(ctx.host, ctx.port)
    try:
        c.handshake(ctx.vhost, ctx.user, ctx.password, heartbeat=1)
        t0 = time.monotonic()
        obs = observe(c, timeout=8)
        took = time.monotonic() - t0
        expect(obs[0] in ('socket-close', 'connection.close'),
               'a client silent for 8 heartbeat periods is disconnected (got %s)' % describe(obs))
        expect(took < 6, 'disconnected within 6s (took %.1fs)' % took)
    finally:
        c.close()


@suite.case()
def heartbeat_zero_means_none(ctx):
    c = Raw(ctx.host, ctx.port)
    try:
        c.handshake(ctx.vhost, ctx.user, ctx.password, heartbeat=0)
        try:
            ftype, _, _ = c.read_frame(2.5)
            raise CaseFailure('broker sent frame type %r to an idle client that asked for no heartbeats' % ftype)
        except socket.timeout:
            pass
        c.open_channel(1)
    finally:
        c.close()


@suite.case()
def connection_close_handshake(ctx):
    c = Raw(ctx.host, ctx.port)
    try:
        c.handshake(ctx.vhost, ctx.user, ctx.password)
        c.open_channel(1)
        c.send(method(1, 20, 40, struct.pack('>H', 200) + shortstr('ok') + struct.pack('>HH', 0, 0)))
        c.expect_method(20, 41)
        c.open_channel(1)  # a closed channel number can be opened again
        c.send(method(0, 10, 50, struct.pack('>H', 200) + shortstr('bye') + struct.pack('>HH', 0, 0)))
        c.expect_method(10, 51)  # then the client, which asked, closes the socket
    finally:
        c.close()


@suite.case()
def split_frames_byte_by_byte(ctx):
    """A well-formed publish sent one byte per write, slowly, still works."""
    c = Raw(ctx.host, ctx.port)
    try:
        c.handshake(ctx.vhost, ctx.user, ctx.password)
        c.open_channel(1)
        q = ctx.name()
        c.send(method(1, 50, 10, queue_declare_args(q, exclusive=True)))
        c.expect_method(50, 11)
        data = (method(1, 60, 40, publish_args('', q)) + content_header(1, 5) + frame(FRAME_BODY, 1, b'bytes') +
                method(1, 60, 70, struct.pack('>H', 0) + shortstr(q) + b'\x01'))
        for i in range(len(data)):
            c.send(data[i:i + 1])
            if i % 16 == 0:
                time.sleep(0.001)
        c.expect_method(60, 71)
        c.read_frame()
        ftype, ch, body = c.read_frame()
        expect_eq(body, b'bytes', 'body published byte by byte')
    finally:
        c.close()


if __name__ == '__main__':
    suite.main()
