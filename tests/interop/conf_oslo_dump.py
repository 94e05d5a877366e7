#!/usr/bin/python3
"""The oslo.config side of the keel_conf differential test (conf_diff.py).

It does what `keel conf dump` does, with Debian's python3-oslo.config 9.0:
register the options a schema describes on a fresh cfg.ConfigOpts, call it
as CONF(args=ARGV, project=None, prog='keel', default_config_files=[],
default_config_dirs=[]), then print every schema option's value as
{"group": {"opt": value}} JSON (None as null, non-finite floats as
Infinity/NaN, as Python's json writes them). Anything oslo raises -- or an
argparse exit -- counts as a rejection.

Two modes:

  conf_oslo_dump.py --options SCHEMA.json [-- ARGV...]
      One case, the same command line as `keel conf dump`, for reproducing a
      disagreement by hand: JSON on stdout and exit 0, or the error on
      stderr and exit 1. Uses the process environment and working directory
      as they are.

  conf_oslo_dump.py --batch CASES.json
      Many cases in this one process. CASES.json is a JSON array of
      {"id", "dir", "schema", "argv", "env"}; each case runs with dir as the
      working directory and an environment with every OS_* variable removed
      and env added. Prints one JSON line per case:
      {"id": .., "ok": true, "value": {...}} or {"id": .., "ok": false,
      "error": "ExceptionName: message"}.

The schema is the JSON array conf_diff.py documents (name, type, group,
default, min, max, choices, deprecated_name, deprecated_group, required,
secret, cli, positional, short, item_type, max_length, regex, ignore_case,
help, mutable, deprecated_for_removal, deprecated_reason).
"""

import contextlib
import io
import json
import logging
import os
import sys
import warnings

from oslo_config import cfg
from oslo_config import types

# Deprecation reports and argparse noise must not reach our stdout/stderr.
logging.disable(logging.CRITICAL)
warnings.simplefilter('ignore')

SCALAR_TYPES = {
    'string': types.String,
    'bool': types.Boolean,
    'int': types.Integer,
    'float': types.Float,
    'port': types.Port,
    'host': types.HostAddress,
    'hostname': types.Hostname,
    'ip': types.IPAddress,
    'uri': types.URI,
}

# Schema keys passed straight to cfg.Opt when present.
COMMON_KEYS = ('default', 'required', 'secret', 'deprecated_name', 'deprecated_group', 'short', 'help', 'mutable',
               'deprecated_for_removal', 'deprecated_reason')


def item_type(spec):
    name = spec.get('item_type')
    if name is None:
        return None
    if name not in SCALAR_TYPES:
        raise ValueError('unknown item_type %r' % name)
    return SCALAR_TYPES[name]()


def make_opt(spec):
    """Maps one schema row to the oslo Opt the contract names."""
    name = spec['name']
    kind = spec['type']
    kw = {k: spec[k] for k in COMMON_KEYS if k in spec}
    # BoolOpt refuses the mere presence of 'positional'; pass it only when set.
    if spec.get('positional'):
        kw['positional'] = True
    lo, hi, choices = spec.get('min'), spec.get('max'), spec.get('choices')
    if kind == 'string':
        for k in ('choices', 'regex', 'ignore_case', 'max_length'):
            if k in spec:
                kw[k] = spec[k]
        return cfg.StrOpt(name, **kw)
    if kind == 'bool':
        return cfg.BoolOpt(name, **kw)
    if kind == 'int':
        if choices is not None:
            # IntOpt has no choices argument in 9.0; types.Integer has.
            return cfg.Opt(name, type=types.Integer(min=lo, max=hi, choices=choices), **kw)
        return cfg.IntOpt(name, min=lo, max=hi, **kw)
    if kind == 'float':
        return cfg.FloatOpt(name, min=lo, max=hi, **kw)
    if kind == 'port':
        return cfg.PortOpt(name, min=lo, max=hi, choices=choices, **kw)
    if kind == 'host':
        return cfg.HostAddressOpt(name, **kw)
    if kind == 'hostname':
        return cfg.HostnameOpt(name, **kw)
    if kind == 'ip':
        return cfg.IPOpt(name, **kw)
    if kind == 'uri':
        if 'max_length' in spec:
            kw['max_length'] = spec['max_length']
        return cfg.URIOpt(name, **kw)
    if kind == 'list':
        return cfg.ListOpt(name, item_type=item_type(spec), **kw)
    if kind == 'dict':
        it = item_type(spec)
        if it is None:
            return cfg.DictOpt(name, **kw)
        return cfg.Opt(name, type=types.Dict(it), **kw)
    if kind == 'multi':
        it = item_type(spec)
        if it is None:
            return cfg.MultiStrOpt(name, **kw)
        return cfg.MultiOpt(name, item_type=it, **kw)
    raise ValueError('unknown type %r' % kind)


def dump(schema, argv):
    """Returns the {group: {opt: value}} dict, or raises what oslo raised."""
    conf = cfg.ConfigOpts()
    for spec in schema:
        group = spec.get('group', 'DEFAULT')
        group = None if group == 'DEFAULT' else group
        opt = make_opt(spec)
        if spec.get('cli'):
            conf.register_cli_opt(opt, group=group)
        else:
            conf.register_opt(opt, group=group)
    conf(args=list(argv), project=None, prog='keel', default_config_files=[], default_config_dirs=[])
    out = {}
    for spec in schema:
        group = spec.get('group', 'DEFAULT')
        dest = spec['name'].replace('-', '_')
        if group == 'DEFAULT':
            value = conf[dest]
        else:
            value = conf[group][dest]
        out.setdefault(group, {})[spec['name']] = value
    return out


def run_one(schema, argv):
    """Runs a case with stdout/stderr captured; returns (ok, value or error)."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            value = dump(schema, argv)
        # The same JSON text keel must print; fails on values JSON cannot hold.
        text = json.dumps(value)
    except SystemExit as e:
        msg = ' | '.join(sink.getvalue().strip().splitlines()[1:] or sink.getvalue().strip().splitlines())
        return False, 'SystemExit(%s): %s' % (e.code, msg[:300])
    except BaseException as e:  # noqa: B036 -- any failure is a rejection
        if isinstance(e, KeyboardInterrupt):
            raise
        return False, '%s: %s' % (type(e).__name__, str(e).splitlines()[0] if str(e) else '')
    return True, text


def batch(path):
    with open(path, encoding='utf-8') as f:
        cases = json.load(f)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    home = os.getcwd()
    out = sys.stdout
    for case in cases:
        os.environ.clear()
        os.environ.update(base_env)
        os.environ.update(case.get('env', {}))
        os.chdir(case['dir'])
        try:
            ok, res = run_one(case['schema'], case['argv'])
        finally:
            os.chdir(home)
        rec = {'id': case['id'], 'ok': ok}
        rec['value' if ok else 'error'] = json.loads(res) if ok else res
        out.write(json.dumps(rec) + '\n')
        out.flush()
    os.environ.clear()
    os.environ.update(base_env)
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == '--batch':
        return batch(argv[1])
    if len(argv) >= 2 and argv[0] == '--options' and (len(argv) == 2 or argv[2] == '--'):
        with open(argv[1], encoding='utf-8') as f:
            schema = json.load(f)
        ok, res = run_one(schema, argv[3:])
        if ok:
            print(res)
            return 0
        print('oslo: ' + res, file=sys.stderr)
        return 1
    print(__doc__.split('\n\n')[2], file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
