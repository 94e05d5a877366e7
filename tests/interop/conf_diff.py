#!/usr/bin/python3
"""Differential test: `keel conf dump` against oslo.config 9.0.

    conf_diff.py KEEL_BIN [--seed N] [--count N] [--keep DIR] [--only ID ...]
    conf_diff.py - --reference-only [-v]     (oslo side only: the accept/reject mix)

Every case is a schema, some config files and directories, an argv and an
environment. Each case runs through

    keel conf dump --options SCHEMA.json -- ARGV...

(one process per case) and through conf_oslo_dump.py, which registers the
same schema on a fresh cfg.ConfigOpts and calls
CONF(args=ARGV, project=None, prog='keel', default_config_files=[],
default_config_dirs=[]) -- all cases in one Python process. Both sides run
with the case directory as working directory and an environment from which
every OS_* variable is removed and the case's variables are added.

Agreement means both rejected (oslo raised or exited; keel exited non-zero
with a message on stderr) or both accepted with the same values. Values are
compared after parsing the JSON, with types kept apart: a bool is not an
int and an int is not a float (5 and 5.0 differ, as they do for a Python
consumer); NaN equals NaN. The one leniency: keel may print a group that
has no schema options (such as an empty "DEFAULT": {}). Crashes, sanitizer reports, timeouts, exit 0
with output that is not one JSON object, and silent rejections are always
disagreements.

Cases
-----
Hand-written cases are tests/interop/conf_cases/*.json, one per file, id =
file name without .json:

    {"about":  "what the case pins down (free text)",
     "schema": [{"name": "port", "type": "port", "group": "DEFAULT", ...}],
     "files":  {"a.conf": "[DEFAULT]\\nport = 80\\n",
                "b.conf": {"latin1": "[DEFAULT]\\nname = caf\\u00e9\\n"}},
     "dirs":   {"d": {"1.conf": "...", "notes.txt": "...", "sub.conf": {}}},
     "argv":   ["--config-file", "{case}/a.conf", "--config-dir", "{case}/d"],
     "env":    {"OS_DEFAULT__PORT": "81"},
     "expect": "reject"  |  "accept"  |  {"DEFAULT": {"port": 81}}}

 * Placeholder: "{case}" in argv items and env values is replaced by the
   absolute path of the directory the case's files are written to (which is
   also the working directory, so plain relative names work too).
 * A file is a string, written as UTF-8 bytes exactly as given (no newline
   translation, so "\\r\\n" stays CRLF), or {"latin1": "..."}, written one
   byte per character (for invalid UTF-8). In "dirs" a nested object other
   than {"latin1": ...} is a subdirectory.
 * The schema is the `keel conf dump --options` JSON array (see
   conf_oslo_dump.py for how each row maps to an oslo Opt).
 * "expect" checks the reference, not keel: the case fails if oslo does not
   accept/reject as stated, or gives other values for the options listed.
   It keeps each case honest about the behaviour it is meant to cover.

Generated cases (ids g0000, g0001, ...) come from a seeded generator that
composes schemas, INI files, config dirs, argv and environment from the same
features, mixing valid, unusual and invalid values; case i depends only on
(seed, i), so `--seed S --only g0042` reproduces one. The seed defaults to
1 (or $CONF_DIFF_SEED) so the meson test is deterministic.

With --keep DIR, each disagreeing case is left in DIR/<id>/: case.json,
schema.json, the files under case/, oslo.txt and keel.txt (what each side
said) and repro.sh (runs both sides on it).

Ends with one line
  SUMMARY: conf differential: N cases (H hand-written + G generated, seed S),
           A both accepted, R both rejected, D disagreements
and exits 1 if D > 0 (or if a hand-written case's "expect" fails).
"""

import argparse
import json
import math
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, 'conf_cases')
REFERENCE = os.path.join(HERE, 'conf_oslo_dump.py')
DEBIAN_PYTHON = '/usr/bin/python3'
DEFAULT_SEED = 1
DEFAULT_COUNT = 500
KEEL_TIMEOUT = 20
MAX_PRINTED = 30
PLACEHOLDER = '{case}'


# ---------------------------------------------------------------------------
# Materialising a case on disk

def write_tree(root, entries):
    os.makedirs(root, exist_ok=True)
    for name, content in entries.items():
        path = os.path.join(root, name)
        if isinstance(content, dict) and set(content) != {'latin1'}:
            write_tree(path, content)
            continue
        if isinstance(content, dict):
            data = content['latin1'].encode('latin-1')
        else:
            data = content.encode('utf-8')
        with open(path, 'wb') as f:
            f.write(data)


def subst(text, case_dir):
    return text.replace(PLACEHOLDER, case_dir)


def materialise(case, workdir):
    """Writes the case under workdir/<id>/ and returns its run description."""
    top = os.path.join(workdir, case['id'])
    case_dir = os.path.join(top, 'case')
    os.makedirs(case_dir)
    write_tree(case_dir, case.get('files', {}))
    for name, entries in case.get('dirs', {}).items():
        write_tree(os.path.join(case_dir, name), entries)
    schema_path = os.path.join(top, 'schema.json')
    with open(schema_path, 'w', encoding='utf-8') as f:
        json.dump(case['schema'], f, indent=1, ensure_ascii=False)
    with open(os.path.join(top, 'case.json'), 'w', encoding='utf-8') as f:
        json.dump(case, f, indent=1, ensure_ascii=False)
    argv = [subst(a, case_dir) for a in case.get('argv', [])]
    env = {k: subst(v, case_dir) for k, v in case.get('env', {}).items()}
    return {'id': case['id'], 'top': top, 'dir': case_dir, 'schema_path': schema_path, 'schema': case['schema'],
            'argv': argv, 'env': env}


def clean_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(extra)
    return env


# ---------------------------------------------------------------------------
# Running both sides

