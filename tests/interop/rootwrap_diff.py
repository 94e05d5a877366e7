#!/usr/bin/python3
"""Differential test of keel's rootwrap module against oslo.rootwrap 6.3.1.

usage: rootwrap_diff.py PROBE [KEEL_ROOTWRAP [KEEL_ROOTWRAP_DAEMON CLIENT_PROBE]]

Builds a scratch tree (filter files, exec dirs, symlinks, running
processes for KillFilter), writes a few thousand cases with a fixed seed,
and has both sides decide every one of them:

  * PROBE (tests/rootwrap/rootwrap_probe.c, keel) and
    tests/interop/rootwrap_probe.py (Debian's python3-oslo.rootwrap, all
    cases in one process) print one line per case; the lines must be equal.
    Cases: command lines matched against filter sets (allowed, denied, not
    executable, and the inputs on which oslo.rootwrap dies with an
    exception), rootwrap.conf files, files in configparser's dialect, and
    Python regular expressions.
  * With KEEL_ROOTWRAP, harmless commands run end to end through
    keel-rootwrap and oslo-rootwrap, comparing exit status, stdout and
    stderr; with the daemon and tests/rootwrap/rootwrap_client_probe too,
    through keel-rootwrap-daemon and oslo-rootwrap-daemon (rootwrap_e2e.py).

Prints one "SUMMARY:" line with the case count and the disagreements; exits
1 if there is any disagreement.
"""
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

SEED = 61061
HERE = os.path.dirname(os.path.abspath(__file__))
PY = '/usr/bin/python3'


def hx(s):
    if isinstance(s, str):
        s = s.encode('utf-8', 'surrogateescape')
    return s.hex()


