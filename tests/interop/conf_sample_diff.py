#!/usr/bin/python3
"""Differential test: `keel conf sample` against oslo-config-generator.

    conf_sample_diff.py KEEL_BIN [--seed N] [--count N]

For each seeded random schema (types, defaults, ranges, choices, deprecated
names, mutable/advanced/deprecated-for-removal flags, help texts long
enough to wrap), the sample file keel writes must be byte-identical to what
oslo_config.generator writes for the same options in its "ini" format with
its default wrap width of 70, under the namespace "keel". Schemas that
either side refuses must be refused by both.
"""
import argparse
import io
import json
import logging
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conf_oslo_dump  # noqa: E402  (schema row -> oslo Opt)

from oslo_config import cfg, generator  # noqa: E402

WORDS = ('the', 'service', 'listens', 'on', 'this', 'address', 'value', 'of', 'a', 'well-known',
         'port', 'seconds', 'before', 'retrying', 'connection', 'to', 'broker', 'is', 'used', 'when',
         'set', 'otherwise', 'defaults', 'apply', 'see', 'documentation', 'for', 'details', 'über',
         'long-running', 'x' * 30, 'rabbit://guest@host:5672/')
GROUPS = ('DEFAULT', 'DEFAULT', 'database', 'oslo_messaging_rabbit', 'api', 'cache')


def sentence(rnd, n):
    words = [rnd.choice(WORDS) for _ in range(n)]
    text = ' '.join(words)
    return text[0].upper() + text[1:] + '.'


def help_text(rnd):
    r = rnd.random()
    if r < 0.1:
        return None
    if r < 0.2:
        return sentence(rnd, 3) + '\n\n' + sentence(rnd, 25)
    return sentence(rnd, rnd.choice((2, 8, 14, 30)))


def row(rnd, i):
    kind = rnd.choice(('string', 'bool', 'int', 'float', 'port', 'host', 'hostname', 'ip', 'uri',
                       'list', 'dict', 'multi'))
    spec = {'name': 'opt_%d' % i, 'type': kind, 'group': rnd.choice(GROUPS)}
    h = help_text(rnd)
    if h is not None:
        spec['help'] = h
    if rnd.random() < 0.7:
        spec['default'] = {
            'string': lambda: rnd.choice(('value', ' padded ', '$state_path/lock', '', 'a b')),
            'bool': lambda: rnd.choice((True, False)),
            'int': lambda: rnd.randint(-5, 500),
            'float': lambda: rnd.choice((0.5, 1.0, 2.25, 1e-05, 60.0)),
            'port': lambda: rnd.randint(1, 65535),
            'host': lambda: rnd.choice(('localhost', '127.0.0.1', 'example.com')),
            'hostname': lambda: 'node-1.example.org',
            'ip': lambda: rnd.choice(('10.0.0.1', '::1')),
            'uri': lambda: 'http://example.com/x',
            'list': lambda: rnd.choice((['a', 'b'], [], ['x'])),
            'dict': lambda: rnd.choice(({'b': '2', 'a': '1'}, {}, {'k': 'v'})),
            'multi': lambda: rnd.choice((['one', 'two'], [], ['x'])),
        }[kind]()
    if kind in ('int', 'port') and rnd.random() < 0.4:
        spec['min'] = rnd.randint(0, 10)
        spec['max'] = rnd.randint(100, 1000)
        if 'default' in spec:
            spec['default'] = rnd.randint(spec['min'], spec['max'])
    if kind == 'float' and rnd.random() < 0.4:
        spec['min'] = 0.5
        spec['max'] = 100.25
        if 'default' in spec:
            spec['default'] = 2.5
    if kind == 'string' and rnd.random() < 0.2:
        spec['choices'] = ['red', 'green', '']
        spec['default'] = 'red'
    if rnd.random() < 0.2:
        spec['deprecated_name'] = 'old_%d' % i
        if rnd.random() < 0.5:
            spec['deprecated_group'] = rnd.choice(('DEFAULT', 'legacy'))
    if rnd.random() < 0.15:
        spec['mutable'] = True
    if rnd.random() < 0.1:
        spec['advanced'] = True
    if rnd.random() < 0.1:
        # oslo's formatter crashes on a deprecated option without help
        # ("Warning: Failed to format sample"); keel writes it normally.
        spec.setdefault('help', sentence(rnd, 4))
        spec['deprecated_for_removal'] = True
        if rnd.random() < 0.5:
            spec['deprecated_reason'] = sentence(rnd, 12)
    if rnd.random() < 0.05 and kind != 'multi':
        spec['sample_default'] = '<host name>'
    return spec


def schema(rnd):
    return [row(rnd, i) for i in range(rnd.randint(1, 9))]


def oslo_sample(rows):
    """oslo-config-generator's ini output for these rows, namespace 'keel'."""
    per_group = {}
    for spec in rows:
        opt = conf_oslo_dump.make_opt(spec)
        if spec.get('advanced'):
            opt.advanced = True
        if 'sample_default' in spec:
            opt.sample_default = spec['sample_default']
        group = None if spec['group'] == 'DEFAULT' else spec['group']
        per_group.setdefault(group, []).append(opt)
    listing = [(g, opts) for g, opts in per_group.items()]
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(['--namespace', 'keel'], default_config_files=[], default_config_dirs=[])
    groups = generator._get_groups([('keel', listing)])
    out = io.StringIO()
    formatter = generator._OptFormatter(conf, output_file=out)
    generator._output_opts(formatter, 'DEFAULT', groups.pop('DEFAULT'))
    for group, group_data in sorted(groups.items()):
        formatter.write('\n\n')
        generator._output_opts(formatter, group, group_data)
    return out.getvalue()


def keel_sample(keel, rows, tmp):
    path = os.path.join(tmp, 'schema.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(rows, f)
    p = subprocess.run([keel, 'conf', 'sample', '--options', path, '--namespace', 'keel'],
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        return None, p.stderr.decode('utf-8', 'replace')
    return p.stdout.decode('utf-8'), None


def first_difference(a, b):
    la, lb = a.splitlines(), b.splitlines()
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else '<end>'
        y = lb[i] if i < len(lb) else '<end>'
        if x != y:
            return 'line %d:\n      oslo: %r\n      keel: %r' % (i + 1, x, y)
    return 'identical lines, different bytes'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('keel')
    ap.add_argument('--seed', type=int, default=int(os.environ.get('CONF_SAMPLE_SEED', '1')))
    ap.add_argument('--count', type=int, default=300)
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    same = refused = differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.count):
            rnd = random.Random('%d:%d' % (args.seed, i))
            rows = schema(rnd)
            try:
                ref, ref_err = oslo_sample(rows), None
            except Exception as e:  # oslo refuses the schema
                ref, ref_err = None, '%s: %s' % (type(e).__name__, e)
            got, got_err = keel_sample(args.keel, rows, tmp)
            if ref is None and got is None:
                refused += 1
            elif ref is not None and got == ref:
                same += 1
            else:
                differ += 1
                if differ <= 10:
                    print('DIFFER case %d: %s' % (i, json.dumps(rows, ensure_ascii=False)))
                    if ref is None:
                        print('    oslo refused (%s), keel wrote a sample' % ref_err)
                    elif got is None:
                        print('    keel refused: %s' % got_err.strip())
                    else:
                        print('    ' + first_difference(ref, got))
    total = same + refused + differ
    print('SUMMARY: conf sample differential: %d schemas (seed %d), %d identical, %d both refused, %d differences'
          % (total, args.seed, same, refused, differ))
    return 1 if differ else 0


if __name__ == '__main__':
    sys.exit(main())
