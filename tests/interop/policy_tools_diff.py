#!/usr/bin/python3
"""keel policy sample / convert / check against oslo.policy 4.0.0's tools.

    policy_tools_diff.py KEEL [--count N] [--seed S]

sample:  random registered defaults (descriptions with paragraphs, literal
         blocks, long and hyphenated words, em-dashes, tabs and Unicode;
         operations, scope types, deprecated rules, deprecated for removal;
         several namespaces) through oslo.policy's generator
         (_sort_and_format_by_section, as oslopolicy-sample-generator
         writes it) and `keel policy sample`: the text must be identical,
         with and without --exclude-deprecated.
convert: random JSON policy files against those defaults through
         oslopolicy-convert-json-to-yaml's _convert_policy_json_to_yaml and
         `keel policy convert`: identical text.
check:   the real oslopolicy-checker and `keel policy check` on random
         policies, tokens and targets: identical "passed:"/"failed:" lines
         (an exception only has to be an exception on both sides).

Prints "SUMMARY: policy_tools_diff: N cases, D disagreements (seed S)".
"""
import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
import warnings

from oslo_policy import generator
from oslo_policy import policy

warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)

WORDS = ['the', 'policy', 'allows', 'a', 'user', 'to', 'list', 'servers', 'in', 'project', 'well-known', 'self-service',
         'x-y-z', 'an--em', '--flag', 'é', 'naïve', 'ΣΑΣ', 'supercalifragilisticexpialidocious-and-more',
         'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'end.', 'Yes!',
         '"quoted"', "it's", '-', '--', 'a-', '-b', '1-2', 'tab\there', 'x\u00a0y', '日本語のテキスト', 'v2.1']
CHECKS = ['role:admin', 'role:member or role:reader', 'rule:admin_or_owner', '@', '!',
          'project_id:%(project_id)s', 'not role:x', '', '(role:a', 'role:admin and system_scope:all']


def description(r):
    x = r.random()
    if x < 0.1:
        return None
    if x < 0.15:
        return ''
    paras = []
    for _ in range(r.choice([1, 1, 2, 3])):
        lines = []
        for _ in range(r.choice([1, 1, 2, 3])):
            lines.append(' '.join(r.choice(WORDS) for _ in range(r.choice([1, 3, 8, 15, 30]))))
        if r.random() < 0.2:
            lines.append('    literal block line  ')
        if r.random() < 0.1:
            lines.insert(0, '  indented first')
        paras.append('\n'.join(lines))
    sep = r.choice(['\n\n', '\n \n', '\n\n\n'])
    text = sep.join(paras)
    if r.random() < 0.2:
        text = '  ' + text + '\n  '
    return text


def gen_rows(r, prefix):
    rows = []
    for i in range(r.choice([1, 2, 4, 6])):
        row = {'name': '%s:rule%d' % (prefix, i), 'check_str': r.choice(CHECKS)}
        d = description(r)
        if d is not None:
            row['description'] = d
        if r.random() < 0.6:
            row['description'] = d or 'Do something.'
            row['operations'] = [{'path': r.choice(['/v2/servers', '/v2/{id}', '']),
                                  'method': r.choice(['GET', 'POST', ''])} for _ in range(r.choice([1, 2]))]
        if r.random() < 0.5:
            row['scope_types'] = r.sample(['system', 'domain', 'project'], r.choice([0, 1, 2]))
        x = r.random()
        if x < 0.3:
            row['deprecated_rule'] = {'name': r.choice([row['name'], row['name'] + '_old']),
                                      'check_str': r.choice(CHECKS)}
            if r.random() < 0.8:
                row['deprecated_rule']['deprecated_reason'] = description(r) or 'Because.'
                row['deprecated_rule']['deprecated_since'] = r.choice(['W', 'Xena', '2023.1'])
        elif x < 0.4:
            row['deprecated_for_removal'] = True
            row['deprecated_reason'] = description(r) or 'Gone.'
            row['deprecated_since'] = 'Y'
        rows.append(row)
    return rows


def py_default(row):
    dep = None
    if 'deprecated_rule' in row:
        d = row['deprecated_rule']
        dep = policy.DeprecatedRule(d['name'], d['check_str'], deprecated_reason=d.get('deprecated_reason'),
                                    deprecated_since=d.get('deprecated_since'))
    kw = dict(deprecated_rule=dep, deprecated_for_removal=row.get('deprecated_for_removal', False),
              deprecated_reason=row.get('deprecated_reason'), deprecated_since=row.get('deprecated_since'),
              scope_types=row.get('scope_types'))
    if 'operations' in row:
        return policy.DocumentedRuleDefault(row['name'], row['check_str'], row['description'], row['operations'], **kw)
    return policy.RuleDefault(row['name'], row['check_str'], row.get('description'), **kw)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')