def write(path, data, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8', 'surrogateescape')
    with open(path, 'wb') as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


def fake_exe(path):
    write(path, '#!/bin/true\n', 0o755)


class Fixture:
    """The scratch tree and the processes KillFilter looks at."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix='keel-rootwrap-diff-')
        self.procs = []
        T = self.root
        os.makedirs(os.path.join(T, 'bin'))
        for name in ['cat', 'echo', 'true', 'false', 'id', 'env', 'ls', 'sleep', 'chown', 'chmod', 'rm', 'dd']:
            os.symlink(shutil.which(name), os.path.join(T, 'bin', name))
        for name in ['ip', 'nice', 'ionice', 'dnsmasq', 'privsep-helper', 'kill']:
            fake_exe(os.path.join(T, 'bin', name))
        fake_exe(os.path.join(T, 'bin2', 'tool'))
        fake_exe(os.path.join(T, 'bin2', 'cat'))
        write(os.path.join(T, 'noexec', 'tool'), 'x', 0o644)
        os.makedirs(os.path.join(T, 'isdir', 'tool'))
        fake_exe(os.path.join(T, 'rel', 'bin', 'rtool'))
        # PathFilter's playground.
        D = os.path.join(T, 'data')
        write(os.path.join(D, 'images', 'a.img'), 'a')
        write(os.path.join(D, 'images', 'sub', 'b.img'), 'b')
        write(os.path.join(D, 'images2', 'evil'), 'e')
        write(os.path.join(D, 'other', 'x'), 'x')
        os.symlink('/etc/hostname', os.path.join(D, 'images', 'out'))
        os.symlink('sub/b.img', os.path.join(D, 'images', 'in'))
        os.symlink('loop2', os.path.join(D, 'images', 'loop1'))
        os.symlink('loop1', os.path.join(D, 'images', 'loop2'))
        os.symlink('/nonexistent/x', os.path.join(D, 'images', 'dangling'))
        os.symlink('../other/x', os.path.join(D, 'images', 'dotdot'))
        os.symlink('images', os.path.join(D, 'link-to-images'))
        os.symlink(D + '/images/../images2', os.path.join(D, 'images', 'up'))
        # Processes for KillFilter: a plain sleep, a deleted executable, a
        # replaced executable, and a deleted one whose argv[0] is a bare name.
        K = os.path.join(T, 'kbin')
        os.makedirs(K)
        sleep = shutil.which('sleep')
        self.pid_plain = self.spawn([sleep, '1000'])
        shutil.copy(sleep, os.path.join(K, 'mysleep'))
        self.pid_deleted = self.spawn([os.path.join(K, 'mysleep'), '1000'])
        shutil.copy(sleep, os.path.join(K, 'updated'))
        self.pid_updated = self.spawn([os.path.join(K, 'updated'), '1000'])
        shutil.copy(sleep, os.path.join(K, 'dsleep'))
        self.pid_bare = self.spawn(['sleep', '1000'], executable=os.path.join(K, 'dsleep'))
        time.sleep(0.2)
        os.unlink(os.path.join(K, 'mysleep'))
        os.unlink(os.path.join(K, 'updated'))
        shutil.copy(sleep, os.path.join(K, 'updated'))
        os.unlink(os.path.join(K, 'dsleep'))
        self.pid_self = os.getpid()
        self.pid_gone = 999999999

    def spawn(self, argv, executable=None):
        p = subprocess.Popen(argv, executable=executable, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p.pid

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def main_filters(T):
    D = T + '/data'
    return {
        'main.filters': f"""# The main filter set: every class, with the usual shapes.
[Filters]
cat: CommandFilter, cat, root
cat_abs: CommandFilter, /bin/cat, root
echo: CommandFilter, echo, root
true_u: CommandFilter, true, nobody
id: CommandFilter, id, root
env_cmd: CommandFilter, env, root
missing: CommandFilter, doesnotexist, root
missing_abs: CommandFilter, /nonexistent/tool, root
tool: CommandFilter, tool, root
relative: CommandFilter, rel/bin/rtool, root
ls_re: RegExpFilter, ls, root, ls, -[la]+, /tmp/[a-z]+
dd_re: RegExpFilter, dd, root, dd, if=/dev/zero, of=/tmp/.*, bs=\\d+[KM]?, count=[0-9]{{1,3}}
anchors: RegExpFilter, echo, root, echo, ^a.*b$, (x|y)z
alt: RegExpFilter, echo, root, echo, foo|bar
badre: RegExpFilter, echo, root, echo, [unclosed
uni: RegExpFilter, echo, root, echo, \\w+, \\d
case: RegExpFilter, echo, root, echo, (?i)héllo
nl: RegExpFilter, echo, root, echo, abc
chown: PathFilter, /bin/chown, root, nova, {D}/images
chmod: PathFilter, chmod, root, 755, {D}/images, pass
rm: PathFilter, rm, root, {D}/images
""",
        'more.filters': f"""[Filters]
kill_sleep: KillFilter, root, /usr/bin/sleep, -9, -HUP
kill_rel: KillFilter, root, sleep
kill_nosig: KillFilter, root, /usr/bin/sleep
kill_updated: KillFilter, root, {T}/kbin/updated, -15
read_hostname: ReadFileFilter, /etc/hostname
ip: IpFilter, ip, root
ip_netns: IpNetnsExecFilter, ip, root
env_filter: EnvFilter, env, root, CONFIG_FILE=, NETWORK_ID=, dnsmasq
env_cat: EnvFilter, env, root, A=, B=, cat
env_dup: EnvFilter, /usr/bin/env, root, A=1, A=2, echo
chain_re: ChainingRegExpFilter, nice, root, nice, -n, -?\\d+
chain_plain: ChainingFilter, nice, root
ionice: ChainingRegExpFilter, ionice, root, ionice, -c[0-9]
""",
    }


def pathological_sets(T):
    """Filter directories that exercise oslo.rootwrap's odd corners, each
    with the command lines worth asking about."""
    sets = []

    def add(name, files, cmds):
        sets.append((name, files, cmds))

    base_cmds = [['cat', '/etc/hostname'], ['ls'], ['true'], ['privsep-helper'], ['echo', 'x'],
                 ['nice', '-n', '5', 'cat', 'x'], ['env', 'A=1', 'cat'], ['env'], ['ip', 'link']]
    add('unknown', {'a.filters': '[Filters]\nfoo: FooFilter, x, root\ncat: CommandFilter, cat, root\n'
                                 'empty:\nspaces: CommandFilter , echo , root \n'}, base_cmds)
    add('poison_class', {'a.filters': '[Filters]\ncat: CommandFilter, cat, root\nm: __class__, mod\n'
                                      'chain: ChainingRegExpFilter, nice, root, nice, -n, \\d+\n'}, base_cmds)
    add('poison_class2', {'a.filters': '[Filters]\nm: __class__, mod, doc\ncat: CommandFilter, cat, root\n'}, base_cmds)
    add('class_noargs', {'a.filters': '[Filters]\nm: __class__\n'}, base_cmds)
    add('setattr', {'a.filters': '[Filters]\ns: __setattr__, xyz, value\nu: xyz, a, b\n'}, base_cmds)
    add('setattr_silent', {'a.filters': '[Filters]\ns: __setattr__, xyz, value\ncat: CommandFilter, cat, root\n'},
        base_cmds)
    add('setattr_cmd', {'a.filters': '[Filters]\ns: __setattr__, CommandFilter, gone\n'}, base_cmds)
    add('delattr_cmd', {'a.filters': '[Filters]\ncat: CommandFilter, cat, root\nd: __delattr__, CommandFilter\n'
                                     'echo: CommandFilter, echo, root\n'}, base_cmds)
    add('delattr_kill', {'a.filters': '[Filters]\nd: __delattr__, KillFilter\nk: KillFilter, root, sleep\n'
                                      'cat: CommandFilter, cat, root\n'}, base_cmds)
    add('delattr_missing', {'a.filters': '[Filters]\nd: __delattr__, nothing\n'}, base_cmds)
    add('getattribute', {'a.filters': '[Filters]\ncat: CommandFilter, cat, root\ng: __getattribute__, os\n'},
        base_cmds)
    add('getattribute_cls', {'a.filters': '[Filters]\ng: __getattribute__, CommandFilter\n'}, base_cmds)
    add('getattribute_str', {'a.filters': '[Filters]\ng: __getattribute__, __name__\n'}, base_cmds)
    add('init', {'a.filters': '[Filters]\ni: __init__, renamed\ncat: CommandFilter, cat, root\n'}, base_cmds)
    add('init_subclass', {'a.filters': '[Filters]\ni: __init_subclass__\ncat: CommandFilter, cat, root\n'},
        base_cmds)
    for attr in ['os', 're', 'realpath', 'EXEC_VARS', '_getuid', '__doc__', '__repr__', '__dict__', 'sys']:
        add('attr_' + attr, {'a.filters': '[Filters]\ncat: CommandFilter, cat, root\nx: %s, root\n' % attr},
            base_cmds[:3])
    add('too_few', {'a.filters': '[Filters]\ncat: CommandFilter, cat\n'}, base_cmds[:2])
    add('kill_short', {'a.filters': '[Filters]\nk: KillFilter, root\ncat: CommandFilter, cat, root\n'},
        [['kill', 'PID_PLAIN'], ['kill', '-9', 'PID_PLAIN'], ['kill', 'PID_GONE'], ['cat']])
    add('readfile_extra', {'a.filters': '[Filters]\nr: ReadFileFilter, /etc/hostname, extra, more\n'},
        [['cat', '/etc/hostname'], ['cat', '/etc/passwd'], ['cat']])
    add('no_section', {'a.filters': '[Other]\ncat: CommandFilter, cat, root\n'}, base_cmds[:2])
    add('empty_file', {'a.filters': ''}, base_cmds[:2])
    add('readme', {'README': 'This directory holds filters.\n', 'a.filters': '[Filters]\ncat: CommandFilter, cat, root\n'},
        base_cmds[:2])
    add('dotfile', {'.hidden': 'garbage', 'a.filters': '[Filters]\ncat: CommandFilter, cat, root\n'}, base_cmds[:2])
    add('subdir', {'sub/x.filters': 'garbage', 'a.filters': '[Filters]\ncat: CommandFilter, cat, root\n'},
        base_cmds[:2])
    add('defaults', {'a.filters': '[DEFAULT]\necho: CommandFilter, echo, root\ncat: CommandFilter, true, root\n'
                                  '[Filters]\ncat: CommandFilter, cat, root\nls: CommandFilter, ls, root\n'},
        base_cmds)
    add('duplicates', {'a.filters': '[Filters]\ncat: CommandFilter, true, root\necho: CommandFilter, echo, root\n'
                                    'cat: CommandFilter, cat, nobody\n[Filters]\necho: CommandFilter, echo, nobody\n'},
        base_cmds)
    add('multiline', {'a.filters': '[Filters]\ncat: CommandFilter,\n  cat,\n\n  root\necho: CommandFilter, echo,\n'
                                   '\troot, extra\n  # comment\n   more\n'}, base_cmds)
    add('names', {'a.filters': '[Filters]\nCAT: CommandFilter, cat, root\nÜnïcode Name: CommandFilter, echo, root\n'
                               'ΣΑΣ: CommandFilter, ls, root\nİstanbul: CommandFilter, true, root\n'
                               'Kelvin\u212a: CommandFilter, id, root\n'}, base_cmds + [['id']])
    add('parse_error', {'a.filters': '[Filters]\ncat: CommandFilter, cat, root\nthis line is bad\n'}, base_cmds[:2])
    add('no_header', {'a.filters': 'cat: CommandFilter, cat, root\n'}, base_cmds[:2])
    add('delims', {'a.filters': '[Filters]\ncat = CommandFilter, cat, root\necho : CommandFilter, echo, root\n'
                                'ls:CommandFilter,ls,root\nid=CommandFilter=id, root\n'}, base_cmds + [['id']])
    add('comments', {'a.filters': '# header\n; another\n[Filters]\ncat: CommandFilter, cat, root # comment\n'
                                  '  ; indented comment\necho: CommandFilter, echo, root ; x\n'}, base_cmds)
    add('bad_utf8', {'a.filters': b'[Filters]\ncat: CommandFilter, cat, root\n# \xff\n'}, base_cmds[:2])
    add('bom', {'a.filters': '\ufeff[Filters]\ncat: CommandFilter, cat, root\n'}, base_cmds[:2])
    add('crlf', {'a.filters': '[Filters]\r\ncat: CommandFilter, cat, root\r\necho: CommandFilter,\r  echo, root\r'},
        base_cmds)
    add('trailing_comma', {'a.filters': '[Filters]\ncat: CommandFilter, cat, root,\nls: CommandFilter, ls, root, ,\n'},
        base_cmds)
    add('chain_poison', {'a.filters': '[Filters]\ncat: CommandFilter, cat, root\n'
                                      'nice: ChainingRegExpFilter, nice, root, nice, -n, -?\\d+\n'
                                      'p: __getattribute__, re\n'}, base_cmds)
    add('env_pop', {'a.filters': '[Filters]\nenvf: EnvFilter, env, root, A=, cat\nipf: IpFilter, ip, root\n'
                                 'envc: CommandFilter, env, root\n'},
        [['env'], ['env', 'A=1', 'cat'], ['env', 'env'], ['ip', 'a'], ['env', 'ip'], ['env', 'B=1', 'cat'],
         ['A=1', 'cat'], ['env', 'A=1'], ['env', 'env', 'A=1', 'cat']])
    add('env_two', {'a.filters': '[Filters]\ne1: EnvFilter, env, root, A=, cat\ne2: EnvFilter, env, root, B=, cat\n'
                                 'e3: EnvFilter, /usr/bin/env, root, C=1, D=2\ne4: EnvFilter, env, nobody, A=, B=, id\n'},
        [['env', 'env', 'A=1', 'cat'], ['env', 'A=1', 'cat', 'x'], ['env', 'B=2', 'cat'], ['B=2', 'cat'],
         ['env', 'C=1', 'D=2'], ['env', 'C=1', 'D=2', 'x'], ['env', 'A=1', 'B=2', 'id'], ['env', 'A=', 'cat'],
         ['env', '=x', 'cat'], ['env', 'A=1', 'A=2', 'cat'], ['env', 'A=x=y', 'cat']])
    add('chain_only', {'a.filters': '[Filters]\nc: ChainingFilter, nice, root\nn: IpNetnsExecFilter, ip, root\n'
                                    'n2: IpNetnsExecFilter, ip, nobody\ncat: CommandFilter, cat, root\n'
                                    'catu: CommandFilter, cat, nobody\n'},
        [['nice', 'cat'], ['ip', 'netns', 'exec', 'ns1', 'cat', 'x'], ['ip', 'net', 'e', 'ns1', '/bin/cat'],
         ['ip', 'netns', 'exec', 'ns1'], ['ip', 'netns', 'exec', 'ns1', 'ls'], ['ip', 'netn', 'ex', 'ns', 'cat'],
         ['ip', 'netns', 'list']])
    add('symlinked_file', {'real/a.txt': '[Filters]\ncat: CommandFilter, cat, root\n'}, base_cmds[:2])
    add('classes_ws', {'a.filters': '[Filters]\ncat: \tCommandFilter\t,\u3000cat\u3000, root\xa0\n'}, base_cmds[:2])
    return sets


# Pools for random command lines.
def arg_pool(F):
    T = F.root
    D = T + '/data'
    pids = [F.pid_plain, F.pid_deleted, F.pid_updated, F.pid_bare, F.pid_self, F.pid_gone, 1]
    pool = ['', ' ', '-la', '-l', '-x', '/tmp/abc', '/tmp/ABC', '/tmp/', 'a', 'ab', 'axb', 'acb', 'yz', 'xz', 'foo',
            'bar', 'foobar', 'barx', 'héllo', 'HÉLLO', 'Héllo', 'abc\n', 'abc\n\n', 'é', '日本', 'nova', '755', 'root',
            D + '/images', D + '/images/a.img', D + '/images/../other/x', D + '/images2/evil', D + '/images/out',
            D + '/images/in', D + '/images/loop1', D + '/images/dangling', D + '/images/dotdot',
            D + '/link-to-images/a.img', D + '/images/up/evil', D + '//images/./sub/../a.img', 'data/images/a.img',
            '../' + os.path.basename(T) + '/data/images/a.img', '/etc/hostname', '/etc/passwd', '-9', '-HUP', '-15',
            '9', 'A=1', 'B=2', 'A=', '=x', 'CONFIG_FILE=/x', 'NETWORK_ID=1', 'PATH=/tmp', 'netns', 'exec', 'net',
            'e', 'link', 'ns1', '-n', '5', '-5', '+5', 'if=/dev/zero', 'of=/tmp/x', 'bs=4K', 'bs=4G', 'count=12',
            'count=1234', '-c3', '-c', '$(id)', '`id`', ';id', '|id', '*', '~', 'x y', '\t', '--', '-',
            '\udcff', 'a\udcc3', '\udce9t\udce9']
    for p in pids:
        pool += [str(p), ' %d ' % p, '+%d' % p, '0%d' % p, '-%d' % p]
    p = str(F.pid_plain)
    pool += [p[0] + '_' + p[1:], ''.join(chr(0x660 + int(d)) for d in p), p + '.0', p + '\n', '\x1c' + p]
    return pool


COMMANDS = ['cat', '/bin/cat', '/usr/bin/cat', './cat', 'bin/cat', 'CAT', 'cat ', '', 'env', 'kill', 'ip', 'nice',
            'ionice', 'chown', '/bin/chown', 'chmod', 'rm', 'dd', 'ls', 'echo', 'id', 'true', 'tool', 'doesnotexist',
            '/nonexistent/tool', 'privsep-helper', 'dnsmasq', 'sh', 'rel/bin/rtool', 'rtool', 'false', '/usr/bin/env']


def hand_written(F):
    T = F.root
    D = T + '/data'
    P = str(F.pid_plain)
    cases = [
        ['cat', '/etc/hostname'], ['/bin/cat', '/etc/hostname'], ['/usr/bin/cat'], ['cat'], ['ls'], ['id'],
        ['true'], ['echo', 'hello'], ['doesnotexist'], ['tool'], ['rel/bin/rtool'], ['rtool'],
        ['ls', '-la', '/tmp/abc'], ['ls', '-la', '/tmp/abc/'], ['ls', '-la'], ['ls', '-al', '/tmp/xyz', 'extra'],
        ['dd', 'if=/dev/zero', 'of=/tmp/x', 'bs=4K', 'count=12'], ['dd', 'if=/dev/zero', 'of=/tmp/x', 'bs=4G', 'count=1'],
        ['dd', 'if=/dev/zero', 'of=/tmp/x', 'bs=4K', 'count=1234'],
        ['echo', 'ab', 'xz'], ['echo', 'axxb', 'yz'], ['echo', 'a', 'xz'], ['echo', 'foo'], ['echo', 'foox'],
        ['echo', 'barx'], ['echo', 'xbar'], ['echo', 'abc\n'], ['echo', 'héllo'], ['echo', 'HÉLLO'], ['echo', 'x'],
        ['echo', 'word', '5'], ['echo', 'wörd', '٣'], ['echo', '\udcff'],
        ['chown', 'nova', D + '/images/a.img'], ['chown', 'nova', D + '/images/out'],
        ['chown', 'nova', D + '/images2/evil'], ['chown', 'nova', D + '/images/../other/x'],
        ['chown', 'nova', D + '/images/in'], ['chown', 'nova', D + '/images/loop1'],
        ['chown', 'nova', D + '/images/dangling'], ['chown', 'root', D + '/images/a.img'],
        ['chown', 'nova', 'data/images/a.img'], ['chmod', '755', D + '/images/sub', 'anything'],
        ['chmod', '644', D + '/images/sub', 'x'], ['rm', D + '/images/up/evil'], ['rm', D + '/link-to-images/a.img'],
        ['kill', P], ['kill', '-9', P], ['kill', '-HUP', P], ['kill', '-15', P], ['kill', '-TERM', P],
        ['kill', str(F.pid_deleted)], ['kill', '-9', str(F.pid_deleted)], ['kill', str(F.pid_updated)],
        ['kill', '-15', str(F.pid_updated)], ['kill', str(F.pid_bare)], ['kill', str(F.pid_gone)],
        ['kill', 'abc'], ['kill'], ['kill', '-9'], ['kill', '1', '2', '3'], ['kill', ' %s ' % P],
        ['cat', '/etc/passwd'], ['cat', '/etc/hostname', 'x'],
        ['ip', 'link'], ['ip', 'netns', 'exec', 'ns1', 'cat', 'x'], ['ip', 'netns', 'list'], ['ip', 'net', 'e'],
        ['ip', '-s', 'netns', 'exec', 'ns1', 'ls'], ['ip', 'netns', 'exec', 'ns1', '/bin/cat', '/etc/hostname'],
        ['env', 'CONFIG_FILE=/x', 'NETWORK_ID=1', 'dnsmasq', '--foo'],
        ['CONFIG_FILE=/x', 'NETWORK_ID=1', 'dnsmasq'], ['env', 'NETWORK_ID=1', 'CONFIG_FILE=/x', 'dnsmasq'],
        ['env', 'CONFIG_FILE=/x', 'dnsmasq'], ['env', 'CONFIG_FILE=/x', 'NETWORK_ID=1', 'PATH=/tmp', 'dnsmasq'],
        ['env', 'A=1', 'B=2', 'cat', '/etc/hostname'], ['env', 'B=2', 'A=1', 'cat'], ['env', 'A=1', 'cat'],
        ['env', 'A=1', 'A=2', 'echo'], ['env', 'A=', 'B=', 'cat'], ['env', 'A=1', 'B=2', '/bin/cat'],
        ['nice', '-n', '5', 'cat', '/etc/hostname'], ['nice', '-n', '-5', 'ls'], ['nice', '-n', 'x', 'cat'],
        ['nice', '-n', '5'], ['nice', '-n', '5', '/usr/bin/cat'], ['nice', '-n', '5', 'nice', '-n', '5', 'cat'],
        ['nice', 'cat'], ['ionice', '-c3', 'cat', 'x'], ['ionice', '-c3', 'kill', P], ['ionice', '-c3', 'true'],
        ['privsep-helper', '--config-file', '/etc/x'], ['sh', '-c', 'id'], ['cat', '$(id)'], ['cat;id'],
        ['', 'x'], ['cat ', 'x'], ['CAT'],
    ]
    return cases


EXEC_DIRS = [['T/bin', 'T/bin2'], ['T/bin'], ['T/noexec', 'T/bin2'], ['T/isdir', 'T/bin'], ['', 'T/bin'], [],
             ['rel/bin', 'T/bin'], ['T/bin/'], ['T/nonexistent'], ['T/bin2', 'T/bin']]


def t(F, s):
    return s.replace('T/', F.root + '/') if s.startswith('T/') else s


def match_cases(F, rnd, sets):
    cases = []
    T = F.root
    main_dir = T + '/filters/main'
    for name, content in main_filters(T).items():
        write(os.path.join(main_dir, name), content)
    pool = arg_pool(F)
    pidmap = {'PID_PLAIN': str(F.pid_plain), 'PID_GONE': str(F.pid_gone)}

    def add(dirs, exec_dirs, args):
        cases.append({'op': 'match', 'dirs': [hx(d) for d in dirs], 'exec_dirs': [hx(t(F, e)) for e in exec_dirs],
                      'args': [hx(pidmap.get(a, a)) for a in args]})

    for args in hand_written(F):
        for ed in (EXEC_DIRS[0], EXEC_DIRS[1]):
            add([main_dir], ed, args)
    # Every command line against every exec_dirs shape for the exec lookups.
    for args in [['cat', 'x'], ['tool'], ['relative'], ['rel/bin/rtool'], ['doesnotexist'], ['/nonexistent/tool'],
                 ['echo', 'foo'], ['env', 'A=1', 'B=2', 'cat']]:
        for ed in EXEC_DIRS:
            add([main_dir], ed, args)
    # filters_path shapes: missing, a file, empty, trailing slash, twice.
    for dirs in [[main_dir, T + '/nonexistent'], [T + '/bin/cat', main_dir], ['', main_dir], [main_dir + '/'],
                 [main_dir, main_dir], [], ['filters/main']]:
        for args in [['cat', 'x'], ['ls'], ['privsep-helper']]:
            add(dirs, EXEC_DIRS[0], args)
    # The odd corners.
    for name, files, cmds in sets:
        d = T + '/filters/' + name
        os.makedirs(d, exist_ok=True)
        for fname, content in files.items():
            write(os.path.join(d, fname), content)
        if name == 'symlinked_file':
            os.symlink(d + '/real/a.txt', d + '/link.filters')
        for args in cmds:
            add([d], EXEC_DIRS[0], args)
    # Random command lines: a command from the filters, then 0..4 arguments.
    for _ in range(1700):
        n = rnd.choice([0, 1, 1, 2, 2, 3, 4])
        args = [rnd.choice(COMMANDS)] + [rnd.choice(pool) for _ in range(n)]
        if rnd.random() < 0.15:
            args = ['env'] + [rnd.choice(['A=1', 'B=2', 'CONFIG_FILE=/x', 'NETWORK_ID=1', 'A=', 'C=3'])
                              for _ in range(rnd.randint(0, 3))] + args
        add([main_dir], rnd.choice(EXEC_DIRS[:2] + EXEC_DIRS[9:]), args)
    return cases


def conf_cases(F, rnd):
    T = F.root
    d = T + '/conf'
    os.makedirs(d)
    good = f'[DEFAULT]\nfilters_path={T}/filters/main,/etc/x\nexec_dirs={T}/bin,/usr/bin\n'
    variants = [
        good, good + 'use_syslog=True\n', good + 'use_syslog=yes\n', good + 'use_syslog= ON \n',
        good + 'use_syslog=0\n', good + 'use_syslog=maybe\n', good + 'use_syslog=\n',
        good + 'syslog_log_facility=syslog\n', good + 'syslog_log_facility=local0\n',
        good + 'syslog_log_facility=LOG_LOCAL3\n', good + 'syslog_log_facility=authpriv\n',
        good + 'syslog_log_facility=solaris-cron\n', good + 'syslog_log_facility=bogus\n',
        good + 'syslog_log_facility=emit\n', good + 'syslog_log_facility=ident\n',
        good + 'syslog_log_facility=__flags__\n', good + 'syslog_log_facility=append_nul\n',
        good + 'syslog_log_facility=__text_signature__\n', good + 'syslog_log_facility=LOG_ERR\n',
        good + 'syslog_log_facility=Local0\n', good + 'syslog_log_facility=\n',
        good + 'syslog_log_level=info\n', good + 'syslog_log_level=INFO\n', good + 'syslog_log_level=Warn\n',
        good + 'syslog_log_level=debug\n', good + 'syslog_log_level=notset\n', good + 'syslog_log_level=fatal\n',
        good + 'syslog_log_level=bogus\n', good + 'syslog_log_level=\u0131nfo\n', good + 'syslog_log_level=\n',
        good + 'syslog_log_level=deb\u00fcg\n', good + 'syslog_log_level=\'x\'\n',
        good + 'syslog_log_level=Level 5\n', good + 'syslog_log_level=20\n',
        good + 'daemon_timeout=10\n', good + 'daemon_timeout=-5\n', good + 'daemon_timeout= 42 \n',
        good + 'daemon_timeout=1_000\n', good + 'daemon_timeout=\u0661\u0662\n', good + 'daemon_timeout=abc\n',
        good + 'daemon_timeout=1.5\n', good + 'daemon_timeout=\n', good + 'daemon_timeout=' + '9' * 30 + '\n',
        good + 'daemon_timeout=' + '9' * 5000 + '\n', good + 'daemon_timeout=' + 'x' * 300 + '\n',
        good + 'daemon_timeout=1__0\n', good + 'daemon_timeout=_1\n', good + 'daemon_timeout=0x10\n',
        good + 'rlimit_nofile=4096\n', good + 'rlimit_nofile=-1\n', good + 'rlimit_nofile=x y\n',
        '[DEFAULT]\nexec_dirs=/bin\n', '[other]\nfilters_path=/x\n', '[DEFAULT]\nFILTERS_PATH=/x\n',
        '[DEFAULT]\nfilters_path: /a, /b ,/c\n', '[DEFAULT]\nfilters_path=\n', '[DEFAULT]\nfilters_path=/a,\n  /b\n',
        '[DEFAULT]\nfilters_path=/a\n[DEFAULT]\nexec_dirs=/b\n', '[DEFAULT]\nfilters_path=/a\nfilters_path=/b\n',
        '[DEFAULT]\nfilters_path=/a\n[s]\n[s]\n', 'filters_path=/a\n', '[DEFAULT]\nfilters_path=/a\nbad line\n',
        '\ufeff[DEFAULT]\nfilters_path=/a\n', b'[DEFAULT]\nfilters_path=/a\xff\n', b'[DEFAULT]\n# \xc3\nfilters_path=/a\n',
        '[DEFAULT]\nfilters_path=/a # comment\n', '# c\n; c\n[DEFAULT]\n  ; x\nfilters_path=/a\n', '',
        '[DEFAULT]\nfilters_path=/a\nexec_dirs=\n', '[DEFAULT]\nfilters_path=/a\nexec_dirs=,\n',
        '[DEFAULT]\r\nfilters_path=/a\r\nexec_dirs=/b\r\n', '[DEFAULT]\nfilters_path=/a\n\n\n  /continued\n',
        '[DEFAULT]\nfilters_path=/a\nuse_syslog=true\nsyslog_log_level=bogus\nsyslog_log_facility=bogus\n',
        '[DEFAULT]\nfilters_path=/a\nrlimit_nofile=x\ndaemon_timeout=y\n', '[DEFAULT]\n=x\nfilters_path=/a\n',
        '[DEFAULT]\nfilters_path=/a\nKelvin\u212a=1\nkelvin\u212a=2\n', '[DEFAULT]\nfilters_path=/a\nÄ=1\nä=2\n',
        '[DEFAULT]\nfilters_path=/a\nuse_syslog=TRUE\nsyslog_log_facility=LOG_USER\nsyslog_log_level=ERROR\n',
    ]
    # Random assemblies of option lines.
    lines = ['filters_path=/a', 'filters_path = /b, /c', 'exec_dirs=/bin', 'use_syslog=true', 'use_syslog=nope',
             'syslog_log_facility=daemon', 'syslog_log_facility=LOG_DAEMON', 'syslog_log_facility=x',
             'syslog_log_level=warning', 'syslog_log_level=x', 'daemon_timeout=5', 'daemon_timeout=five',
             'rlimit_nofile=100', 'rlimit_nofile=1e3', '  indented=1', '# comment', '', '[DEFAULT]', '[x]',
             'bad', 'USE_SYSLOG=false', 'use_syslog:0']
    for _ in range(160):
        text = '[DEFAULT]\n' + '\n'.join(rnd.choice(lines) for _ in range(rnd.randint(1, 7))) + '\n'
        variants.append(text)
    cases = []
    for i, text in enumerate(variants):
        p = os.path.join(d, 'c%03d.conf' % i)
        write(p, text)
        cases.append({'op': 'conf', 'path': hx(p)})
    for p in [d + '/missing.conf', d, T + '/bin/cat']:
        cases.append({'op': 'conf', 'path': hx(p)})
    return cases


INI_LINES = ['[s]', '[DEFAULT]', '[]', '[a]b', '[ x ]', '[a]]', '[[b]', '[Filters]', 'k=v', 'k : v', 'K=V', 'k=',
             '=v', ':v', 'k', '  cont', '\tcont', '    deep cont', '# c', '; c', '  # indented comment', '', '   ',
             '\u3000k=v', '\xa0', 'k=v # not comment', 'Ä=1', 'ä=2', 'ΣΑΣ=1', 'İ=1', 'key with spaces = v v ',
             'k==v', 'k:=v', 'a=b:c', 'a:b=c', '\x1c', 'x\x1cy=1', '\x0b\x0ck=v', 'k=\x0b', 'K\u212a=1', '[é]',
             'dup=1', 'dup=2', 'DUP=3', '\u2028k=v', 'k=v\u2028', '\x85', ' =x']


def ini_cases(rnd):
    cases = []
    seps = ['\n', '\n', '\n', '\r\n', '\r']
    for _ in range(600):
        n = rnd.randint(1, 9)
        parts = []
        for _ in range(n):
            parts.append(rnd.choice(INI_LINES) + rnd.choice(seps))
        if rnd.random() < 0.7:
            parts.insert(0, rnd.choice(['[s]\n', '[DEFAULT]\n', '[Filters]\n']))
        text = ''.join(parts).encode('utf-8')
        if rnd.random() < 0.05:
            pos = rnd.randint(0, len(text))
            text = text[:pos] + rnd.choice([b'\xff', b'\xc3', b'\xed\xa0\x80', b'\xe2\x82']) + text[pos:]
        cases.append({'op': 'ini', 'text': hx(text), 'strict': rnd.random() < 0.5})
    # Files past Python's 8 KiB decoding chunk with a bad byte late.
    for bad_at in [8000, 8191, 8192, 8200, 16384, 20000]:
        body = b'[s]\n' + b''.join(b'k%d=v\n' % i for i in range(4000))
        body = body[:bad_at] + b'\n[s]\n\xff' + body[bad_at:]
        cases.append({'op': 'ini', 'text': hx(body), 'strict': True})
        body2 = b'k=1\n' * 3000
        body2 = body2[:bad_at] + b'\xff' + body2[bad_at:]
        cases.append({'op': 'ini', 'text': hx(b'[s]\n' + body2), 'strict': True})
    return cases


RE_ATOMS = ['a', 'b', 'é', '日', '\\.', '\\$', '.', '^', '$', '[a-z]', '[^a]', '[\\w-]', '[]a]', '[a-]', '[\\d\\s]',
            '[\\S]', '[^\\W\\d]', '[\\b]', '[é-ü]', '[^\\s]', '[\\x41-\\x5a]', '\\d', '\\w', '\\s', '\\D', '\\W', '\\S',
            '\\b', '\\B', '\\A', '\\Z', '\\x41', '\\u00e9', '\\U0001F600', '\\n', '\\t', '\\0', '\\101', '\\1', '\\12',
            '\\udcff', '[\\udc80-\\udcff]', '\\ud800', '{', '}', ']', '\\{', '\\(', 'K', 'ſ', 'ß', '\\\\', ' ', '#',
            '-', '_', '١']
RE_WRAP = ['(%s)', '(?:%s)', '(?P<n>%s)', '(?=%s)', '(?!%s)', '(?>%s)', '(?i:%s)', '(?-i:%s)', '(?s:%s)', '(?m:%s)',
           '(?a:%s)', '(?x:%s)', '%s|%s', '(%s|%s)', '(?<=%s)', '(?<!%s)', '(?#c)%s', '(?P<n>%s)(?P=n)',
           '(%s)\\1', '(?(1)%s|%s)', '(a)?(?(1)%s|%s)', '(?u:%s)']
RE_QUANT = ['*', '+', '?', '{2}', '{1,3}', '{,2}', '{2,}', '{}', '{x}', '*?', '+?', '*+', '{1,2}?', '??', '{3,1}',
            '{4294967295}', '**']
RE_PREFIX = ['', '', '', '(?i)', '(?s)', '(?m)', '(?x)', '(?a)', '(?u)', '(?L)', '(?t)', '(?ia)', '(?au)', '(?a)(?u)']
RE_BROKEN = ['(', ')', '[', '\\', 'a{3,1}', '\\q', '(?P<1>a)', '(?P<n>a)(?P<n>b)', '(?<=a|bc)', '(?<=a*)',
             '(?P=x)', '(?(x)a)', '(?(0)a)', '(?(1)a|b|c)', '(a)(?(-1)b)', 'a(?i)b', '\\8', '[z-a]', '[\\d-z]',
             '(?', '(?<', '(?P', '(?Px)', '(?z)', '(?i-i:a)', '(?-a:b)', '(?-x)', '(?#', '\\x4', '\\u12', '\\N{LATIN}',
             '(?<=(a))\\1', '(a\\1)', '(?:a|b)**', 'x{1}{2}', '^*', '\\b+', '(?(1a)x)', '\\777', '[\\777]',
             '(?( 1 )a)(b)', '(?(١)a)(b)']
RE_SUBJECTS = ['', 'a', 'ab', 'abc', 'A', 'aB', '\n', 'a\n', 'é', 'É', '日本', '1', '١', 'x y', '\x1c', '_', ' ',
               'aaa', '\udcff', 'a\udcc3', 'Straße', 'STRASSE', 'K', 'k', '\u212a', 'ſ', 's', 'S', '{', '{}', '}',
               '.', '$', '\\', 'a$', '\t', '\x0b', '\x85', '\xa0', '\u3000', '-', 'é-', 'b\n', 'ba', 'aa\n', '#',
               'A\n', '😀', 'a b', 'ab\n\n', '\x00', 'A1_', '\u0130', 'i', 'ı', 'I']


def gen_pattern(rnd, depth=0):
    n = rnd.randint(1, 3)
    out = ''
    for _ in range(n):
        r = rnd.random()
        if r < 0.55 or depth > 2:
            item = rnd.choice(RE_ATOMS)
        else:
            w = rnd.choice(RE_WRAP)
            item = w % tuple(gen_pattern(rnd, depth + 1) for _ in range(w.count('%s')))
        if rnd.random() < 0.3:
            item += rnd.choice(RE_QUANT)
        out += item
    return out


def re_cases(rnd):
    cases = []
    for _ in range(2300):
        if rnd.random() < 0.08:
            pat = rnd.choice(RE_BROKEN)
        else:
            pat = rnd.choice(RE_PREFIX) + gen_pattern(rnd)
        if rnd.random() < 0.5:
            pat += '$'
        subj = rnd.choice(RE_SUBJECTS)
        if rnd.random() < 0.3:
            subj += rnd.choice(RE_SUBJECTS)
        cases.append({'op': 're', 'pattern': hx(pat), 'subject': hx(subj)})
    for pat in RE_BROKEN:
        for subj in ['a', 'ab', '']:
            cases.append({'op': 're', 'pattern': hx(pat), 'subject': hx(subj)})
    return cases


def run_probes(probe, cases_path, env, cwd):
    t0 = time.time()
    k = subprocess.run([probe, cases_path], capture_output=True, env=env, cwd=cwd, timeout=600)
    t1 = time.time()
    p = subprocess.run([PY, os.path.join(HERE, 'rootwrap_probe.py'), cases_path], capture_output=True, env=env,
                       cwd=cwd, timeout=600)
    t2 = time.time()
    for name, r in (('keel probe', k), ('python probe', p)):
        if r.returncode != 0:
            print('%s failed (%d):\n%s' % (name, r.returncode, r.stderr.decode(errors='replace')[-3000:]))
            sys.exit(1)
    print('probes: keel %.2fs, oslo.rootwrap %.2fs' % (t1 - t0, t2 - t1))
    return k.stdout.decode('utf-8', 'replace').splitlines(), p.stdout.decode('utf-8', 'replace').splitlines()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    probe = os.path.abspath(sys.argv[1])
    keel_rootwrap = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
    keel_daemon = os.path.abspath(sys.argv[3]) if len(sys.argv) > 4 else None
    client_probe = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else None
    rnd = random.Random(SEED)
    print('seed %d' % SEED)
    F = Fixture()
    try:
        sets = pathological_sets(F.root)
        groups = {'match': match_cases(F, rnd, sets), 'conf': conf_cases(F, rnd), 'ini': ini_cases(rnd),
                  're': re_cases(rnd)}
        cases = []
        for kind, cs in groups.items():
            for i, c in enumerate(cs):
                c['id'] = '%s-%d' % (kind, i)
                cases.append(c)
        cases_path = os.path.join(F.root, 'cases.jsonl')
        with open(cases_path, 'w') as f:
            for c in cases:
                f.write(json.dumps(c) + '\n')
        env = {'PATH': F.root + '/bin:/usr/local/bin:/usr/bin:/bin', 'LANG': 'C.UTF-8', 'HOME': '/root',
               'KEEP_ME': 'yes'}
        kout, pout = run_probes(probe, cases_path, env, F.root)
        by_id = {c['id']: c for c in cases}
        disagree = 0
        shown = 0
        counts = {}
        if len(kout) != len(pout):
            print('line counts differ: keel %d, python %d' % (len(kout), len(pout)))
            disagree += abs(len(kout) - len(pout))
        for a, b in zip(kout, pout):
            kind = a.split('-', 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
            if a != b:
                disagree += 1
                if shown < 25:
                    shown += 1
                    cid = b.split('\t', 1)[0]
                    c = by_id.get(cid, {})
                    print('DIFF %s %s' % (cid, {k: (bytes.fromhex(v).decode('utf-8', 'replace') if isinstance(v, str)
                                                    and k not in ('op', 'id') else v) for k, v in c.items()
                                               if k != 'text'} if c.get('op') != 'ini' else
                                          bytes.fromhex(c['text'])[:300]))
                    print('  keel:   %s' % a.split('\t', 1)[-1][:600])
                    print('  python: %s' % b.split('\t', 1)[-1][:600])
        decisions = {}
        for line in pout:
            if line.startswith('match-'):
                word = line.split('\t', 1)[1].split(' ', 1)[0]
                decisions[word] = decisions.get(word, 0) + 1
        print('cases by kind: %s; match decisions: %s' % (counts, decisions))
        total = len(pout)
        e2e_cases = e2e_disagree = 0
        if keel_rootwrap:
            sys.path.insert(0, HERE)
            import rootwrap_e2e
            e2e_cases, e2e_disagree = rootwrap_e2e.run(keel_rootwrap, F, rnd, keel_daemon, client_probe)
        print('SUMMARY: rootwrap differential vs oslo.rootwrap 6.3.1 (seed %d): %d cases (%d command lines), '
              '%d end-to-end runs, %d disagreements' % (SEED, total + e2e_cases, counts.get('match', 0), e2e_cases,
                                                       disagree + e2e_disagree))
        sys.exit(1 if disagree + e2e_disagree else 0)
    finally:
        F.close()


if __name__ == '__main__':
    main()
