#!/usr/bin/python3
"""Differential test: keel's policy decisions against oslo.policy 4.0.0.

    policy_diff.py KEEL [--count N] [--seed S]

Generates random policies (the string form with and/or/not, parentheses,
mixed case and stray tokens, the list-of-lists form, role/rule/generic
checks with %(key)s, literals and dotted paths, malformed rules, undefined
references and cycles) and random targets and credentials, writes each
policy as JSON or YAML, and asks both sides for every decision: oslo.policy
through a real Enforcer in this one process, keel through one
`keel policy check --batch` process per policy file. A decision is
"allowed", "denied" or "raises" (oslo.policy let an exception escape
enforce(); keel answers with an "error" member). Any difference is a
disagreement. The seed is fixed (override with --seed or
KEEL_POLICY_DIFF_SEED) and printed, so a failure can be replayed.

Prints one line "SUMMARY: policy_diff: N decisions, D disagreements ..."
and exits 1 if D > 0.
"""
import argparse
import copy
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import yaml
from oslo_config import cfg
from oslo_policy import policy

logging.disable(logging.CRITICAL)
warnings.simplefilter('ignore')

ROLE_NAMES = ['admin', 'Admin', 'ADMIN', 'member', 'Member', 'reader', 'dunce', 'projectadmin', 'mémbér', 'MÉMBÉR',
              'İnsan', 'i̇nsan', 'ΣΑΣ', 'σας', 'straße', 'STRASSE', 'ǅ', 'x', '', 'a b']
TARGET_KEYS = ['project_id', 'user_id', 'user.id', 'target.project.id', 'num', 'neg', 'flt', 'big', 'b', 'n', 'lst',
               'obj', 's', 'u', 'empty', 'role', 'pct', 'one']
KINDS = ['project_id', 'user_id', 'domain_id', 'user.id', 'token.project.id', 'is_admin', 'system', 'roles', 'a.b.c',
         'a.b', 'lst', 'nested.0', 'n', 'flt', 'num', 'x..y', '.x', 'x.', 'system_scope', 'Role', 'rules', 'HTTP',
         # literals
         'True', 'False', 'None', '1', '01', '00', '1.0', '1e3', '1E-7', '.5', '5.', '-1', '+1', '--1', '-0.0', '0x1f',
         '0o17', '0b101', '1_000', '1j', '1+2j', '-1j', '(1,2)', '(1,)', '()', '[1]', '[]', '[1,[2,(3,)]]', 'set()',
         '{}', '{1}', '{1,1}', '{(1,2)}', '...', "'member'", '"member"', "'p1'", "'True'", "b'x'", "u'x'", "r'\\d'",
         "'a\\x41'", "'\\u00e9'", "'é'", "'a''b'", "'''x'''", "'\\n'", "'\\''", "('a','b')", "['a',None,True]",
         'True,', '1,2', '-(1)', '0.1+1j', '1e999', '-1e999j', "f'x'", 'not(1)', '(1)if(2)else(3)', 'x.y.z',
         'é', 'ünï', 'a_b', '_', 'match', 'print', 'set', 'a[1]', 'a(1)', 'a.b(c)', 'lambda',
         # syntax errors and other exceptions
         '', '1a', '$x', 'a$', '1_', '0b2', '09', 'x.1', '1.a', "'unterminated", '"', '(', ')', '[', '{[]}', '{[],1}',
         '€', 'not', 'if', 'a..b', "b'é'", "'\\x4'",  "f'{'", '`x`', '1 2', '@x', '!x',
         'and', 'or', 'True.x', 'a.True']