def token(r):
    t = {'user': {'id': r.choice(['u1', 'u2'])}, 'roles': [{'name': n} for n in r.sample(['admin', 'member', 'reader'],
                                                                                          r.choice([0, 1, 2]))]}
    if r.random() < 0.7:
        t['project'] = {'id': r.choice(['p1', 'p2'])}
    if r.random() < 0.2:
        t['system'] = {'all': True}
    if r.random() < 0.3:
        t['domain'] = {'id': 'd1'}
    return {'token': t}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('keel')
    ap.add_argument('--count', type=int, default=150)
    ap.add_argument('--seed', type=int, default=int(os.environ.get('KEEL_POLICY_DIFF_SEED', '20261126')))
    ap.add_argument('--show', type=int, default=5)
    args = ap.parse_args()
    args.keel = os.path.abspath(args.keel)
    r = random.Random(args.seed)
    cases = dis = shown = 0
    t0 = time.time()

    def report(what, a, b):
        nonlocal dis, shown
        dis += 1
        if shown < args.show:
            shown += 1
            print('DISAGREE %s\n--- oslo.policy\n%s\n--- keel\n%s' % (what, a, b))

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.count):
            spaces = r.sample(['nova', 'glance', 'keystone', 'a', 'Z'], r.choice([1, 1, 2, 3]))
            sections = {ns: gen_rows(r, ns) for ns in spaces}
            dpath = os.path.join(tmp, 'defaults%d.json' % i)
            with open(dpath, 'w') as f:
                json.dump([{'namespace': ns, 'rules': rows} for ns, rows in sections.items()], f)
            policies = {ns: [py_default(x) for x in rows] for ns, rows in sections.items()}
            for exclude in (False, True):
                want = ''.join(generator._sort_and_format_by_section(policies, include_help=True,
                                                                      exclude_deprecated=exclude))
                cmd = [args.keel, 'policy', 'sample', '--defaults', dpath] + (['--exclude-deprecated'] if exclude else [])
                rc, got, err = run(cmd)
                cases += 1
                if rc != 0 or got != want:
                    report('sample %d (exclude_deprecated=%s) %s' % (i, exclude, err.strip()), want, got)
            # convert: a JSON file overriding some rules, keeping some, adding old or unknown ones
            file_rules = {}
            for ns, rows in sections.items():
                for row in rows:
                    x = r.random()
                    if x < 0.3:
                        file_rules[row['name']] = row['check_str']
                    elif x < 0.5:
                        file_rules[row['name']] = r.choice(CHECKS + [[['role:a'], ['role:b']], []])
            if r.random() < 0.5:
                file_rules['legacy:thing'] = r.choice(CHECKS)
            jpath = os.path.join(tmp, 'policy%d.json' % i)
            with open(jpath, 'w') as f:
                json.dump(file_rules, f)
            out = os.path.join(tmp, 'out%d.yaml' % i)
            generator.get_policies_dict = lambda namespaces, _p=policies: _p
            try:
                generator._convert_policy_json_to_yaml(list(policies), jpath, out)
                with open(out) as f:
                    want = f.read()
            except Exception as e:
                want = 'EXC %s' % type(e).__name__
            rc, got, err = run([args.keel, 'policy', 'convert', '--policy-file', jpath, '--defaults', dpath])
            cases += 1
            if rc != 0:
                got = 'EXC'
            if got != want and not (got == 'EXC' and want.startswith('EXC')):
                report('convert %d %s' % (i, err.strip()), want, got)
        # oslopolicy-checker
        for i in range(args.count // 2):
            rules = {'default': r.choice(CHECKS)}
            for k in range(r.choice([2, 4, 6])):
                rules[r.choice(['svc:get', 'svc:list', 'plain', 'admin_or_owner', 'svc:%d' % k])] = r.choice(
                    CHECKS + ['user_id:%(user_id)s', 'project_id:%(project.id)s', 'is_admin:True', 'rule:nope',
                              'system_scope:all', 'user.id:u1', 'and'])
            ppath = os.path.join(tmp, 'chk%d.json' % i)
            apath = os.path.join(tmp, 'access%d.json' % i)
            tpath = os.path.join(tmp, 'target%d.json' % i)
            with open(ppath, 'w') as f:
                json.dump(rules, f)
            with open(apath, 'w') as f:
                json.dump(token(r), f)
            with open(tpath, 'w') as f:
                json.dump({'project': {'id': r.choice(['p1', 'p2'])}, 'user_id': 'u1'}, f)
            extra = []
            if r.random() < 0.5:
                extra += ['--target', tpath]
            if r.random() < 0.3:
                extra += ['--rule', r.choice(list(rules))]
            if r.random() < 0.3:
                extra += ['--is_admin']
            rc1, want, _ = run(['/usr/bin/oslopolicy-checker', '--policy', ppath, '--access', apath] + extra)
            rc2, got, err = run([args.keel, 'policy', 'check', '--policy', ppath, '--access', apath] + extra)

            def norm(text):
                out, lines = [], text.splitlines()
                for k, line in enumerate(lines):
                    if line.startswith('passed: ') or line.startswith('failed: '):
                        out.append(line)
                    elif line.startswith('exception: '):
                        out.append('exception: ' + line[len('exception: '):])
                return out
            cases += 1
            if norm(want) != norm(got):
                report('checker %d %s rules=%s' % (i, extra, json.dumps(rules)), want, got + err)
    print('%.1f s' % (time.time() - t0))
    print('SUMMARY: policy_tools_diff: %d cases, %d disagreements (seed %d)' % (cases, dis, args.seed))
    return 1 if dis else 0


if __name__ == '__main__':
    sys.exit(main())
