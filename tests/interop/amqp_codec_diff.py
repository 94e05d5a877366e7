#!/usr/bin/python3
"""Differential test of keel's AMQP 0-9-1 codec against pika 1.2's.

Usage: amqp_codec_diff.py PROBE [--seed N] [--count N] [--verbose]

PROBE is tests/amqp/amqp_probe (keel's codec behind a JSON-lines pipe).
Debian's python3-pika is the independent encoder and decoder; py-amqp
(python3-amqp) is a second opinion on the method table. The cases:

  spec      keel's generated method table against pika.spec (ids, names,
            argument names, synchronous, has-content) and py-amqp (ids and
            the argument signatures it reads and writes)
  method    random methods of every class: pika's frame bytes decode in
            keel to the values pika was given and re-encode to the same
            bytes; keel's encoding of those values is byte-identical to
            pika's; pika decodes keel's bytes back to the same method
  props     the same both ways for content header frames with random
            subsets of the 14 basic properties
  table     tables with every RabbitMQ field type encoded by keel and read
            by pika's decoder (compared through pika's known quirks, below),
            and pika-typed tables encoded by both, byte for byte
  stream    streams of heartbeat, method, header and body frames marshalled
            by pika, split and decoded by keel; keel's content splitting
            read back by pika's decode_frame
  reject    corrupted frames (bad frame-end, unknown method, unknown frame
            type) that pika and keel must both refuse

pika's field-table codec differs from RabbitMQ's in ways the comparison
allows for rather than counts: pika encodes ints as 'I' (32-bit) or 'l',
str as 'S', bytes as 'x', and cannot write b, B, s, u, i, f, d or L; when
decoding it reads 'b' unsigned and 'B' signed (swapped), 'l' as unsigned
64-bit, and turns 'f' and 'd' into ints; duplicate keys collapse. So
keel->pika table cases use unique UTF-8 keys, finite floats and timestamps
datetime can hold, and compare against what pika's decoder makes of each
typed value.

Prints one line: SUMMARY: amqp codec differential: N cases, M disagreements
and exits 1 when M > 0.
"""
import argparse
import calendar
import datetime
import decimal
import inspect
import json
import random
import re
import struct
import subprocess
import sys

import amqp.channel
import amqp.connection
import amqp.spec
import pika.data
import pika.exceptions
import pika.frame
import pika.spec