MATCHES = ['%(project_id)s', '%(user_id)s', '%(user.id)s', '%(target.project.id)s', '%(missing)s', 'p1', 'u1',
           'True', 'False', 'None', '1', '1.0', '1000.0', '1e-07', '0.5', '5.0', '-1', '31', '15', '5', '1j', '(1+2j)',
           '(-0-1j)', '(1, 2)', '(1,)', '()', '[1]', '[]', 'set()', '{}', '{1}', 'Ellipsis', 'member', "b'x'",
           'x', 'aA', 'é', '\n', "'", "('a', 'b')", "['a', None, True]", 'inf', '(-0-infj)', '(0.1+1j)',
           '%(num)s', '%(num)d', '%(num)05d', '%(num)x', '%(num)#X', '%(num)o', '%(num)c', '%(neg)x', '%(neg)+d',
           '%(flt)s', '%(flt)r', '%(flt).2f', '%(flt)e', '%(flt)g', '%(flt)d', '%(flt)x', '%(big)d', '%(big)e',
           '%(b)s', '%(b)d', '%(b)c', '%(n)s', '%(n)d', '%(lst)s', '%(lst)r', '%(obj)s', '%(obj)a', '%(s)s',
           '%(s)r', '%(s)a', '%(s)5s', '%(s)-6s|', '%(s).2s', '%(s)c', '%(one)c', '%(u)s', '%(u)r', '%(u)a',
           '%(u).3s', '%(empty)s', '%(pct)s', '%s', '%s%(s)s', '%(s)s%s', '%%', '100%', '%(s', '%(a(b)c)s', '%(s)',
           '%(s)*s', '%(num)lld', '%(num)hd', '%(s)y', '%(num) d', '%(num)+05.3d', '%(flt)+010.3f', '%(flt)#.0f',
           '%(role)s', '%(role)r', 'x%(s)sy%%z', '%(num)i%(num)u', '%(obj)d', '%(lst)d', '%(missing)d', '%(s)Q',
           '%(missing)Q', '%(b)e', '%(num)G', '%(big)s', '%(flt)5.1s']
UNI_SPACES = [' ', '  ', '\t', '\n', ' \u00a0', '\u2003', '\u3000', '\r\n', '\x0b', '\x1c']