def run_reference(runs, scratch):
    path = os.path.join(scratch, 'batch.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump([{k: r[k] for k in ('id', 'dir', 'schema', 'argv', 'env')} for r in runs], f)
    env = clean_env({'PYTHONUTF8': '1', 'PYTHONHASHSEED': '0'})
    return subprocess.Popen([DEBIAN_PYTHON, REFERENCE, '--batch', path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=scratch)


def collect_reference(proc):
    out, err = proc.communicate()
    results = {}
    for line in out.decode('utf-8').splitlines():
        rec = json.loads(line)
        results[rec['id']] = rec
    if proc.returncode != 0:
        sys.stderr.write(err.decode('utf-8', 'replace'))
        raise SystemExit('conf_diff: the oslo reference failed (exit %d)' % proc.returncode)
    return results


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError('duplicate key in object: %r' % sorted(k for k in keys if keys.count(k) > 1)[0])
    return dict(pairs)


SANITIZER = re.compile(r'ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|runtime error:')


def run_keel(keel, run):
    """Returns {'outcome': accept|reject|broken, 'value'|'error': ...}."""
    cmd = [keel, 'conf', 'dump', '--options', run['schema_path'], '--'] + run['argv']
    try:
        p = subprocess.run(cmd, cwd=run['dir'], env=clean_env(run['env']), capture_output=True,
                           timeout=KEEL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {'outcome': 'broken', 'error': 'timed out after %ds' % KEEL_TIMEOUT}
    err = p.stderr.decode('utf-8', 'replace').strip()
    # The message is the last line: warnings may come before it.
    first = err.splitlines()[-1] if err else ''
    if SANITIZER.search(err):
        line = next(x for x in err.splitlines() if SANITIZER.search(x))
        return {'outcome': 'broken', 'error': 'sanitizer: ' + line.strip()}
    if p.returncode < 0:
        return {'outcome': 'broken', 'error': 'killed by signal %d; stderr: %s' % (-p.returncode, first)}
    if p.returncode != 0:
        if not err:
            return {'outcome': 'broken', 'error': 'exit %d with nothing on stderr' % p.returncode}
        return {'outcome': 'reject', 'error': 'exit %d: %s' % (p.returncode, first)}
    try:
        value = json.loads(p.stdout.decode('utf-8'), object_pairs_hook=no_duplicates)
        if not isinstance(value, dict):
            raise ValueError('not a JSON object')
    except ValueError as e:
        return {'outcome': 'broken', 'error': 'exit 0 but stdout is not one JSON object (%s): %r'
                % (e, p.stdout[:200])}
    return {'outcome': 'accept', 'value': value}


# ---------------------------------------------------------------------------
# Comparing values

def kind(v):
    return type(v).__name__ if v is not None else 'null'


def diff_values(a, b, path, out, names=('oslo', 'keel')):
    """Appends to out one line per place where a (oslo's) and b (keel's) differ."""
    na, nb = names
    if type(a) is not type(b):
        out.append('%s: %s %s (%s), %s %s (%s)' % (path, na, show(a), kind(a), nb, show(b), kind(b)))
    elif isinstance(a, float):
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            out.append('%s: %s %r, %s %r' % (path, na, a, nb, b))
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append('%s: %s %s, %s %s' % (path, na, show(a), nb, show(b)))
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                diff_values(x, y, '%s[%d]' % (path, i), out, names)
    elif isinstance(a, dict):
        for k in a:
            sub = '%s.%s' % (path, k) if path else k
            if k not in b:
                out.append('%s: %s %s, %s has no such key' % (sub, na, show(a[k]), nb))
            else:
                diff_values(a[k], b[k], sub, out, names)
        for k in b:
            if k not in a:
                out.append('%s: %s has %s, %s has no such key' % ('%s.%s' % (path, k) if path else k, nb,
                                                                  show(b[k]), na))
    elif a != b:
        out.append('%s: %s %s, %s %s' % (path, na, show(a), nb, show(b)))


def show(v):
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + '...'


def check_expect(expect, ref):
    """Returns a complaint if the reference result contradicts the case."""
    if expect is None:
        return None
    if expect == 'reject':
        return None if not ref['ok'] else 'expected oslo to reject, it accepted %s' % show(ref['value'])
    if not ref['ok']:
        return 'expected oslo to accept, it rejected: %s' % ref['error']
    if expect == 'accept':
        return None
    out = []
    for group, opts in expect.items():
        for name, want in opts.items():
            got = ref['value'].get(group, {}).get(name, '<missing>')
            diff_values(want, got, '%s.%s' % (group, name), out, ('expected', 'oslo'))
    return '; '.join(out) or None


# ---------------------------------------------------------------------------
# The generator

GROUPS = ['alpha', 'db', 'rabbit', 'Mixed', 'caf\u00e9']
NAMES = ['host', 'port', 'debug', 'workers', 'ratio', 'name', 'servers', 'tags', 'opts', 'path', 'url', 'addr',
         'timeout', 'level', 'mode', 'items', 'state_path', 'verbose', 'count', 'label', 'x1', 'a_b', 'flag',
         'limit']
SHORTS = 'abcdefgijklmnopqrstuvwxyz'
TYPE_WEIGHTS = [('string', 4), ('bool', 3), ('int', 4), ('float', 2), ('port', 2), ('host', 1), ('hostname', 1),
                ('ip', 1), ('uri', 1), ('list', 3), ('dict', 2), ('multi', 3)]
ITEM_TYPES = ['string', 'string', 'int', 'bool', 'float', 'port', 'ip']
REGEXES = {'^[a-z]+$': (['abc', 'hello', 'x'], ['ABC', 'a1', '', 'a b']),
           '\\d': (['a1', '42', 'x9y'], ['abc', '', 'x']),
           '^x': (['x', 'xyz', 'x1'], ['ax', 'X', '']),
           'a|b': (['a', 'cab', 'b'], ['c', 'xyz', ''])}

# Per type: (plain valid texts, unusual texts that oslo may well accept, invalid texts).
POOLS = {
    'string': (['hello', 'a b c', 'x=y', 'k:v', 'ünïcødé', '日本語', 'with # hash', 'semi;colon', 'back\\slash',
                'UPPER', '42', 'true', 'path/to/file', '%(pct)s', '{braces}', 'é'],
               ['', '"quoted"', "'single'", 'q"mid', 'a,b', 'tab\tin', '$$dollar', '\\$esc', 'cost $5', 'x $ y',
                '\u00a0nbsp\u00a0', 'ǅ'],
               []),
    'bool': (['true', 'false', 'True', 'False', '1', '0', 'yes', 'no', 'on', 'off'],
             ['TRUE', 'oN', 'YeS', 'FaLsE', 'OFF'],
             ['maybe', '2', '', 'y', 't', 'truee', 'enabled']),
    'int': (['0', '-1', '42', '100', '-273', '65535'],
            # Values beyond 64 bits are a documented difference (docs/config.md: keel
            # rejects them, Python's ints have no limit), so the pool stops at the edge.
            ['+3', '007', '-0', ' 7', '2147483648', '9223372036854775807', '-9223372036854775808', '',
             '1_000', '\u0663'],
            ['abc', '1.5', '0x10', '1e3', '12abc', '--1', '5 5', '1__0']),
    'float': (['0.5', '-2.25', '1e3', '.5', '5.', '3', '1.0', '-7', '6.02e23'],
              ['-0.0', 'inf', '-Infinity', 'nan', 'NaN', '1_0.5', '1e400', '1e-400', '', '+1.5', '\u0661.5',
               '0.1', '1e16'],
              ['abc', '1,5', '0x1p3', '1.2.3', 'e5', 'inf inity', '--1']),
    'port': (['0', '80', '443', '5672', '65535', '8080'],
             ['+80', '080', ''],
             ['65536', '-1', 'http', '8.0', '99999']),
    'host': (['localhost', '127.0.0.1', '::1', 'example.com', 'my-host.example.org', 'host1', '10.0.0.1',
              '2001:db8::1', 'EXAMPLE.COM', 'a.b-c.d'],
             ['example.com.', 'xn--bcher-kva.example', 'a' * 63 + '.com', '1.2.3', '1a.example'],
             ['-bad.com', 'a..b', 'bad_host', '1.2.3.4.5', 'ex ample.com', '', 'a' * 64 + '.com', 'host-',
              '256.1.1.1']),
    'hostname': (['localhost', 'example.com', 'my-host.example.org', 'host1', 'a.b-c.d', 'EXAMPLE.COM'],
                 ['example.com.', 'x' * 63, '1a.example', 'a.1b', 'x.' * 100 + 'com'],
                 ['127.0.0.1', '-bad', 'bad_', 'a..b', '', 'a b', 'ex.123', 'x' * 64]),
    'ip': (['127.0.0.1', '0.0.0.0', '::1', '::', '2001:db8::1', '255.255.255.255', '10.1.2.3', 'fe80::1:2'],
           ['::ffff:1.2.3.4', '2001:DB8::1', '0:0:0:0:0:0:0:1', '1.2.3', '127.1'],
           ['256.1.1.1', '::g', 'localhost', '01.2.3.4', '1.2.3.4/24', '', '1.2.3.4.5', ':::']),
    'uri': (['http://example.com', 'https://example.com/a/b?c=d#e', 'amqp://guest:guest@localhost:5672/',
             'http://127.0.0.1:8080/', 'ftp://host/file', 'http://[::1]:80/'],
            ['HTTP://EXAMPLE.COM', 'http://example.com:99999/', 'rabbit://h1:5672,h2:5672/',
             'http://ex_ample.com/', 'http://ü.example/'],
            ['example.com', 'http://', 'not a uri', 'mailto:a@b', '//host/path', '', 'http://exa mple.com']),
}


DIGITS = ['0123456789'] * 6 + ['\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19',
                              '\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669']
# Whitespace and look-alikes: Python's strip() removes the first row, not the second.
SPACES = [' ', '\t', '\u00a0', '\u2003', '\u3000', '\x1c', '\x1f', '\x85', '\x0b', '\x0c']
NOT_SPACES = ['\u200b', '\ufeff', '\u180e']


def fuzz_number(r, kind):
    """A text built from the pieces Python's int()/float() care about."""
    alphabet = r.choice(DIGITS)

    def digits(n):
        out = ''.join(r.choice(alphabet) for _ in range(n))
        if len(out) > 1 and r.random() < 0.15:
            i = r.randint(0, len(out))
            out = out[:i] + r.choice(['_', '_', '__']) + out[i:]
        return out

    if kind == 'float' and r.random() < 0.15:
        word = r.choice(['inf', 'infinity', 'nan', 'Inf', 'NAN', 'iNfInItY', 'infinit', 'nanx'])
        return r.choice(['', '', '-', '+']) + word
    text = r.choice(['', '', '', '-', '+', '--', '+-']) + digits(r.randint(1, 4 if kind != 'float' else 6))
    if kind == 'float':
        if r.random() < 0.5:
            text += '.' + digits(r.randint(0, 4))
        if r.random() < 0.25:
            text += r.choice(['e', 'E']) + r.choice(['', '-', '+']) + digits(r.randint(1, 3))
    elif r.random() < 0.05:
        text += r.choice(['.0', 'e3', 'L', 'j'])
    if r.random() < 0.2:
        text = r.choice(SPACES) + text + r.choice(SPACES)
    return text


def fuzz_label(r):
    alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-' * 3 + 'ABCZ_\u00fc\u212a\u017f'
    n = r.choice([1, 2, 3, 5, 8, 63, 64]) if r.random() < 0.1 else r.randint(1, 8)
    return ''.join(r.choice(alphabet) for _ in range(n))


def fuzz_ipv4(r):
    parts = [r.choice(['0', '1', '10', '127', '255', '256', '01', '00', '1000', str(r.randint(0, 255))])
             for _ in range(r.choice([4, 4, 4, 4, 3, 5, 2]))]
    return '.'.join(parts)


def fuzz_ipv6(r):
    groups = [r.choice(['0', '1', 'db8', '2001', 'ffff', 'FFFF', 'fe80', 'abcd', '00000', 'g', ''])
              for _ in range(r.choice([8, 8, 3, 2, 9, 7]))]
    text = ':'.join(groups)
    if r.random() < 0.5:
        i = r.randint(0, len(groups))
        text = ':'.join(groups[:i]) + '::' + ':'.join(groups[i + 1:]) if r.random() < 0.8 else text + '::1::'
    if r.random() < 0.15:
        text = text.rsplit(':', 1)[0] + ':' + fuzz_ipv4(r)
    if r.random() < 0.05:
        text += r.choice(['%eth0', '/64'])
    return text


def fuzz_host(r, kind):
    pick = r.random()
    if kind == 'ip' or pick < 0.3:
        return fuzz_ipv4(r) if r.random() < 0.5 else fuzz_ipv6(r)
    text = '.'.join(fuzz_label(r) for _ in range(r.randint(1, 4)))
    if r.random() < 0.1:
        text += '.'
    return text


def fuzz_uri(r):
    scheme = r.choice(['http', 'https', 'amqp', 'svn+ssh', 'HTTP', 'a.b-c', '1http', '', 'ht tp', 'x'])
    sep = r.choice(['://'] * 6 + [':', ':///', ':/'])
    user = r.choice([''] * 5 + ['user@', 'u:p@', 'u%40x@', '@', 'a b@'])
    if r.random() < 0.2:
        host = '[' + fuzz_ipv6(r) + ']'
    else:
        host = r.choice(['example.com', 'h', '127.0.0.1', 'EXAMPLE.COM', '', 'ex_ample', 'h%41', 'h%zz',
                         '\u00fc.example', fuzz_host(r, 'host')])
    port = r.choice([''] * 4 + [':80', ':', ':99999', ':x', ':0'])
    path = r.choice(['', '/', '/a/b', '/%7E', '/%zz', '/\u00fc', '/a b', '/a?b=c#d', '?q', '#f', '//x'])
    return scheme + sep + user + host + port + path


def fuzz_text(r, kind):
    if kind in ('int', 'float', 'port'):
        return fuzz_number(r, 'float' if kind == 'float' else 'int')
    if kind in ('host', 'hostname', 'ip'):
        return fuzz_host(r, kind)
    if kind == 'uri':
        return fuzz_uri(r)
    if kind == 'bool':
        return r.choice(['true', 'no', 'On', 'YES']) + r.choice(['', '', r.choice(SPACES + NOT_SPACES)])
    word = r.choice(POOLS['string'][0])
    return r.choice(SPACES + NOT_SPACES + ['']) + word + r.choice(SPACES + NOT_SPACES + [''])


class Gen:
    """Composes one case from a per-case RNG."""

    def __init__(self, rng, case_id):
        self.r = rng
        self.id = case_id
        # About half the cases keep to plain valid input; the rest mix in
        # unusual and invalid input at a per-case rate.
        noisy = rng.random() < 0.45
        self.p_bad = rng.uniform(0.04, 0.25) if noisy else 0.0
        self.p_odd = rng.uniform(0.05, 0.3) if noisy else rng.uniform(0.0, 0.08)

    def chance(self, p):
        return self.r.random() < p

    # -- schema ----------------------------------------------------------

    def schema(self):
        r = self.r
        groups = ['DEFAULT'] + r.sample(GROUPS, r.choice([0, 1, 1, 2, 2]))
        shorts = list(SHORTS)
        r.shuffle(shorts)
        opts, used, positional = [], set(), False
        for _ in range(r.randint(2, 7)):
            group = r.choice(groups)
            name = r.choice(NAMES)
            if (group, name) in used:
                continue
            used.add((group, name))
            kind = r.choices([t for t, _ in TYPE_WEIGHTS], [w for _, w in TYPE_WEIGHTS])[0]
            o = {'name': name, 'type': kind, 'group': group}
            if kind in ('list', 'dict', 'multi') and self.chance(0.5):
                o['item_type'] = r.choice(ITEM_TYPES)
            if kind in ('int', 'float', 'port') and self.chance(0.3):
                self.bounds(o)
            if kind in ('string', 'int', 'port') and 'min' not in o and self.chance(0.15):
                self.choices(o)
            if kind == 'string' and 'choices' not in o and self.chance(0.08):
                o['regex'] = r.choice(sorted(REGEXES))
            if kind == 'string' and ('choices' in o or 'regex' in o) and self.chance(0.5):
                o['ignore_case'] = True
            if kind in ('string', 'uri') and self.chance(0.08):
                o['max_length'] = r.randint(3, 12)
            if self.chance(0.35):
                o['cli'] = True
                if kind != 'bool' and not positional and self.chance(0.12):
                    o['positional'] = True
                    positional = True
                    if self.chance(0.5):
                        o['required'] = False
                elif self.chance(0.25):
                    o['short'] = shorts.pop()
            if 'positional' not in o and self.chance(0.1):
                o['required'] = True
            if 'positional' in o:
                pass  # oslo passes deprecated names of positionals to argparse as bare names
            elif self.chance(0.12):
                o['deprecated_name'] = r.choice(['old_', 'legacy_']) + name
            if 'positional' not in o and self.chance(0.08):
                o['deprecated_group'] = r.choice(['legacy', 'DEFAULT'] + groups[1:])
            for extra, p in (('secret', 0.05), ('mutable', 0.05), ('deprecated_for_removal', 0.04)):
                if self.chance(p):
                    o[extra] = True
            if self.chance(0.1):
                o['help'] = r.choice(['Some help.', 'Ünïcode help with %(default)s', ''])
            opts.append(o)
        self.opts = opts
        for o in opts:
            if self.chance(0.45 if not o.get('required') else 0.2):
                self.default(o)
        return opts

    def bounds(self, o):
        r = self.r
        if o['type'] == 'float':
            lo = round(r.uniform(-10, 10), 2)
            hi = round(lo + r.uniform(0, 20), 2)
        elif o['type'] == 'port':
            lo = r.randint(0, 2000)
            hi = r.randint(lo, 65535)
        else:
            lo = r.randint(-100, 100)
            hi = lo + r.randint(0, 200)
        which = r.choice(['min', 'max', 'both', 'both'])
        if which in ('min', 'both'):
            o['min'] = lo
        if which in ('max', 'both'):
            o['max'] = hi

    def choices(self, o):
        r = self.r
        if o['type'] == 'string':
            o['choices'] = r.sample(['red', 'green', 'Blue', 'a b', ''], r.randint(1, 4))
        elif o['type'] == 'int':
            o['choices'] = sorted(r.sample([-5, 0, 1, 2, 10, 100], r.randint(1, 4)))
        else:
            o['choices'] = sorted(r.sample([80, 443, 5672, 8080], r.randint(1, 3)))

    def default(self, o):
        """Sets a default whose meaning survives keel's text conversion."""
        r = self.r
        kind = o['type']
        if kind == 'multi':
            # oslo 9.0 rejects any list default of a typed MultiOpt (it checks
            # the whole list against the item type); a hand-written case
            # covers that, the generator keeps to MultiStrOpt defaults.
            if 'item_type' not in o:
                o['default'] = [self.plain_item('string') for _ in range(r.randint(0, 2))]
            return
        if kind == 'list':
            o['default'] = [self.py_item(o.get('item_type', 'string')) for _ in range(r.randint(0, 3))]
            return
        if kind == 'dict':
            keys = r.sample(['a', 'b', 'key', 'K'], r.randint(0, 3))
            o['default'] = {k: self.py_item(o.get('item_type', 'string')) for k in keys}
            return
        if self.chance(self.p_bad / 2):
            o['default'] = r.choice(['abc', '-1x', 'not valid'])
            return
        if kind == 'string' and self.chance(0.15) and len(self.opts) > 1:
            ref = self.ref_to(o, lambda p: p['type'] in ('string', 'int', 'bool', 'port'))
            if ref:
                o['default'] = 'pre-' + ref + '/post'
                return
        o['default'] = self.py_scalar(o)

    def py_item(self, kind):
        r = self.r
        if kind == 'int':
            return r.randint(-50, 50)
        if kind == 'bool':
            return r.random() < 0.5
        if kind == 'float':
            return r.choice([0.5, -1.25, 3.0, 1e-05, 100.125])
        if kind == 'port':
            return r.choice([80, 443, 5672])
        return self.plain_item(kind)

    def plain_item(self, kind):
        r = self.r
        if kind == 'ip':
            return r.choice(['127.0.0.1', '10.0.0.1'])
        return r.choice(['a', 'b', 'xyz', 'Ünï', 'w1', 'path/x', 'x=y'])

    def py_scalar(self, o):
        r = self.r
        kind = o['type']
        for _ in range(20):
            if kind == 'bool':
                v = r.random() < 0.5
            elif kind == 'int':
                v = r.choice(o['choices']) if 'choices' in o else r.randint(o.get('min', -100), o.get('max', 100))
            elif kind == 'port':
                v = r.choice(o['choices']) if 'choices' in o else r.randint(o.get('min', 0), o.get('max', 65535))
            elif kind == 'float':
                lo, hi = o.get('min', -50.0), o.get('max', 50.0)
                v = r.choice([round(r.uniform(lo, hi), 3), float(int(r.uniform(lo, hi)))])
                if not lo <= v <= hi:
                    continue
                if r.random() < 0.2 and v == int(v):
                    v = int(v)
            elif kind == 'string':
                v = self.valid_text(o)
            else:
                v = r.choice(POOLS[kind][0])
            if not isinstance(v, str) or (v == v.strip() and v[:1] not in ('"', "'")):
                return v
        return None

    # -- values ----------------------------------------------------------

    def text(self, o, where):
        """A value as text for one option, valid or not per the case's rates."""
        kind = o['type']
        if kind in ('list', 'dict'):
            return self.container_text(o)
        if kind == 'multi':
            return self.scalar_text(o.get('item_type', 'string'), o)
        if kind != 'bool' and where != 'cli' and self.chance(0.06 + self.p_odd / 3):
            ref = self.interpolation(o)
            if ref is not None:
                return ref
        return self.scalar_text(kind, o)

    def scalar_text(self, kind, o):
        """A scalar of type kind; o's bounds and choices apply when o is of that type."""
        r = self.r
        own = o if o.get('type') == kind else {}
        plain, odd, bad = POOLS[kind]
        if self.chance(self.p_bad):
            if ('min' in own or 'max' in own) and self.chance(0.5):
                if 'max' in own:
                    return str(own['max'] + r.randint(1, 50))
                return str(own['min'] - r.randint(1, 50))
            if kind == 'string' and own.get('choices'):
                return r.choice(['purple', 'RED', 'red ', 'gre'])
            if kind == 'string' and 'regex' in own:
                return r.choice(REGEXES[own['regex']][1])
            if kind == 'string' and 'max_length' in own:
                return 'z' * (own['max_length'] + r.randint(1, 3))
            if bad:
                return r.choice(bad)
        if self.chance(self.p_odd) and odd:
            return r.choice(odd)
        if self.chance(self.p_odd / 2) and not own.get('choices') and 'regex' not in own:
            return fuzz_text(r, kind)
        if kind == 'string':
            return self.valid_text(own)
        if 'choices' in own:
            return str(r.choice(own['choices']))
        if kind == 'int' and r.random() < 0.6:
            return str(r.randint(own.get('min', -1000), own.get('max', 1000)))
        if kind == 'port':
            return str(r.randint(own.get('min', 0), own.get('max', 65535)))
        if kind == 'float' and ('min' in own or 'max' in own or r.random() < 0.5):
            lo, hi = own.get('min', -1e4), own.get('max', 1e4)
            text = r.choice(['%.3f', '%g', '%.2e', '%r']) % r.uniform(lo, hi)
            # Rounding in the format may step over a bound; keep it valid.
            return text if lo <= float(text) <= hi else repr(float(lo))
        if kind == 'int' and ('min' in own or 'max' in own):
            return str(r.randint(own.get('min', -1000), own.get('max', 1000)))
        return r.choice(plain)

    def valid_text(self, o):
        r = self.r
        if o.get('choices'):
            v = r.choice(o['choices'])
            return v.upper() if o.get('ignore_case') and self.chance(0.3) else v
        if 'regex' in o:
            return r.choice(REGEXES[o['regex']][0])
        if 'max_length' in o:
            return r.choice(['ab', 'xyz', 'é'])[:o['max_length']]
        if r.random() < 0.4:
            return ''.join(r.choice('abcdefghijklmnopqrstuvwxyz0123456789-_./') for _ in range(r.randint(1, 10)))
        return r.choice(POOLS['string'][0])

    def container_text(self, o):
        r = self.r
        item = o.get('item_type', 'string')
        sep = r.choice([',', ',', ', ', ' , '])
        if o['type'] == 'list':
            items = [self.item_text(item) for _ in range(r.randint(0, 4))]
            text = sep.join(items)
            if self.chance(self.p_odd):
                text = r.choice([text + ',', ',' + text, text + ',,', ' ' + text])
            if self.chance(self.p_bad):
                text = text + sep + r.choice(POOLS[item][2] or ['x'] if item != 'string' else ['x'])
            return text
        keys = r.sample(['a', 'b', 'key', 'K', 'ü'], r.randint(0, 4))
        pairs = [k + r.choice([':', ':', ' : ']) + self.item_text(item) for k in keys]
        if self.chance(self.p_odd):
            pairs.append(r.choice(['z:b:c', 'y:', ' w : v ']) if item == 'string' else 'z:' + self.item_text(item))
        if self.chance(self.p_bad):
            pairs.append(r.choice(['noval', ':x', (keys[0] + ':' + self.item_text(item)) if keys else 'q']))
        return sep.join(pairs)

    def item_text(self, item):
        if item == 'string':
            return self.r.choice(['a', 'b', 'xyz', 'Ünï', 'w 1', 'p/q', 'x=y', '1'])
        return self.scalar_text(item, {'type': 'item'}).strip() or self.r.choice(POOLS[item][0])

    def ref_to(self, o, want):
        """A $reference to another option of the schema, or None."""
        cands = [p for p in self.opts if p is not o and want(p) and not p.get('positional')]
        if not cands:
            return None
        p = self.r.choice(cands)
        if p['group'] == o['group'] or (p['group'] == 'DEFAULT' and not any(
                q['name'] == p['name'] and q['group'] == o['group'] for q in self.opts)):
            return self.r.choice(['$' + p['name'], '${' + p['name'] + '}'])
        return '${%s.%s}' % (p['group'], p['name'])

    def interpolation(self, o):
        r = self.r
        if self.chance(self.p_bad):
            return r.choice(['$nosuch', '${nogroup.x}', '$' + o['name'], 'x${' + o['name'] + '}y', '$_x',
                             '$\u212a', '${DEFAULT.x}', '$' + o['name'].upper()])
        if o['type'] == 'string' and self.chance(self.p_odd):
            return r.choice(['$', '${', '${}', '$$', '\\$', '\\$$', '$1x', '${a b}', '$\u00fc', 'a$$$b', '$$$$',
                             '\\\\$$x', '${ab'])
        if o['type'] in ('string', 'uri', 'host', 'hostname'):
            ref = self.ref_to(o, lambda p: p['type'] in ('string', 'int', 'bool', 'float', 'port', 'list')
                              if o['type'] == 'string' else p['type'] == o['type'])
            if ref is None:
                return None
            if o['type'] != 'string':
                return ref
            return r.choice(['', 'pre-', 'a b ']) + ref + r.choice(['', '/x', '-y', ' z'])
        ref = self.ref_to(o, lambda p: p['type'] == o['type'] or (p['type'] == 'string' and o['type'] != 'float'))
        return ref

    # -- files -----------------------------------------------------------

    def section_for(self, o):
        r = self.r
        group, name = o['group'], o['name']
        if ('deprecated_name' in o or 'deprecated_group' in o) and self.chance(0.5):
            name = o.get('deprecated_name', name)
            group = o.get('deprecated_group', group)
        if group != 'DEFAULT' and self.chance(0.2):
            group = r.choice([group.upper(), group.lower(), group.capitalize()])
        return group, name

    def assignment(self, key, value):
        r = self.r
        sep = r.choice(['=', ' = ', ' = ', ': ', ':', ' : ', '  =  ', '\t=\t'])
        if value and self.chance(0.1):
            q = r.choice(['"', "'"])
            value = q + value + q
        if '\n' not in value and len(value) > 2 and self.chance(0.06 + self.p_odd / 4):
            cut = r.randint(1, len(value) - 1)
            head, tail = value[:cut], value[cut:]
            if tail.strip():
                value = head + '\n' + r.choice([' ', '\t', '    ']) + tail
        line = key + sep + value
        if self.chance(0.05):
            line += r.choice([' ', '\t'])
        return line

    def ini(self, assigns):
        """assigns: list of (section, key, value) for one file."""
        r = self.r
        sections = {}
        for sec, key, value in assigns:
            sections.setdefault(sec, []).append(self.assignment(key, value))
        if self.chance(0.3):
            sections.setdefault(r.choice(['unknown', 'DEFAULT', 'Other']), []).append(
                self.assignment(r.choice(['nosuch', 'unused_opt', 'x y']), r.choice(['1', 'junk', ''])))
        order = list(sections)
        r.shuffle(order)
        lines = []
        if self.chance(0.2):
            lines.append(r.choice(['# a comment', '; semicolon comment', '']))
        for sec in order:
            lines.append('[%s]' % sec)
            for a in sections[sec]:
                lines.append(a)
                if self.chance(0.1):
                    lines.append(r.choice(['', '# note', ';x = 1', '#k = v']))
            if self.chance(0.5):
                lines.append('')
        if self.chance(self.p_bad):
            bad = r.choice(['novalue', '[unterminated', '= x', '[]', '  orphan', 'key_before_section = 1'])
            if bad == '  orphan':
                lines.insert(r.randint(0, len(lines)), '')
                at = len(lines) - 1 - lines[::-1].index('')
                lines.insert(at + 1, bad)
            elif bad.startswith('key_before'):
                lines.insert(0, bad)
            else:
                lines.insert(r.randint(0, len(lines)), bad)
        if self.chance(self.p_odd / 2):
            # An indented comment right after an assignment continues its value.
            idx = [i for i, ln in enumerate(lines) if ln and not ln.startswith(('[', '#', ';', ' ', '\t'))]
            if idx:
                lines.insert(r.choice(idx) + 1, r.choice(['  # indented', '\t; also']))
        eol = '\r\n' if self.chance(0.1) else '\n'
        if self.chance(self.p_odd / 3):
            text = ''.join(line + r.choice(['\n', '\r\n', '\r']) for line in lines)
        else:
            text = eol.join(lines) + (eol if self.chance(0.85) else '')
        return text

    # -- the whole case --------------------------------------------------

    def case(self):
        r = self.r
        schema = self.schema()
        nfiles = r.choices([0, 1, 2, 3], [1, 4, 3, 2])[0]
        use_dir = self.chance(0.2)
        targets = ['f%d.conf' % i for i in range(nfiles)] + (['d/%d.conf' % i for i in range(r.randint(1, 3))]
                                                              if use_dir else [])
        assigns = {t: [] for t in targets}
        argv_chunks, env = [], {}
        for o in schema:
            # Plain cases give every required option without default a value.
            must = self.p_bad == 0 and o.get('required') and 'default' not in o and not o.get('positional')
            given = False
            if must and not targets and not o.get('cli'):
                env['OS_%s__%s' % (o['group'].upper(), o['name'].upper())] = self.text(o, 'env')
                given = True
            if targets:
                for i, t in enumerate(targets):
                    if self.chance(0.45) or (must and not given and i == len(targets) - 1):
                        given = True
                        sec, key = self.section_for(o)
                        n = r.randint(1, 3) if o['type'] == 'multi' or self.chance(0.1) else 1
                        for _ in range(n):
                            assigns[t].append((sec, key, self.text(o, 'file').replace('\n', ' ')))
            if o.get('cli') and (self.chance(0.55) or (must and not given)):
                argv_chunks.append(self.cli(o))
            elif o.get('positional') and o.get('required') is not False and not self.chance(self.p_bad):
                argv_chunks.append(self.cli(o))
            if self.chance(0.08):
                g = 'DEFAULT' if o['group'] == 'DEFAULT' else o['group']
                env['OS_%s__%s' % (g.upper(), o['name'].upper())] = self.text(o, 'env').replace('\n', ' ')
        files = {t: self.ini(assigns[t]) for t in targets if not t.startswith('d/')}
        dirs = {}
        if use_dir:
            dirs['d'] = {t[2:]: self.ini(assigns[t]) for t in targets if t.startswith('d/')}
            if self.chance(0.5):
                dirs['d']['zz.conf.bak'] = '[DEFAULT]\nthis is not ini\n'
            if self.chance(0.2):
                dirs['d']['.hidden.conf'] = '[DEFAULT]\n' + '\n'.join('%s = hidden' % o['name'] for o in schema)
        file_chunks = [['--config-file', '{case}/' + f] if self.chance(0.7) else ['--config-file={case}/' + f]
                       for f in files]
        if use_dir:
            file_chunks.insert(r.randint(0, len(file_chunks)), ['--config-dir', '{case}/d'])
        if self.chance(self.p_bad):
            file_chunks.append(r.choice([['--config-file', '{case}/missing.conf'], ['--config-dir', '{case}/nodir'],
                                         ['--bogus-option'], ['stray'], ['--config-file']]))
        if files and self.chance(0.1):
            file_chunks.append(['--config-file', '{case}/' + r.choice(list(files))])
        # Interleave CLI options with the file options, keeping the order of
        # each; positional arguments may land anywhere.
        argv = []
        a, b = list(argv_chunks), list(file_chunks)
        while a or b:
            src = a if (a and (not b or r.random() < 0.5)) else b
            argv.extend(src.pop(0))
        case = {'id': self.id, 'schema': schema, 'files': files, 'argv': argv, 'env': env}
        if dirs:
            case['dirs'] = dirs
        return case

    def cli(self, o):
        r = self.r
        group = o['group']
        prefix = '' if group == 'DEFAULT' else group + '-'
        if o.get('positional'):
            n = r.randint(1, 2) if o['type'] == 'multi' else 1
            vals = [self.text(o, 'cli') for _ in range(n)]
            return [v if not v.startswith('-') else 'x' + v for v in vals]
        names = [prefix + o['name']]
        if 'deprecated_name' in o or 'deprecated_group' in o:
            dg = o.get('deprecated_group')
            dprefix = '' if dg in (None, 'DEFAULT') else dg + '-'
            if 'deprecated_name' in o or dg not in (None, 'DEFAULT'):
                names.append(dprefix + o.get('deprecated_name', o['name']))
        if o['type'] == 'bool':
            out = []
            for _ in range(r.choice([1, 1, 2])):
                name = r.choice(names)
                if 'short' in o and self.chance(0.3):
                    out.append('-' + o['short'])
                elif self.chance(0.4):
                    # --noNAME sits after the group prefix: --group-noname.
                    pre, _, base = name.rpartition('-') if '-' in name else ('', '', name)
                    out.append('--' + (pre + '-' if pre else '') + 'no' + base)
                else:
                    out.append('--' + name)
            if self.chance(self.p_bad):
                out.append('--' + names[0] + '=' + r.choice(['true', 'yes']))
            return out
        out = []
        for _ in range(r.randint(1, 3) if o['type'] == 'multi' else r.choice([1, 1, 1, 2])):
            v = self.text(o, 'cli')
            if self.chance(self.p_odd / 3):
                v = r.choice(['-5', '-.5', '-5e3', '-x y', '-', '', '--', '-1.'])
            name = r.choice(names)
            if self.chance(self.p_odd / 3) and len(name) > 3:
                name = name[:r.randint(3, len(name) - 1)]  # argparse takes unique prefixes
            form = r.random()
            if 'short' in o and form < 0.25:
                out.extend(['-' + o['short'], v] if self.chance(0.6) or not v else ['-' + o['short'] + v])
            elif form < 0.6 or (v.startswith('-') and not self.chance(self.p_odd)):
                out.append('--%s=%s' % (name, v))
            else:
                out.extend(['--' + name, v])
        return out


def generate(seed, count):
    cases = []
    for i in range(count):
        case_id = 'g%04d' % i
        cases.append(Gen(random.Random('%s:%d' % (seed, i)), case_id).case())
    return cases


def load_hand_written():
    cases = []
    for name in sorted(os.listdir(CASES_DIR)):
        if not name.endswith('.json'):
            continue
        with open(os.path.join(CASES_DIR, name), encoding='utf-8') as f:
            case = json.load(f)
        case['id'] = name[:-5]
        cases.append(case)
    return cases


# ---------------------------------------------------------------------------

def write_repro(run, keel):
    env = ' '.join('%s=%s' % (k, shlex.quote(v)) for k, v in sorted(run['env'].items()))
    argv = ' '.join(shlex.quote(a) for a in run['argv'])
    cd = 'cd %s' % shlex.quote(run['dir'])
    text = ('#!/bin/sh\n# Runs both sides of case %s; OS_* variables are cleared first.\n%s\n'
            'for v in $(env | sed -n "s/^\\(OS_[^=]*\\)=.*/\\1/p"); do unset "$v"; done\n'
            'echo "== oslo"; env %s %s %s --options ../schema.json -- %s; echo "exit $?"\n'
            'echo "== keel"; env %s %s conf dump --options ../schema.json -- %s; echo "exit $?"\n'
            % (run['id'], cd, env, DEBIAN_PYTHON, shlex.quote(REFERENCE), argv, env, shlex.quote(keel), argv))
    path = os.path.join(run['top'], 'repro.sh')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    os.chmod(path, 0o755)


def describe(side):
    if side.get('ok', side.get('outcome') == 'accept'):
        return 'accepted ' + show(side['value'])
    return side['error']


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('keel')
    ap.add_argument('--seed', type=int, default=int(os.environ.get('CONF_DIFF_SEED', DEFAULT_SEED)))
    ap.add_argument('--count', type=int, default=DEFAULT_COUNT)
    ap.add_argument('--keep', metavar='DIR')
    ap.add_argument('--only', nargs='+', metavar='ID', help='run only these case ids')
    ap.add_argument('--reference-only', action='store_true',
                    help='run only the oslo side and print the accepted/rejected mix (no keel needed)')
    ap.add_argument('-v', '--verbose', action='store_true', help='with --reference-only: print every result')
    args = ap.parse_args()
    keel = os.path.abspath(args.keel)

    hand = load_hand_written()
    gen = generate(args.seed, args.count)
    cases = hand + gen
    if args.only:
        cases = [c for c in cases if c['id'] in args.only]
    n_hand = sum(1 for c in cases if not re.fullmatch(r'g\d{4}', c['id']))
    n_gen = len(cases) - n_hand

    scratch = tempfile.mkdtemp(prefix='conf_diff.')
    workdir = scratch
    if args.keep:
        workdir = os.path.abspath(args.keep)
        os.makedirs(workdir, exist_ok=True)
        for c in cases:
            shutil.rmtree(os.path.join(workdir, c['id']), ignore_errors=True)
    try:
        runs = [materialise(c, workdir) for c in cases]
        proc = run_reference(runs, scratch)
        keel_results = {} if args.reference_only else {r['id']: run_keel(keel, r) for r in runs}
        ref = collect_reference(proc)

        accepted = rejected = 0
        disagreements, expect_failures = [], []
        for case, run in zip(cases, runs):
            o = ref[run['id']]
            complaint = check_expect(case.get('expect'), o)
            if complaint:
                expect_failures.append('EXPECT %s: %s' % (run['id'], complaint))
            if args.reference_only:
                if args.verbose:
                    print('%s: %s' % (run['id'], describe(o)))
                accepted += o['ok']
                rejected += not o['ok']
                continue
            k = keel_results[run['id']]
            problem = None
            if k['outcome'] == 'broken':
                problem = ['keel broke: ' + k['error'], 'oslo: ' + describe(o)]
            elif o['ok'] and k['outcome'] == 'accept':
                lines = []
                # A group with no schema options may print as {} or not at all.
                kv = {g: v for g, v in k['value'].items() if v != {} or g in o['value']}
                diff_values(o['value'], kv, '', lines)
                if lines:
                    problem = ['values differ'] + lines[:8] + (['...'] if len(lines) > 8 else [])
                else:
                    accepted += 1
            elif not o['ok'] and k['outcome'] == 'reject':
                rejected += 1
            elif o['ok']:
                problem = ['oslo accepted, keel rejected: ' + k['error'], 'oslo: ' + describe(o)]
            else:
                problem = ['oslo rejected (%s), keel accepted %s' % (o['error'], show(k['value']))]
            if problem:
                disagreements.append((run, problem, o, k))
            elif args.keep:
                shutil.rmtree(run['top'], ignore_errors=True)

        for i, (run, problem, o, k) in enumerate(disagreements):
            if args.keep:
                write_repro(run, keel)
                with open(os.path.join(run['top'], 'oslo.txt'), 'w', encoding='utf-8') as f:
                    f.write(describe(o) + '\n')
                with open(os.path.join(run['top'], 'keel.txt'), 'w', encoding='utf-8') as f:
                    f.write('\n'.join(problem) + '\n')
            if i >= MAX_PRINTED:
                continue
            print('DISAGREE %s: %s' % (run['id'], problem[0]))
            for line in problem[1:]:
                print('    ' + line)
            if args.keep:
                print('    kept: %s' % run['top'])
        if len(disagreements) > MAX_PRINTED:
            print('... and %d more disagreements' % (len(disagreements) - MAX_PRINTED))
        for line in expect_failures:
            print(line)

        tail = ', %d hand-written expectations failed' % len(expect_failures) if expect_failures else ''
        if args.reference_only:
            print('SUMMARY: conf reference only: %d cases (%d hand-written + %d generated, seed %d), '
                  '%d accepted, %d rejected%s' % (len(cases), n_hand, n_gen, args.seed, accepted, rejected, tail))
            return 1 if expect_failures else 0
        print('SUMMARY: conf differential: %d cases (%d hand-written + %d generated, seed %d), '
              '%d both accepted, %d both rejected, %d disagreements%s'
              % (len(cases), n_hand, n_gen, args.seed, accepted, rejected, len(disagreements), tail))
        return 1 if disagreements or expect_failures else 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
