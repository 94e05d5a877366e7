#!/usr/bin/python3
"""Differential test of policy files and registered defaults: keel against
oslo.policy 4.0.0.

    policy_files_diff.py KEEL [--docs N] [--enforcers N] [--seed S]

Part 1, documents: random policy files written by hand as YAML or JSON
text (YAML 1.1 scalars such as yes/off/017/0x1f/1:30/~, quoting styles,
anchors, aliases and merge keys, flow and block collections, duplicate keys,
non-mapping documents, syntax errors) are loaded by oslo.policy
(str(Rules.load(data))) and by `keel policy show`; the printed rule sets
must be identical, and a file one side refuses the other must refuse.

Part 2, enforcers: random registered defaults (RuleDefault and
DocumentedRuleDefault, scope types, DeprecatedRule renames and check
string changes, deprecated_for_removal), a policy file overriding some of
them under their new or old names, policy_dirs overrides, and the
enforce_scope / enforce_new_defaults options; every decision of a batch of
requests must agree (`keel policy check --batch --defaults ...`).

Prints "SUMMARY: policy_files_diff: N cases, D disagreements (seed S)".
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
import time
import warnings

from oslo_config import cfg
from oslo_policy import opts as policy_opts
from oslo_policy import policy

logging.disable(logging.CRITICAL)
warnings.simplefilter('ignore')

SCALARS = ['role:admin', 'rule:a', '@', '!', '', 'yes', 'No', 'on', 'OFF', 'true', 'False', '~', 'null', 'Null', '0',
           '00', '017', '0o17', '0x1f', '0b101', '1_000', '1:30', '-1:30', '0.0', '.5', '1.5e+3', '1e3', '.inf', '-.Inf',
           '.nan', '2001-12-14', '=', "'role:admin'", '"role:a or role:b"', "'yes'", '"0"', "''", '""',
           'role:a or role:b', 'role:a and not role:b', '(role:a', 'not', "'quoted'", '"role:%(x)s"',
           'project_id:%(project_id)s', '"a\\tb:c"', "'it''s:x'", '"\\u00e9:x"', 'é:x', '- x', '! x', '!!str 12',
           '!!int "7"', '!!float 1', '!!bool yes', '!!null ""', '!!str', '!foo x', '|\n  role:a', '>\n  role:a\n  or role:b',
           '[role:a, role:b]', '[[role:a], [role:b, rule:c]]', '[]', '{}', '{role:a: 1}', '[[]]', '[1]', '[[1, role:a]]',
           '[yes]', '[[role:a, yes]]', '*anc', 'x: y', '"unterminated', '[unclosed', '{a: b', '  bad indent']


def yaml_doc(r):
    lines = []
    names = ['a', 'b', 'c', 'default', 'x:y', '"q k"', "'s k'", '1', 'yes', '~', 'a']
    anchored = False
    if r.random() < 0.1:
        lines.append(r.choice(['---', '%YAML 1.1\n---', '# comment']))
    if r.random() < 0.15:
        lines.append('base: &anc role:base')
        anchored = True
    if r.random() < 0.1:
        lines.append('m: &m {a: role:m1, b: role:m2}')
        lines.append(r.choice(['<<: *m', 'n:\n  <<: *m\n  a: role:n']))
    for _ in range(r.choice([0, 1, 2, 4, 6])):
        v = r.choice(SCALARS)
        if v == '*anc' and not anchored:
            v = 'role:x'
        k = r.choice(names)
        if '\n' in v:
            v = v.replace('\n', '\n  ')
        lines.append('%s: %s' % (k, v))
    if r.random() < 0.05:
        return r.choice(['', '[]', '- a\n- b', 'just a string', '42', 'null', '{}', '---\n---\n', 'a: b\n---\nc: d'])
    return '\n'.join(lines) + '\n'


def json_doc(r):
    d = {}
    for _ in range(r.choice([0, 1, 3, 5])):
        d[r.choice(['a', 'b', 'c', 'default', 'é', 'x:y'])] = r.choice(
            ['role:a', '', '@', '!', 'rule:b or role:c', None, False, 0, 0.0, [], {}, [['role:a'], ['role:b']], ['role:a'],
             [[]], 'not role:a', '(role:a', {'role:x': 1}, [[1, 'role:a']]])
    text = json.dumps(d, ensure_ascii=r.random() < 0.5, indent=r.choice([None, 2]))
    if r.random() < 0.05:
        text = r.choice(['[]', '0', '""', 'null', '{"a": 5}', '{"a": true}', '5', '"x"', '{"a": "b",}', '{"a": NaN}',
                         '{"a": "role:1", "b": "role:2", "a": "role:3"}', '{"a": [Infinity, "role:x"]}',
                         '{"a": 123456789012345678901234567890}', '\ufeff{"a": "role:x"}'])
    return text


def python_show(text):
    try:
        return str(policy.Rules.load(text, 'default'))
    except Exception as e:
        return 'EXC %s' % type(e).__name__


def keel_show(args, path):
    p = subprocess.run([args.keel, 'policy', 'show', '--policy', path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if p.returncode != 0:
        return 'EXC', p.stderr.decode(errors='replace').strip()
    return p.stdout.decode().rstrip('\n'), ''


def part_documents(args, rnd, tmp, report):
    n = dis = 0
    for i in range(args.docs):
        text = yaml_doc(rnd) if rnd.random() < 0.7 else json_doc(rnd)
        path = os.path.join(tmp, 'doc%d.yaml' % i)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        want = python_show(text)
        got, err = keel_show(args, path)
        n += 1
        same = (got == want) or (got == 'EXC' and want.startswith('EXC'))
        if not same:
            dis += 1
            report('document %d:\n--- text\n%s--- oslo.policy\n%s\n--- keel\n%s %s' % (i, text, want, got, err))
    return n, dis


# ---- part 2 ---------------------------------------------------------------

CHECKS = ['role:admin', 'role:member', 'role:reader', 'rule:base', 'project_id:%(project_id)s', '@', '!',
          'role:admin or role:member', 'system_scope:all', 'domain_id:%(domain_id)s', 'rule:undefined', 'not role:reader']


def gen_defaults(r):
    rows = []
    names = ['svc:%s' % w for w in ['list', 'get', 'create', 'delete', 'update', 'admin', 'show', 'reboot']]
    r.shuffle(names)
    for nm in names[:r.choice([3, 5, 8])]:
        row = {'name': nm, 'check_str': r.choice(CHECKS)}
        if r.random() < 0.6:
            row['description'] = r.choice(['Do it.', 'List things.'])
            row['operations'] = [{'path': '/v1/x', 'method': r.choice(['GET', 'POST'])}]
        if r.random() < 0.5:
            row['scope_types'] = r.sample(['system', 'domain', 'project'], r.choice([0, 1, 1, 2, 3]))
        x = r.random()
        if x < 0.4:
            old = nm if r.random() < 0.4 else nm.replace('svc:', 'old:')
            row['deprecated_rule'] = {'name': old, 'check_str': r.choice(CHECKS), 'deprecated_reason': 'because',
                                      'deprecated_since': 'W'}
        elif x < 0.5:
            row['deprecated_for_removal'] = True
            row['deprecated_reason'] = 'gone'
            row['deprecated_since'] = 'X'
        rows.append(row)
    rows.append({'name': 'base', 'check_str': r.choice(['role:admin', 'role:member', '@'])})
    return rows


def py_default(row):
    dep = None
    if 'deprecated_rule' in row:
        d = row['deprecated_rule']
        dep = policy.DeprecatedRule(d['name'], d['check_str'], deprecated_reason=d['deprecated_reason'],
                                    deprecated_since=d['deprecated_since'])
    kw = dict(deprecated_rule=dep, deprecated_for_removal=row.get('deprecated_for_removal', False),
              deprecated_reason=row.get('deprecated_reason'), deprecated_since=row.get('deprecated_since'),
              scope_types=row.get('scope_types'))
    if 'operations' in row:
        return policy.DocumentedRuleDefault(row['name'], row['check_str'], row['description'], row['operations'], **kw)
    return policy.RuleDefault(row['name'], row['check_str'], row.get('description'), **kw)


def gen_file_rules(r, rows):
    d = {}
    for row in rows:
        if r.random() < 0.3:
            d[row['name']] = r.choice(CHECKS)
        dep = row.get('deprecated_rule')
        if dep and r.random() < 0.5:
            d[dep['name']] = r.choice(CHECKS + ['rule:' + row['name'], dep['check_str']])
    if r.random() < 0.3:
        d['extra:thing'] = r.choice(CHECKS)
    if r.random() < 0.3:
        d['default'] = r.choice(CHECKS)
    return d


def gen_creds(r):
    c = {'roles': r.sample(['admin', 'member', 'reader'], r.choice([0, 1, 2])), 'project_id': r.choice(['p1', 'p2'])}
    x = r.random()
    if x < 0.25:
        c['system_scope'] = 'all'
    elif x < 0.4:
        c['domain_id'] = r.choice(['d1', ''])
    elif x < 0.45:
        c['system'] = r.choice(['all', ''])
    return c


def part_enforcers(args, rnd, tmp, report):
    n = dis = 0
    for i in range(args.enforcers):
        rows = gen_defaults(rnd)
        file_rules = gen_file_rules(rnd, rows)
        base = os.path.join(tmp, 'enf%d' % i)
        os.mkdir(base)
        pfile = os.path.join(base, 'policy.yaml')
        has_file = rnd.random() < 0.85
        if has_file:
            with open(pfile, 'w') as f:
                json.dump(file_rules, f)
        dirs = []
        if rnd.random() < 0.4:
            dpath = os.path.join(base, 'policy.d')
            os.mkdir(dpath)
            for k in range(rnd.choice([1, 2])):
                with open(os.path.join(dpath, '%02d.yaml' % k), 'w') as f:
                    json.dump({r['name']: rnd.choice(CHECKS) for r in rnd.sample(rows, 2)}, f)
            with open(os.path.join(dpath, '.hidden.yaml'), 'w') as f:
                f.write('{"base": "!"}')
            dirs.append(dpath)
        scope = rnd.random() < 0.5
        new_defaults = rnd.random() < 0.5
        defaults_path = os.path.join(base, 'defaults.json')
        with open(defaults_path, 'w') as f:
            json.dump({'namespace': 'svc', 'rules': rows}, f)

        conf = cfg.ConfigOpts()
        conf([], default_config_files=[], default_config_dirs=[])
        policy_opts._register(conf)
        conf.set_override('enforce_scope', scope, 'oslo_policy')
        conf.set_override('enforce_new_defaults', new_defaults, 'oslo_policy')
        conf.set_override('policy_dirs', dirs, 'oslo_policy')
        enforcer = policy.Enforcer(conf, policy_file=pfile)
        enforcer.register_defaults([py_default(r) for r in rows])

        names = [r['name'] for r in rows] + [r['deprecated_rule']['name'] for r in rows if 'deprecated_rule' in r]
        names += ['extra:thing', 'nope', 'default']
        queries = []
        for _ in range(40):
            queries.append((rnd.choice(names), {'project_id': rnd.choice(['p1', 'p2']), 'domain_id': 'd1'},
                            gen_creds(rnd)))
        py = []
        for rule, target, creds in queries:
            try:
                py.append('allowed' if enforcer.enforce(rule, target, copy.deepcopy(creds)) else 'denied')
            except Exception as e:
                py.append('raises %s' % type(e).__name__)
        cmd = [args.keel, 'policy', 'check', '--policy', pfile, '--batch', '--defaults', defaults_path]
        for d in dirs:
            cmd += ['--policy-dir', d]
        if scope:
            cmd.append('--enforce-scope')
        if new_defaults:
            cmd.append('--enforce-new-defaults')
        lines = ''.join(json.dumps({'rule': r, 'target': t, 'credentials': c}) + '\n' for r, t, c in queries)
        p = subprocess.run(cmd, input=lines.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        out = p.stdout.decode().splitlines()
        kl = []
        for line in out:
            d = json.loads(line)
            kl.append('raises' if 'error' in d else ('allowed' if d['allowed'] else 'denied'))
        if len(kl) != len(queries):
            kl = ['keel failed: ' + p.stderr.decode(errors='replace')[:200]] * len(queries)
        for (rule, target, creds), a, b in zip(queries, py, kl):
            n += 1
            if a.split(' ')[0] != b:
                dis += 1
                report('enforcer %d (scope=%s new_defaults=%s dirs=%s): %s oslo=%s keel=%s creds=%s\n  defaults=%s\n'
                       '  file=%s' % (i, scope, new_defaults, dirs, rule, a, b, json.dumps(creds), json.dumps(rows),
                                      json.dumps(file_rules) if has_file else '(none)'))
    return n, dis


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('keel')
    ap.add_argument('--docs', type=int, default=600)
    ap.add_argument('--enforcers', type=int, default=250)
    ap.add_argument('--seed', type=int, default=int(os.environ.get('KEEL_POLICY_DIFF_SEED', '20261126')))
    ap.add_argument('--show', type=int, default=10)
    args = ap.parse_args()
    args.keel = os.path.abspath(args.keel)
    rnd = random.Random(args.seed)
    shown = [0]

    def report(msg):
        if shown[0] < args.show:
            shown[0] += 1
            print('DISAGREE ' + msg)

    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        n1, d1 = part_documents(args, rnd, tmp, report)
        n2, d2 = part_enforcers(args, rnd, tmp, report)
    print('documents: %d cases, %d disagreements; enforcer decisions: %d, %d disagreements; %.1f s' %
          (n1, d1, n2, d2, time.time() - t0))
    print('SUMMARY: policy_files_diff: %d cases, %d disagreements (seed %d)' % (n1 + n2, d1 + d2, args.seed))
    return 1 if d1 + d2 else 0


if __name__ == '__main__':
    sys.exit(main())