class Gen:
    def __init__(self, rnd):
        self.r = rnd

    def role(self):
        r = self.r
        if r.random() < 0.15:
            return 'role:%(' + r.choice(TARGET_KEYS) + ')s'
        return 'role:' + r.choice(ROLE_NAMES).replace(' ', '_' if r.random() < 0.5 else ' ')

    def check(self, names):
        r = self.r
        x = r.random()
        if x < 0.25:
            return self.role()
        if x < 0.42:
            return 'rule:' + r.choice(names)
        if x < 0.47:
            return r.choice(['@', '!'])
        if x < 0.50:
            return r.choice(['nocolon', "'quoted'", '"dq"', ':', ':x', 'x:', 'http', 'rule:', 'role:'])
        kind = r.choice(KINDS)
        match = r.choice(MATCHES)
        return kind + ':' + match

    def expr(self, names, depth):
        r = self.r
        if depth <= 0 or r.random() < 0.35:
            c = self.check(names)
            if r.random() < 0.08:
                c = r.choice(['not ', 'NOT ', 'Not ']) + c
            return c
        op = r.choice(['and', 'or', 'and', 'or', 'AND', 'Or', 'oR'])
        n = r.choice([2, 2, 2, 3, 4])
        parts = [self.expr(names, depth - 1) for _ in range(n)]
        s = (' %s ' % op).join(parts)
        y = r.random()
        if y < 0.5:
            s = '(' + s + ')'
        elif y < 0.6:
            s = r.choice(['not ', 'not (']) + s + (')' if s.startswith('(') else '')
        return s

    def malform(self, s):
        r = self.r
        x = r.random()
        if x < 0.2:
            i = s.find('(')
            if i >= 0:
                s = s[:i] + s[i + 1:]
        elif x < 0.35:
            s = s + ')'
        elif x < 0.5:
            s = '(' + s
        elif x < 0.6:
            s = r.choice(['and ', 'or ', 'not ', '']) + s + r.choice([' and', ' or', ' not', ''])
        elif x < 0.7:
            words = s.split(' ')
            i = r.randrange(len(words))
            words.insert(i, r.choice(['and', 'or', 'not', '(', ')', "'str'", '@', '!']))
            s = ' '.join(words)
        elif x < 0.8:
            s = s.replace(' ', r.choice(UNI_SPACES))
        elif x < 0.85:
            s = r.choice(['', ' ', '()', '(', ')', 'and', 'not', "'x'", 'or or', '(role:a))', '((role:a)'])
        return s

    def text_rule(self, names):
        s = self.expr(names, self.r.choice([0, 1, 1, 2, 2, 3]))
        if self.r.random() < 0.3:
            s = self.malform(s)
        if self.r.random() < 0.15:
            s = s.replace(' ', self.r.choice(UNI_SPACES))
        return s

    def list_rule(self, names):
        r = self.r
        x = r.random()
        if x < 0.1:
            return r.choice([[], '', None, False, 0, {}, [[]], [''], [[], []]])
        if x < 0.15:
            return {self.check(names): 1, self.check(names): None}
        out = []
        for _ in range(r.choice([1, 1, 2, 3])):
            y = r.random()
            if y < 0.2:
                out.append(self.check(names))
            elif y < 0.25:
                out.append(r.choice([[], '', None, 0, {}]))
            elif y < 0.3:
                out.append({self.check(names): True})
            else:
                inner = [self.check(names) for _ in range(r.choice([1, 1, 2, 3]))]
                if r.random() < 0.1:
                    inner.append(r.choice([1, None, ['role:admin'], True]))
                out.append(inner)
        return out

    def rule(self, names):
        return self.list_rule(names) if self.r.random() < 0.12 else self.text_rule(names)

    def scalar(self):
        r = self.r
        return r.choice(['p1', 'p2', 'u1', 'True', 'member', 'é', '', 1, 0, -1, 31, 1.0, 0.5, 1e-07, 1e16, True,
                         False, None, 'x', '1', '(1+2j)', 'Member', 'inf'])

    def target(self):
        r = self.r
        t = {}
        for k in TARGET_KEYS:
            if r.random() < 0.25:
                continue
            if k in ('project_id', 'user_id', 'user.id', 'target.project.id'):
                t[k] = r.choice(['p1', 'p2', 'u1', 'member', 1, True, 'True'])
            elif k == 'num':
                t[k] = r.choice([65, 0, 1, 255, 100000, 31])
            elif k == 'neg':
                t[k] = r.choice([-255, -1, -0])
            elif k == 'flt':
                t[k] = r.choice([3.7, -2.5, 0.5, 1e16, 1e-07, 123.456, 1.0, -0.0])
            elif k == 'big':
                t[k] = r.choice([1e300, 2.0 ** 70, -1e20, 9007199254740993.0])
            elif k == 'b':
                t[k] = r.choice([True, False])
            elif k == 'n':
                t[k] = None
            elif k == 'lst':
                t[k] = r.choice([[1, 'x', None, 1.5, [True]], [], ['member'], [{'a': 'é'}]])
            elif k == 'obj':
                t[k] = r.choice([{'k': 'v', 'n': [1]}, {}, {'é': '\u2028', "q'": 'd"q'}])
            elif k == 's':
                t[k] = r.choice(['hello', 'p1', 'member', "it's", 'say "hi"', 'both \' and "', 'tab\there', 'Z'])
            elif k == 'u':
                t[k] = r.choice(['é\u2028x\x00\'"', 'ΣΑΣ', '\U0001f600', '\x7f\x80', 'İ', 'ǅ'])
            elif k == 'empty':
                t[k] = ''
            elif k == 'role':
                t[k] = r.choice(ROLE_NAMES)
            elif k == 'pct':
                t[k] = r.choice(['100%', '%(s)s', '%'])
            elif k == 'one':
                t[k] = r.choice(['A', 'é', 'ab', 66, 0x1F600])
        return t

    def creds(self):
        r = self.r
        c = {}
        x = r.random()
        if x < 0.7:
            c['roles'] = r.sample(ROLE_NAMES, r.choice([0, 1, 2, 3]))
        elif x < 0.75:
            c['roles'] = r.choice(['admin', 'aΣ', ''])
        elif x < 0.8:
            c['roles'] = {'admin': 1, 'Member': 2}
        elif x < 0.83:
            c['roles'] = r.choice([['admin', 1], 5, None, [['admin']]])
        for k in ('project_id', 'user_id', 'domain_id', 'is_admin', 'system', 'system_scope', 'n', 'flt', 'num',
                  'lst', 'HTTP', 'Role', 'rules', 'True'):
            if r.random() < 0.4:
                c[k] = self.scalar()
        if r.random() < 0.4:
            c['user'] = r.choice([{'id': 'u1'}, {'id': 1}, 'u1', {'id': ['u1', 'u2']}, {}, [{'id': 'u1'}]])
        if r.random() < 0.3:
            c['token'] = r.choice([{'project': {'id': 'p1'}}, {'project': [{'id': 'p2'}, {'id': 'p1'}]},
                                   {'project': 'p1'}, {'project': None}])
        if r.random() < 0.3:
            c['a'] = r.choice([{'b': [{'c': 'x'}, {'c': 1}]}, {'b': {'c': True}}, {'b': [[{'c': 'x'}]]},
                               {'b': ['x', 'y']}, {'b': 'True'}, [{'b': 'x'}]])
        if r.random() < 0.2:
            c['lst'] = r.choice([[1, 2], ['p1'], [[1]], []])
        if r.random() < 0.1:
            c['nested'] = {'0': 'x'}
        if r.random() < 0.1:
            c['x'] = {'': {'y': 'p1'}}
        return c


