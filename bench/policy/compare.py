#!/usr/bin/python3
"""Policy benchmark: keel against oslo.policy 4.0.0 in one run.

    compare.py POLICY_ENFORCE [--ms 300] [--markdown]

Writes a Nova-sized policy (the base rules Nova defines and 400 API rules
referring to them, as policy.yaml) and a 1,000-rule policy, then measures on
both sides: enforce() of a four-check rule, allowed and denied; enforce()
of Nova API rules through two levels of rule references; the time to load
the 1,000-rule file. oslo.policy runs through a real Enforcer as a service
uses it (which re-checks the file's mtime on every call, as deployed), and,
for the same rules, with that reload check off. Prints one line per
measure with both figures and the ratio, and with --markdown a table for
docs/benchmarks.md.
"""
import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings

from oslo_config import cfg
from oslo_policy import policy

logging.disable(logging.CRITICAL)
warnings.simplefilter('ignore')

BASE = {
    'context_is_admin': 'role:admin',
    'admin_or_owner': 'is_admin:True or project_id:%(project_id)s',
    'admin_api': 'is_admin:True',
    'system_admin_api': 'role:admin and system_scope:all',
    'system_reader_api': 'role:reader and system_scope:all',
    'project_admin_api': 'role:admin and project_id:%(project_id)s',
    'project_member_api': 'role:member and project_id:%(project_id)s',
    'project_reader_api': 'role:reader and project_id:%(project_id)s',
    'project_member_or_admin': 'rule:project_member_api or rule:context_is_admin',
    'project_reader_or_admin': 'rule:project_reader_api or rule:context_is_admin',
    'four_check': 'role:admin or (project_id:%(project_id)s and role:member) or user_id:%(user_id)s',
}
API_RULES = ['project_reader_or_admin', 'project_member_or_admin', 'admin_api', 'system_reader_api',
             'project_admin_api', 'admin_or_owner', 'context_is_admin']


def nova_policy():
    rules = dict(BASE)
    verbs = ['index', 'detail', 'show', 'create', 'update', 'delete', 'reboot', 'resize', 'rebuild', 'lock']
    for i in range(40):
        for j, v in enumerate(verbs):
            rules['os_compute_api:resource%02d:%s' % (i, v)] = 'rule:' + API_RULES[(i + j) % len(API_RULES)]
    return rules


def big_policy():
    rules = dict(BASE)
    for i in range(1000 - len(rules)):
        rules['svc:api:%04d' % i] = ('(role:admin or role:member) and project_id:%(project_id)s'
                                     if i % 3 else 'rule:project_member_or_admin or user_id:%(user_id)s')
    return rules


def write_yaml(path, rules):
    with open(path, 'w') as f:
        for k, v in rules.items():
            f.write('"%s": "%s"\n' % (k, v))


def cases(rules):
    member = {'roles': ['member'], 'project_id': 'p1', 'user_id': 'u1', 'is_admin': False}
    stranger = {'roles': ['reader'], 'project_id': 'p2', 'user_id': 'u2', 'is_admin': False}
    target = {'project_id': 'p1', 'user_id': 'u1'}
    out = [
        {'name': 'four_check_allowed', 'rule': 'four_check', 'target': target, 'credentials': member},
        {'name': 'four_check_denied', 'rule': 'four_check', 'target': target, 'credentials': stranger},
        {'name': 'nova_api_allowed', 'rule': 'os_compute_api:resource07:update', 'target': target,
         'credentials': member},
        {'name': 'nova_api_denied', 'rule': 'os_compute_api:resource07:update', 'target': target,
         'credentials': stranger},
    ]
    return out


def python_time(enforcer, c, ms):
    rule, target, creds = c['rule'], c['target'], c['credentials']
    n = 50
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            enforcer.enforce(rule, target, dict(creds))
        t = time.perf_counter() - t0
        if t * 1000 >= ms:
            return t / n * 1e9
        n = int(n * ms / 1000 / max(t, 1e-6) * 1.1) + 1


def python_enforcer(path):
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[], default_config_dirs=[])
    e = policy.Enforcer(conf, policy_file=path)
    e.load_rules()
    return e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('policy_enforce')
    ap.add_argument('--ms', type=float, default=300)
    ap.add_argument('--markdown', action='store_true')
    args = ap.parse_args()
    args.policy_enforce = os.path.abspath(args.policy_enforce)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        nova = os.path.join(tmp, 'nova.yaml')
        big = os.path.join(tmp, 'big.yaml')
        write_yaml(nova, nova_policy())
        write_yaml(big, big_policy())
        cs = cases(nova_policy())
        cpath = os.path.join(tmp, 'cases.json')
        with open(cpath, 'w') as f:
            json.dump(cs, f)
        p = subprocess.run([args.policy_enforce, '--policy', nova, '--cases', cpath, '--load', big, '--ms',
                            str(args.ms)], stdout=subprocess.PIPE, check=True)
        keel = {}
        for line in p.stdout.decode().splitlines():
            d = json.loads(line)
            keel[d['measure']] = d
        e = python_enforcer(nova)
        rows = []
        for c in cs:
            allowed = bool(e.enforce(c['rule'], c['target'], dict(c['credentials'])))
            if allowed != keel[c['name']]['allowed']:
                print('MISMATCH %s: oslo %s keel %s' % (c['name'], allowed, keel[c['name']]['allowed']))
                return 1
            py_ns = python_time(e, c, args.ms)
            e.use_conf = False
            py_nr = python_time(e, c, args.ms)
            e.use_conf = True
            k = keel[c['name']]
            rows.append((c['name'], k['ns_per_op'], py_ns, py_nr, k['allocs_per_op']))
        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            python_enforcer(big)
            loads.append(time.perf_counter() - t0)
        py_load = min(loads) * 1e3
        k_load = keel['load_rules']['ms']
    for name, kns, pns, pnr, al in rows:
        print('policy %-20s keel %8.1f ns  oslo.policy %9.1f ns (%8.1f without reload check)  ratio %7.0fx (%6.0fx)  '
              'keel allocs/op %d' % (name, kns, pns, pnr, pns / kns, pnr / kns, al))
    print('policy %-20s keel %8.2f ms  oslo.policy %9.2f ms  ratio %7.1fx' % ('load_1000_rules', k_load, py_load,
                                                                             py_load / k_load))
    if args.markdown:
        print()
        print('| measure | keel | oslo.policy (as deployed) | oslo.policy (no reload check) | ratio | keel allocs |')
        print('|---|---|---|---|---|---|')
        for name, kns, pns, pnr, al in rows:
            print('| enforce %s | %.0f ns | %.1f µs | %.1f µs | %.0f× (%.0f×) | %d |' %
                  (name, kns, pns / 1e3, pnr / 1e3, pns / kns, pnr / kns, al))
        print('| load 1,000-rule policy.yaml | %.2f ms | %.1f ms | | %.1f× | |' % (k_load, py_load, py_load / k_load))
    return 0


if __name__ == '__main__':
    sys.exit(main())
