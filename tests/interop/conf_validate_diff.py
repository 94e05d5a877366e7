#!/usr/bin/python3
"""Differential test: `keel conf validate` against oslo-config-validator.

    conf_validate_diff.py KEEL_BIN [--seed N] [--count N]

Each seeded case is a schema and one config file mixing known options,
unknown options and sections, options written under deprecated names,
repeated keys and an excluded group. oslo's validator gets the schema as
the machine-readable data oslo-config-generator produces (its --opt-data
input); keel gets the schema. Both must report the same findings — the
same "Deprecated opt G/K found" warnings and "G/K is not part of the sample
config" errors, in the same order — and agree on the exit status (with
--fatal-warnings on half of the cases). Values in these cases always fit
their types, so keel's extra type check reports nothing.
"""
import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conf_oslo_dump  # noqa: E402  (schema row -> oslo Opt)

from oslo_config import cfg, generator, validator  # noqa: E402

GROUPS = ('DEFAULT', 'database', 'api', 'keystone_authtoken', 'cache')
VALUES = {'string': 'text', 'int': '7', 'bool': 'true', 'port': '80', 'list': 'a,b', 'multi': 'm'}


def case(rnd):
    rows = []
    for i in range(rnd.randint(1, 7)):
        kind = rnd.choice(tuple(VALUES))
        row = {'name': 'opt_%d' % i, 'type': kind, 'group': rnd.choice(GROUPS)}
        if rnd.random() < 0.3:
            row['deprecated_name'] = rnd.choice(('old_%d' % i, 'old-%d' % i))
            if rnd.random() < 0.5:
                row['deprecated_group'] = rnd.choice(('DEFAULT', 'legacy'))
        rows.append(row)
    lines = {}
    for _ in range(rnd.randint(1, 12)):
        r = rnd.random()
        row = rnd.choice(rows)
        if r < 0.45:
            section, key, value = row['group'], row['name'], VALUES[row['type']]
        elif r < 0.65 and 'deprecated_name' in row:
            section = row.get('deprecated_group', row['group'])
            key, value = row['deprecated_name'], VALUES[row['type']]
        elif r < 0.85:
            section, key, value = rnd.choice(GROUPS), rnd.choice(('unknown', 'opt_9', 'host')), 'x'
        else:
            section, key, value = rnd.choice(('other', 'Database', 'excluded')), 'k', 'v'
        lines.setdefault(section, []).append('%s = %s' % (key, value))
    text = ''.join('[%s]\n%s\n\n' % (s, '\n'.join(ls)) for s, ls in lines.items())
    exclude = ['excluded'] if rnd.random() < 0.5 else []
    return rows, text, exclude, rnd.random() < 0.5


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        if record.levelno >= logging.WARNING:
            self.lines.append('%s %s' % ('ERROR' if record.levelno >= logging.ERROR else 'WARNING', record.getMessage()))


def oslo_validate(rows, path, exclude, fatal):
    per_group = {}
    for spec in rows:
        group = None if spec['group'] == 'DEFAULT' else spec['group']
        per_group.setdefault(group, []).append(conf_oslo_dump.make_opt(spec))
    gconf = cfg.ConfigOpts()
    generator.register_cli_opts(gconf)
    gconf(['--namespace', 'keel'], default_config_files=[], default_config_dirs=[])
    groups = generator._get_groups([('keel', list(per_group.items()))])
    data = generator._generate_machine_readable_data(groups, gconf)
    vconf = cfg.ConfigOpts()
    args = ['--input-file', path, '--opt-data', 'unused.yaml']
    for g in exclude:
        args += ['--exclude-group', g]
    if fatal:
        args.append('--fatal-warnings')
    validator._register_cli_opts(vconf)
    vconf(args, default_config_files=[], default_config_dirs=[])
    original = validator.load_opt_data
    validator.load_opt_data = lambda conf: data
    cap = Capture()
    logging.disable(logging.NOTSET)  # conf_oslo_dump silences logging on import
    root = logging.getLogger()
    root.addHandler(cap)
    root.setLevel(logging.DEBUG)
    try:
        status = validator._validate(vconf)
    finally:
        validator.load_opt_data = original
        root.removeHandler(cap)
    return status, cap.lines


def keel_validate(keel, rows, path, exclude, fatal, tmp):
    schema = os.path.join(tmp, 'schema.json')
    with open(schema, 'w') as f:
        json.dump(rows, f)
    cmd = [keel, 'conf', 'validate', '--options', schema, '--config-file', path]
    for g in exclude:
        cmd += ['--exclude-group', g]
    if fatal:
        cmd.append('--fatal-warnings')
    p = subprocess.run(cmd, capture_output=True, timeout=30)
    lines = [ln for ln in p.stderr.decode().splitlines() if ln.startswith(('ERROR ', 'WARNING '))]
    return p.returncode, lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('keel')
    ap.add_argument('--seed', type=int, default=int(os.environ.get('CONF_VALIDATE_SEED', '1')))
    ap.add_argument('--count', type=int, default=300)
    args = ap.parse_args()
    same = differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'input.conf')
        for i in range(args.count):
            rows, text, exclude, fatal = case(random.Random('%d:%d' % (args.seed, i)))
            with open(path, 'w') as f:
                f.write(text)
            want_status, want = oslo_validate(rows, path, exclude, fatal)
            got_status, got = keel_validate(args.keel, rows, path, exclude, fatal, tmp)
            if (want_status, want) == (got_status, got):
                same += 1
                continue
            differ += 1
            if differ <= 10:
                print('DIFFER case %d: schema %s exclude %s fatal %s' % (i, json.dumps(rows), exclude, fatal))
                print('    file: %r' % text)
                print('    oslo: status %d %s' % (want_status, want))
                print('    keel: status %d %s' % (got_status, got))
    print('SUMMARY: conf validate differential: %d cases (seed %d), %d identical, %d differences'
          % (same + differ, args.seed, same, differ))
    return 1 if differ else 0


if __name__ == '__main__':
    sys.exit(main())
