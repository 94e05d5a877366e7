#!/usr/bin/python3
"""oslo.rootwrap's side of the rootwrap differential test.

Reads the cases tests/interop/rootwrap_diff.py wrote (JSON lines, byte
strings hex-encoded) and decides each with Debian's python3-oslo.rootwrap
6.3.1 in this one process, printing one line per case in the format
tests/rootwrap/rootwrap_probe.c prints for keel:

  conf   what cmd.main() makes of a rootwrap.conf (RootwrapConfig or exit 97)
  ini    what configparser.RawConfigParser reads from a file
  re     re.match(pattern, subject)
  match  wrapper.load_filters() + match_filter() + get_command() +
         get_environment(), or the refusal message, or "crash" when
         oslo.rootwrap would die with an exception

Each match case starts from a pristine filters module (a filter file can
rewrite it through __setattr__ and friends) and freshly loaded filters
(CommandFilter caches the executable it found).
"""
import configparser
import json
import logging
import os
import re
import sys
import tempfile
import warnings

from oslo_rootwrap import filters
from oslo_rootwrap import wrapper

warnings.simplefilter('ignore')


def esc(b):
    return ''.join(chr(c) if 0x20 <= c < 0x7f and c not in b'\\|,' else '\\x%02x' % c for c in b)


def esc_str(s):
    return esc(s.encode('utf-8', 'surrogateescape'))


def esc_msg(s):
    return esc(s.encode('utf-8', 'backslashreplace'))


def esc_list(v):
    return '[' + ','.join(esc_str(x) for x in v) + ']'


def fmt_int(v):
    if v > 1 << 62 or v < -(1 << 62):
        return 'big'
    return str(v)


def unhex(h):
    return os.fsdecode(bytes.fromhex(h))


def do_conf(c):
    configfile = unhex(c['path'])
    try:
        rawconfig = configparser.RawConfigParser()
        rawconfig.read(configfile)
        config = wrapper.RootwrapConfig(rawconfig)
    except ValueError as exc:
        return 'err97 ' + esc_msg("Incorrect value in %s: %s" % (configfile, exc.args[0]))
    except configparser.Error:
        return 'err97 ' + esc_msg("Incorrect configuration file: %s" % configfile)
    fac = config.syslog_log_facility
    fac = fmt_int(int(fac)) if isinstance(fac, int) else 'odd'
    return 'ok fp=%s ed=%s syslog=%d fac=%s lvl=%d timeout=%s rlimit=%s' % (
        esc_list(config.filters_path), esc_list(config.exec_dirs), int(config.use_syslog), fac,
        config.syslog_log_level, fmt_int(config.daemon_timeout), fmt_int(config.rlimit_nofile))


def dump_section(name, d):
    return '[%s]{%s}' % (esc_str(name), ';'.join('%s=%s' % (esc_str(k), esc_str(v)) for k, v in d.items()))


def do_ini(c, scratch):
    path = os.path.join(scratch, 'case.ini')
    with open(path, 'wb') as f:
        f.write(bytes.fromhex(c['text']))
    p = configparser.RawConfigParser(strict=c['strict'])
    try:
        p.read(path)
    except UnicodeDecodeError:
        return 'err DECODE line=0'
    except configparser.MissingSectionHeaderError as e:
        return 'err MISSING line=%d' % e.lineno
    except configparser.DuplicateSectionError as e:
        return 'err DUPSECT line=%d' % e.lineno
    except configparser.DuplicateOptionError as e:
        return 'err DUPOPT line=%d' % e.lineno
    except configparser.ParsingError as e:
        return 'err PARSING line=%d' % e.errors[0][0]
    out = [dump_section('DEFAULT', p._defaults)]
    for name, d in p._sections.items():
        out.append(dump_section(name, d))
    return 'ok ' + ''.join(out)


def do_re(c):
    pattern = bytes.fromhex(c['pattern']).decode('utf-8')
    subject = unhex(c['subject'])
    try:
        return '1' if re.match(pattern, subject) else '0'
    except re.error:
        return 'error'
    except Exception:
        return 'crash'


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append('%d:%s' % (record.levelno, esc_msg(record.getMessage())))


PRISTINE = dict(filters.__dict__)


def do_match(c, capture):
    # A definition can rewrite the filters module (__setattr__, __delattr__,
    # __init__); every case starts from the module as imported.
    d = filters.__dict__
    d.clear()
    d.update(PRISTINE)
    capture.lines = []
    dirs = [unhex(x) for x in c['dirs']]
    exec_dirs = [unhex(x) for x in c['exec_dirs']]
    args = [unhex(x) for x in c['args']]
    try:
        flist = wrapper.load_filters(dirs)
        try:
            f = wrapper.match_filter(flist, args, exec_dirs)
            cmd = f.get_command(args, exec_dirs)
            env = f.get_environment(args)
            out = 'allow name=%s class=%s runas=%s cmd=%s env=%s' % (
                esc_str(f.name), type(f).__name__, esc_str(f.run_as), esc_list(cmd),
                'None' if env is None else esc_list('%s=%s' % kv for kv in env.items()))
        except wrapper.FilterMatchNotExecutable as exc:
            out = 'noexec msg=' + esc_msg("Executable not found: %s (filter match = %s)"
                                          % (exc.match.exec_path, exc.match.name))
        except wrapper.NoFilterMatched:
            out = 'deny msg=' + esc_msg("Unauthorized command: %s (no filter matched)" % ' '.join(args))
    except Exception:
        out = 'crash'
    return out + ' warns=[' + ','.join(capture.lines) + ']'


def main():
    capture = Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    root.setLevel(logging.WARNING)
    out = sys.stdout
    with tempfile.TemporaryDirectory() as scratch, open(sys.argv[1]) as cases:
        for line in cases:
            c = json.loads(line)
            op = c['op']
            if op == 'conf':
                r = do_conf(c)
            elif op == 'ini':
                r = do_ini(c, scratch)
            elif op == 're':
                r = do_re(c)
            else:
                r = do_match(c, capture)
            out.write('%s\t%s\n' % (c['id'], r))


if __name__ == '__main__':
    main()