class Probe:
    def __init__(self, path):
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, req):
        self.proc.stdin.write(json.dumps(req) + '\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit('amqp_codec_diff: probe died')
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class Tally:
    def __init__(self, verbose):
        self.cases = 0
        self.bad = 0
        self.verbose = verbose
        self.per_kind = {}

    def check(self, kind, ok, what):
        self.cases += 1
        n, b = self.per_kind.get(kind, (0, 0))
        self.per_kind[kind] = (n + 1, b + (0 if ok else 1))
        if not ok:
            self.bad += 1
            if self.bad <= 25 or self.verbose:
                print('DISAGREE [%s] %s' % (kind, what))


def hx(b):
    return b.hex()


def as_bytes(v):
    return v.encode('utf-8') if isinstance(v, str) else bytes(v)


def pika_method_name(keel_name):
    cls, meth = keel_name.split('.')
    return cls.capitalize() + '.' + ''.join(p.capitalize() for p in meth.split('-'))


def pika_arg(field):
    return {'global': 'global_qos'}.get(field.replace('-', '_'), field.replace('-', '_'))


# ---------------------------------------------------------------------------
# spec


PYAMQP_TYPES = {'o': 'octet', 'B': 'short', 'l': 'long', 'L': 'longlong', 's': 'shortstr', 'S': 'longstr',
                'F': 'table', 'b': 'bit', 'T': 'timestamp'}


# Where py-amqp's own signatures are wrong, pika and the spec decide; the
# entry records what py-amqp says so the exception stays exact.
PYAMQP_KNOWN = {
    (10, 20): ('s', 'py-amqp reads connection.secure challenge as a shortstr; the spec, RabbitMQ and pika '
                    'say longstr'),
}


def pyamqp_signatures():
    """(class, method) -> argsig strings py-amqp reads or writes."""
    sigs = {}
    for cls in (amqp.connection.Connection, amqp.channel.Channel):
        for m in cls._METHODS.values():
            if m.args is not None:
                sigs.setdefault(m.method_sig, set()).add(m.args)
        for _, fn in inspect.getmembers(cls, inspect.isfunction):
            params = inspect.signature(fn).parameters
            if 'argsig' not in params:
                continue
            refs = re.findall(r'spec\.(\w+)\.(\w+)', inspect.getsource(fn))
            if refs:
                sig = getattr(getattr(amqp.spec, refs[0][0]), refs[0][1])
                sigs.setdefault(sig, set()).add(params['argsig'].default)
    return sigs


def check_spec(t, methods):
    by_id = {m['id']: m for m in methods}
    for idx, cls in sorted(pika.spec.methods.items()):
        m = by_id.get(idx)
        if m is None:
            t.check('spec', False, 'pika method %s (%#x) missing in keel' % (cls.NAME, idx))
            continue
        inst = cls()
        args = list(inspect.signature(cls.__init__).parameters)[1:]
        problems = []
        if pika_method_name(m['name']) != cls.NAME:
            problems.append('name %s vs %s' % (m['name'], cls.NAME))
        if [pika_arg(f) for f, _ in m['fields']] != args:
            problems.append('fields %s vs %s' % ([f for f, _ in m['fields']], args))
        if m['sync'] != inst.synchronous:
            problems.append('sync %s vs %s' % (m['sync'], inst.synchronous))
        if m['content'] != pika.spec.has_content(idx):
            problems.append('content')
        t.check('spec', not problems, '%s: %s' % (m['name'], '; '.join(problems)))
    extra = sorted(m['name'] for m in methods if m['id'] not in pika.spec.methods)
    t.check('spec', extra == ['connection.update-secret', 'connection.update-secret-ok'],
            'keel methods pika lacks: %s' % extra)

    sigs = pyamqp_signatures()
    for cname in ('Connection', 'Channel', 'Exchange', 'Queue', 'Basic', 'Confirm', 'Tx'):
        pcls = getattr(amqp.spec, cname)
        for attr, val in vars(pcls).items():
            if not isinstance(val, tuple):
                continue
            m = by_id.get(val[0] << 16 | val[1])
            want = cname.lower() + '.' + re.sub(r'(?<!^)([A-Z])', r'-\1', attr).lower()
            ok = m is not None and m['name'] == want
            if val in PYAMQP_KNOWN:
                said, why = PYAMQP_KNOWN[val]
                print('note: %s' % why)
                t.check('spec', ok and sigs.get(val) == {said}, 'py-amqp %s.%s no longer says %r' % (cname, attr, said))
                continue
            for sig in sorted(sigs.get(val, ())):
                types = [PYAMQP_TYPES.get(c, c) for c in sig]
                ours = [ty for _, ty in m['fields']] if m else []
                # py-amqp may stop reading before trailing bits it ignores.
                ok = ok and ours[:len(types)] == types and all(ty == 'bit' for ty in ours[len(types):])
            t.check('spec', ok, 'py-amqp %s.%s %s: keel %s' % (cname, attr, sorted(sigs.get(val, ())), m and m['fields']))


# ---------------------------------------------------------------------------
# random values


def rand_text(rng, max_bytes):
    """A random str whose UTF-8 fits max_bytes."""
    alphabet = ['a', 'Z', '0', '.', '-', ' ', '\u00e9', '\u20ac', '\U0001f407', '\u4e2d', '\x00', '\x7f']
    out, size = [], 0
    for _ in range(rng.randrange(0, 40 if rng.random() < 0.9 else 300)):
        c = rng.choice(alphabet)
        n = len(c.encode('utf-8'))
        if size + n > max_bytes:
            break
        out.append(c)
        size += n
    return ''.join(out)


def rand_bytes(rng, n):
    return bytes(rng.randrange(256) for _ in range(n))


def rand_int(rng, bits, signed):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    r = rng.random()
    if r < 0.2:
        return rng.choice([lo, hi, 0, 1, -1 if signed else 2])
    return rng.randint(lo, hi)


def rand_pika_value(rng, depth):
    kinds = ['str', 'bytes', 'bool', 'int', 'bigint', 'decimal', 'datetime', 'none']
    if depth < 4:
        kinds += ['dict', 'list']
    k = rng.choice(kinds)
    if k == 'str':
        return rand_text(rng, 200)
    if k == 'bytes':
        return rand_bytes(rng, rng.randrange(20))
    if k == 'bool':
        return rng.random() < 0.5
    if k == 'int':
        return rand_int(rng, 32, True)
    if k == 'bigint':
        return rand_int(rng, 64, True)
    if k == 'decimal':
        return decimal.Decimal(rng.randint(-10**6, 10**6)).scaleb(-rng.randrange(0, 6))
    if k == 'datetime':
        return datetime.datetime.utcfromtimestamp(rng.randrange(0, 4102444800))
    if k == 'none':
        return None
    if k == 'dict':
        return rand_pika_table(rng, depth + 1)
    return [rand_pika_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def rand_pika_table(rng, depth=1):
    return {rand_text(rng, 30): rand_pika_value(rng, depth) for _ in range(rng.randrange(6))}


def pika_typed(v):
    """The keel typed value pika's encoder writes for a Python value."""
    if isinstance(v, str):
        return ['S', hx(v.encode('utf-8'))]
    if isinstance(v, bytes):
        return ['x', hx(v)]
    if isinstance(v, bool):
        return ['t', v]
    if isinstance(v, int):
        return ['I', v] if -2**31 <= v < 2**31 else ['l', v]
    if isinstance(v, decimal.Decimal):
        v = v.normalize()
        exp = v.as_tuple().exponent
        if exp < 0:
            return ['D', -exp, int(v * (decimal.Decimal(10) ** -exp))]
        return ['D', 0, int(v)]
    if isinstance(v, datetime.datetime):
        return ['T', str(calendar.timegm(v.utctimetuple()))]
    if isinstance(v, dict):
        return ['F', pika_typed_table(v)]
    if isinstance(v, list):
        return ['A', [pika_typed(x) for x in v]]
    if v is None:
        return ['V']
    raise TypeError(v)


def pika_typed_table(d):
    return [[hx(k.encode('utf-8')), pika_typed(v)] for k, v in (d or {}).items()]


def rand_field(rng, ftype, utf8):
    """(python value for pika, keel JSON value)."""
    if ftype == 'octet':
        v = rand_int(rng, 8, False)
        return v, v
    if ftype == 'short':
        v = rand_int(rng, 16, False)
        return v, v
    if ftype == 'long':
        v = rand_int(rng, 32, False)
        return v, v
    if ftype in ('longlong', 'timestamp'):
        v = rand_int(rng, 64, False)
        return v, str(v)
    if ftype == 'bit':
        v = rng.random() < 0.5
        return v, v
    if ftype == 'shortstr':
        if not utf8 and rng.random() < 0.2:
            v = rand_bytes(rng, rng.randrange(30))  # content methods skip the UTF-8 check
        else:
            v = rand_text(rng, 255)
        return v, hx(as_bytes(v))
    if ftype == 'longstr':
        v = rand_bytes(rng, rng.randrange(300)) if rng.random() < 0.5 else rand_text(rng, 1000)
        return v, hx(as_bytes(v))
    if ftype == 'table':
        v = rand_pika_table(rng)
        return v, pika_typed_table(v)
    raise ValueError(ftype)


def pika_decoded(ftype, v):
    """What pika's decoder should return for a field it was given v for:
    through pika_view for tables (pika's lossy types), bytes for strings."""
    if ftype == 'table':
        return norm_pika(pika_view(['F', pika_typed_table(v)]))
    return norm_pika(v)


def norm_pika(v):
    """Python values as pika decodes them, for comparing two decodes."""
    if isinstance(v, str):
        return v.encode('utf-8')
    if isinstance(v, dict):
        return {norm_pika(k): norm_pika(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm_pika(x) for x in v]
    return v


# ---------------------------------------------------------------------------
# methods and properties


def check_methods(t, probe, rng, methods, count):
    usable = [m for m in methods if m['id'] in pika.spec.methods]
    for i in range(count):
        m = usable[i % len(usable)] if i < len(usable) else rng.choice(usable)
        cls = pika.spec.methods[m['id']]
        kwargs, fields = {}, {}
        for name, ftype in m['fields']:
            pv, kv = rand_field(rng, ftype, not m['content'])
            kwargs[pika_arg(name)] = pv
            fields[name] = kv
        channel = rng.randrange(65536)
        pbytes = pika.frame.Method(channel, cls(**kwargs)).marshal()
        what = '%s %s' % (m['name'], json.dumps(fields)[:300])

        r = probe.ask({'op': 'decode', 'hex': hx(pbytes)})
        frames = r.get('frames', [])
        ok = 'error' not in r and len(frames) == 1 and frames[0]['channel'] == channel
        ok = ok and frames[0]['method']['id'] == m['id'] and frames[0]['method']['fields'] == fields
        t.check('method', ok, 'keel decoding pika: %s -> %s' % (what, json.dumps(r)[:300]))
        t.check('method', r.get('reencode') == hx(pbytes), 'keel re-encoding pika\'s bytes: %s' % what)

        r = probe.ask({'op': 'encode', 'frames': [{'type': 'method', 'channel': channel, 'id': m['id'], 'fields': fields}]})
        t.check('method', r.get('hex') == hx(pbytes), 'keel encoding vs pika: %s -> %s' % (what, r))
        try:
            used, fr = pika.frame.decode_frame(bytes.fromhex(r.get('hex', '')))
            ok = used == len(pbytes) and fr.channel_number == channel and fr.method.INDEX == m['id']
            for name, ftype in m['fields']:
                ok = ok and pika_decoded(ftype, kwargs[pika_arg(name)]) == norm_pika(getattr(fr.method, pika_arg(name)))
        except Exception:  # pika raising is a disagreement too
            ok = False
        t.check('method', ok, 'pika decoding keel: %s' % what)


PROPS = ['content-type', 'content-encoding', 'headers', 'delivery-mode', 'priority', 'correlation-id', 'reply-to',
         'expiration', 'message-id', 'timestamp', 'type', 'user-id', 'app-id', 'cluster-id']
PROP_TYPES = {'headers': 'table', 'delivery-mode': 'octet', 'priority': 'octet', 'timestamp': 'timestamp'}


def check_props(t, probe, rng, count):
    for _ in range(count):
        kwargs, props = {}, {}
        for name in PROPS:
            if rng.random() < 0.5:
                pv, kv = rand_field(rng, PROP_TYPES.get(name, 'shortstr'), True)
                kwargs[name.replace('-', '_')] = pv
                props[name] = kv
        channel = rng.randrange(1, 65536)
        body_size = rand_int(rng, 64, False)
        pbytes = pika.frame.Header(channel, body_size, pika.spec.BasicProperties(**kwargs)).marshal()
        what = json.dumps(props)[:300]
        r = probe.ask({'op': 'decode', 'hex': hx(pbytes)})
        frames = r.get('frames', [])
        ok = 'error' not in r and len(frames) == 1 and frames[0]['props'] == props
        ok = ok and frames[0]['body_size'] == str(body_size) and frames[0]['channel'] == channel
        t.check('props', ok, 'keel decoding pika header: %s -> %s' % (what, json.dumps(r)[:300]))
        t.check('props', r.get('reencode') == hx(pbytes), 'keel re-encoding pika header: %s' % what)
        r = probe.ask({'op': 'encode', 'frames': [{'type': 'header', 'channel': channel, 'body_size': str(body_size),
                                                    'props': props}]})
        t.check('props', r.get('hex') == hx(pbytes), 'keel encoding header vs pika: %s' % what)
        try:
            _, fr = pika.frame.decode_frame(bytes.fromhex(r.get('hex', '')))
            ok = fr.body_size == body_size
            for name in PROPS:
                attr = name.replace('-', '_')
                got = getattr(fr.properties, attr)
                if attr in kwargs:
                    ok = ok and pika_decoded(PROP_TYPES.get(name, 'shortstr'), kwargs[attr]) == norm_pika(got)
                else:
                    ok = ok and got is None
        except Exception:
            ok = False
        t.check('props', ok, 'pika decoding keel header: %s' % what)


# ---------------------------------------------------------------------------
# tables with every RabbitMQ type, keel -> pika


def rand_typed(rng, depth):
    types = list('tbBsuIilLfdDSxTV') + (['F', 'A'] if depth < 4 else [])
    ty = rng.choice(types)
    ints = {'b': (8, True), 'B': (8, False), 's': (16, True), 'u': (16, False), 'I': (32, True), 'i': (32, False),
            'l': (64, True), 'L': (64, True)}
    if ty == 't':
        return ['t', rng.random() < 0.5]
    if ty in ints:
        return [ty, rand_int(rng, *ints[ty])]
    if ty == 'f':
        x = rng.choice([0.0, -1.5, 1e30, rng.uniform(-1e9, 1e9)])
        return ['f', hx(struct.pack('>f', x))]
    if ty == 'd':
        x = rng.choice([0.0, -2.5, 1e300, rng.uniform(-1e15, 1e15)])
        return ['d', hx(struct.pack('>d', x))]
    if ty == 'D':
        return ['D', rng.randrange(10), rand_int(rng, 32, True)]
    if ty == 'S':
        return ['S', hx(rand_text(rng, 100).encode('utf-8') if rng.random() < 0.8 else rand_bytes(rng, 10))]
    if ty == 'x':
        return ['x', hx(rand_bytes(rng, rng.randrange(20)))]
    if ty == 'T':
        return ['T', str(rng.randrange(0, 253402300800))]
    if ty == 'V':
        return ['V']
    if ty == 'F':
        return ['F', rand_typed_table(rng, depth + 1)]
    return ['A', [rand_typed(rng, depth + 1) for _ in range(rng.randrange(5))]]


def rand_typed_table(rng, depth=1):
    keys = {rand_text(rng, 30) for _ in range(rng.randrange(7))}
    return [[hx(k.encode('utf-8')), rand_typed(rng, depth)] for k in sorted(keys)]


def pika_view(v):
    """What pika's decoder makes of a keel typed value."""
    ty, rest = v[0], v[1:]
    if ty == 't':
        return bool(rest[0])
    if ty == 'b':
        return rest[0] & 0xFF  # pika reads 'b' unsigned
    if ty == 'B':
        return rest[0] - 256 if rest[0] > 127 else rest[0]  # and 'B' signed
    if ty in 'suIiL':
        return rest[0]
    if ty == 'l':
        return rest[0] & 0xFFFFFFFFFFFFFFFF  # 'l' as unsigned 64-bit
    if ty == 'f':
        return int(struct.unpack('>f', bytes.fromhex(rest[0]))[0])  # floats become ints
    if ty == 'd':
        return int(struct.unpack('>d', bytes.fromhex(rest[0]))[0])
    if ty == 'D':
        return decimal.Decimal(rest[1]) * (decimal.Decimal(10) ** -rest[0])
    if ty in 'Sx':
        b = bytes.fromhex(rest[0])
        if ty == 'S':
            try:
                return b.decode('utf-8')
            except UnicodeDecodeError:
                return b
        return b
    if ty == 'T':
        return datetime.datetime.utcfromtimestamp(int(rest[0]))
    if ty == 'V':
        return None
    if ty == 'F':
        return {bytes.fromhex(k).decode('utf-8'): pika_view(x) for k, x in rest[0]}
    if ty == 'A':
        return [pika_view(x) for x in rest[0]]
    raise ValueError(ty)


def check_tables(t, probe, rng, count):
    for _ in range(count):
        # keel -> pika with every type
        typed = rand_typed_table(rng)
        r = probe.ask({'op': 'encode_table', 'table': typed})
        what = json.dumps(typed)[:300]
        try:
            got, used = pika.data.decode_table(bytes.fromhex(r['hex']), 0)
            ok = got == pika_view(['F', typed]) and used == len(r['hex']) // 2
        except Exception as e:
            ok, got = False, repr(e)
        t.check('table', ok, 'pika decoding keel table: %s -> %r' % (what, got))
        back = probe.ask({'op': 'decode_table', 'hex': r.get('hex', '')})
        t.check('table', back.get('table') == typed, 'keel table round trip: %s' % what)

        # pika -> keel, both encoders byte for byte
        d = rand_pika_table(rng)
        pieces = []
        pika.data.encode_table(pieces, d)
        pbytes = b''.join(pieces)
        r = probe.ask({'op': 'decode_table', 'hex': hx(pbytes)})
        t.check('table', r.get('table') == pika_typed_table(d), 'keel decoding pika table: %r' % d)
        r = probe.ask({'op': 'encode_table', 'table': pika_typed_table(d)})
        t.check('table', r.get('hex') == hx(pbytes), 'keel encoding pika-typed table: %r' % d)


# ---------------------------------------------------------------------------
# frame streams, content splitting, rejection


def check_streams(t, probe, rng, count):
    r = probe.ask({'op': 'protocol', 'hex': hx(pika.frame.ProtocolHeader().marshal())})
    t.check('stream', r.get('kind') == 0 and r.get('used') == 8, 'protocol header %s' % r)
    usable = [i for i in pika.spec.methods if not pika.spec.has_content(i)]
    for _ in range(count):
        frames, expect = [], []
        for _ in range(rng.randrange(1, 8)):
            k = rng.random()
            ch = rng.randrange(1, 65536)
            if k < 0.2:
                frames.append(pika.frame.Heartbeat().marshal())
                expect.append((8, 0))
            elif k < 0.5:
                body = rand_bytes(rng, rng.randrange(50))
                frames.append(pika.frame.Body(ch, body).marshal())
                expect.append((3, ch))
            elif k < 0.7:
                props = pika.spec.BasicProperties(delivery_mode=2, headers=rand_pika_table(rng))
                frames.append(pika.frame.Header(ch, rng.randrange(1000), props).marshal())
                expect.append((2, ch))
            else:
                cls = pika.spec.methods[rng.choice(usable)]
                frames.append(pika.frame.Method(ch, cls()).marshal() if not _needs_args(cls) else
                              pika.frame.Method(ch, pika.spec.Basic.Ack(delivery_tag=ch)).marshal())
                expect.append((1, ch))
        stream = b''.join(frames)
        cut = rng.randrange(len(stream)) if rng.random() < 0.3 else len(stream)
        r = probe.ask({'op': 'decode', 'hex': hx(stream[:cut])})
        got = [(f['type'], f['channel']) for f in r.get('frames', [])]
        whole = sum(1 for i in range(len(frames)) if len(b''.join(frames[:i + 1])) <= cut)
        ok = 'error' not in r and got == expect[:whole]
        if whole < len(frames):
            # keel asks for the whole next frame, or 8 octets before its head is in.
            rem = cut - len(b''.join(frames[:whole]))
            want = None if rem == 0 else 8 if rem < 7 else len(frames[whole])
            ok = ok and r.get('incomplete') == want
        t.check('stream', ok, 'keel splitting a pika stream cut at %d/%d: %s vs %s (%s)' % (
            cut, len(stream), got, expect[:whole], r.get('incomplete')))
        t.check('stream', r.get('reencode') == hx(b''.join(frames[:whole])), 'keel re-encoding a pika stream')

    for _ in range(count):
        body = rand_bytes(rng, rng.randrange(0, 20000))
        frame_max = rng.choice([4096, 4097, 8192, 131072, rng.randrange(4096, 20000)])
        props = {'content-type': hx(b'application/json'), 'delivery-mode': 2}
        r = probe.ask({'op': 'content', 'channel': 3, 'frame_max': frame_max, 'props': props, 'body': hx(body)})
        data = bytes.fromhex(r.get('hex', ''))
        got, size_ok, header = b'', True, None
        try:
            while data:
                used, fr = pika.frame.decode_frame(data)
                if used == 0:
                    raise ValueError('pika: incomplete frame')
                size_ok = size_ok and used <= frame_max
                if isinstance(fr, pika.frame.Header):
                    header = fr
                else:
                    got += fr.fragment
                data = data[used:]
            ok = header is not None and header.body_size == len(body) and got == body and size_ok
            ok = ok and header.properties.content_type == 'application/json' and header.properties.delivery_mode == 2
        except Exception as e:
            ok = False
        t.check('stream', ok, 'pika reading keel content of %d octets at frame_max %d' % (len(body), frame_max))


def _needs_args(cls):
    try:
        b''.join(cls().encode())
        return False
    except Exception:
        return True


def pika_rejects(b):
    try:
        used, fr = pika.frame.decode_frame(b)
        return fr is None
    except Exception:
        return True


def check_rejects(t, probe, rng, count):
    for i in range(count):
        ch = rng.randrange(1, 65536)
        good = pika.frame.Method(ch, pika.spec.Basic.Ack(delivery_tag=rng.randrange(1 << 63))).marshal()
        kind = i % 3
        if kind == 0:
            bad = good[:-1] + bytes([rng.choice([0, 0xCD, 0xCF, 0xFF])])
            want = 501
        elif kind == 1:
            bad = good[:7] + struct.pack('>HH', 60, rng.choice([41, 81, 121, 999])) + good[11:]
            want = 540
        else:
            bad = bytes([rng.choice([0, 4, 5, 9, 65])]) + good[1:]
            want = 501
        r = probe.ask({'op': 'decode', 'hex': hx(bad)})
        code = r.get('error', {}).get('code')
        t.check('reject', code == want and pika_rejects(bad), 'kind %d: keel %s, pika rejects %s' % (
            kind, r.get('error'), pika_rejects(bad)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('probe')
    ap.add_argument('--seed', type=int, default=91)
    ap.add_argument('--count', type=int, default=600)
    ap.add_argument('--verbose', action='store_true')
    args = ap.parse_args()
    rng = random.Random(args.seed)
    t = Tally(args.verbose)
    probe = Probe(args.probe)
    methods = probe.ask({'op': 'spec'})['methods']
    check_spec(t, methods)
    check_methods(t, probe, rng, methods, args.count)
    check_props(t, probe, rng, args.count // 2)
    check_tables(t, probe, rng, args.count // 2)
    check_streams(t, probe, rng, args.count // 4)
    check_rejects(t, probe, rng, 60)
    probe.close()
    for kind, (n, b) in sorted(t.per_kind.items()):
        print('  %-7s %5d checks, %d disagreements' % (kind, n, b))
    print('seed %d' % args.seed)
    print('SUMMARY: amqp codec differential: %d cases, %d disagreements' % (t.cases, t.bad))
    return 1 if t.bad else 0


if __name__ == '__main__':
    sys.exit(main())