def make_policy(gen, groups, with_default):
    rules = {}
    names_all = []
    for g in range(groups):
        names = ['g%d:r%d' % (g, j) for j in range(gen.r.choice([3, 5, 8]))]
        names_all.append(names)
        refs = names + ['default', 'g%d:undefined' % g, 'nope']
        for nm in names:
            rules[nm] = gen.rule(refs)
    if with_default:
        rules['default'] = gen.text_rule(['default'] if gen.r.random() < 0.05 else ['nope2'])
    return rules, names_all


def decide_python(enforcer, rule, target, creds):
    try:
        return 'allowed' if enforcer.enforce(rule, target, creds) else 'denied'
    except Exception:
        return 'raises'


def run_file(args, path, queries):
    # keel decides in a child process while oslo.policy decides here.
    lines = ''.join(json.dumps({'rule': r, 'target': t, 'credentials': c}) + '\n' for r, t, c in queries)
    proc = subprocess.Popen([args.keel, 'policy', 'check', '--policy', path, '--batch'], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    result = {}

    def talk():
        result['out'], result['err'] = proc.communicate(lines.encode(), timeout=300)

    th = threading.Thread(target=talk)
    th.start()
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[], default_config_dirs=[])
    enforcer = policy.Enforcer(conf, policy_file=path)
    enforcer.load_rules()
    # The file does not change during the run: skip the per-call mtime checks.
    enforcer.use_conf = False
    py = []
    for rule, target, creds in queries:
        # enforce() only adds creds['system']; a shallow copy keeps the query intact.
        py.append(decide_python(enforcer, rule, target, dict(creds)))
    th.join()
    out = result.get('out', b'').decode().splitlines()
    if proc.returncode != 0 or len(out) != len(queries):
        sys.stderr.write('keel failed on %s (rc %s, %d lines): %s\n' % (path, proc.returncode, len(out),
                                                                       result.get('err', b'').decode()[:500]))
        return py, ['missing'] * len(queries)
    kl = []
    for line in out:
        d = json.loads(line)
        kl.append(('raises', d['error']) if 'error' in d else ('allowed' if d['allowed'] else 'denied'))
    return py, kl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('keel')
    ap.add_argument('--count', type=int, default=100000, help='decisions to compare (at least)')
    ap.add_argument('--seed', type=int, default=int(os.environ.get('KEEL_POLICY_DIFF_SEED', '20261126')))
    ap.add_argument('--show', type=int, default=15, help='disagreements to print')
    args = ap.parse_args()
    args.keel = os.path.abspath(args.keel)
    rnd = random.Random(args.seed)
    gen = Gen(rnd)
    t0 = time.time()
    total = disagree = 0
    counts = {'allowed': 0, 'denied': 0, 'raises': 0}
    shown = 0
    files = 0
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # no policy.d next to us
        while total < args.count:
            files += 1
            rules, groups = make_policy(gen, rnd.choice([40, 80]), rnd.random() < 0.7)
            path = os.path.join(tmp, 'policy%d.%s' % (files, 'yaml' if files % 3 == 0 else 'json'))
            with open(path, 'w') as f:
                if path.endswith('.yaml'):
                    yaml.safe_dump(rules, f, allow_unicode=rnd.random() < 0.5)
                else:
                    json.dump(rules, f, ensure_ascii=rnd.random() < 0.5)
            queries = []
            for names in groups:
                for _ in range(rnd.choice([30, 60, 90])):
                    x = rnd.random()
                    rule = rnd.choice(names) if x < 0.9 else rnd.choice(['default', 'nope', 'g0:undefined'])
                    queries.append((rule, gen.target(), gen.creds()))
            py, kl = run_file(args, path, queries)
            for (rule, target, creds), a, b in zip(queries, py, kl):
                why = ''
                if isinstance(b, tuple):
                    b, why = b
                total += 1
                counts[a] = counts.get(a, 0) + 1
                if a != b:
                    disagree += 1
                    if shown < args.show:
                        shown += 1
                        print('DISAGREE oslo=%s keel=%s %s rule=%s\n  definition=%r\n  target=%s\n  creds=%s' %
                              (a, b, why, rule, rules.get(rule, '(undefined)'), json.dumps(target), json.dumps(creds)))
    print('oslo.policy outcomes: %s; %d policy files; %.1f s' % (counts, files, time.time() - t0))
    print('SUMMARY: policy_diff: %d decisions, %d disagreements (seed %d)' % (total, disagree, args.seed))
    return 1 if disagree else 0


if __name__ == '__main__':
    sys.exit(main())
