#!/usr/bin/python3
"""keel-rootwrap against oslo-rootwrap, in one run: the time of one
invocation (`ROOTWRAP rootwrap.conf cat FILE`, through hyperfine) and the
round trip of one command through each daemon (keel's C client against
keel-rootwrap-daemon, oslo_rootwrap.client.Client against
oslo-rootwrap-daemon). Prints one parseable line per measure, and with
--markdown the table for docs/benchmarks.md.

usage: compare.py --keel KEEL_ROOTWRAP --daemon KEEL_ROOTWRAP_DAEMON
                  --client-loop CLIENT_LOOP [--runs N] [--markdown]

The filter set is synthetic but shaped like a compute node's (nova's
compute.filters has about a hundred entries): 60 CommandFilters, 20
RegExpFilters, 10 PathFilters, 5 KillFilters, 5 EnvFilters, with the
filter that matches last, so both sides load and try everything.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def fixture(root):
    lines = ['[Filters]']
    for i in range(60):
        lines.append('cmd%d: CommandFilter, tool%d, root' % (i, i))
    for i in range(20):
        lines.append('re%d: RegExpFilter, tool%d, root, tool%d, -[a-z]+, /var/lib/nova/[a-z0-9-]+' % (i, i, i))
    for i in range(10):
        lines.append('path%d: PathFilter, /bin/chown, root, nova, /var/lib/nova/instances%d' % (i, i))
    for i in range(5):
        lines.append('kill%d: KillFilter, root, /usr/sbin/dnsmasq%d, -9, -HUP' % (i, i))
    for i in range(5):
        lines.append('env%d: EnvFilter, env, root, CONFIG_FILE=, NETWORK_ID=, dnsmasq%d' % (i, i))
    lines.append('cat: CommandFilter, cat, root')
    write(root + '/filters/compute.filters', '\n'.join(lines) + '\n')
    write(root + '/rootwrap.conf', '[DEFAULT]\nfilters_path=%s/filters\nexec_dirs=/sbin,/usr/sbin,/bin,/usr/bin\n'
          % root)
    write(root + '/file.txt', 'hello\n')
    return root + '/rootwrap.conf', root + '/file.txt'


def invocation(keel, conf, path, runs):
    """(mean, median, stddev) seconds per invocation of keel-rootwrap,
    oslo-rootwrap and the bare command, from one hyperfine run."""
    out = os.path.join(os.path.dirname(conf), 'hyperfine.json')
    cmds = ['%s %s cat %s' % (keel, conf, path), '/usr/bin/oslo-rootwrap %s cat %s' % (conf, path),
            '/usr/bin/cat %s' % path]
    subprocess.run(['hyperfine', '--shell=none', '--warmup', '3', '--runs', str(runs), '--export-json', out,
                    '--style', 'basic'] + cmds, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        res = json.load(f)['results']
    return [(r['mean'], r['median'], r['stddev']) for r in res]


def oslo_daemon(conf, n):
    from oslo_rootwrap import client
    c = client.Client(['/usr/bin/oslo-rootwrap-daemon', conf])
    for _ in range(20):
        rc, out, err = c.execute(['true'])
        assert rc == 0, (rc, out, err)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.execute(['true'])
        times.append((time.perf_counter() - t0) * 1e6)
    return statistics.mean(times), statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--keel', required=True)
    ap.add_argument('--daemon', required=True)
    ap.add_argument('--client-loop', required=True)
    ap.add_argument('--runs', type=int, default=50)
    ap.add_argument('--markdown', action='store_true')
    a = ap.parse_args()
    if not shutil.which('hyperfine'):
        sys.exit('compare.py: hyperfine is not installed (scripts/packages.txt lists it)')
    root = tempfile.mkdtemp(prefix='keel-rootwrap-bench-')
    try:
        conf, path = fixture(root)
        with open(root + '/filters/compute.filters', 'a') as f:
            f.write('true: CommandFilter, true, root\n')
        (k_mean, k_med, k_sd), (p_mean, p_med, p_sd), (c_mean, c_med, c_sd) = invocation(
            os.path.abspath(a.keel), conf, path, a.runs)
        n_keel, n_oslo = 2000, 300
        r = subprocess.run([os.path.abspath(a.client_loop), os.path.abspath(a.daemon), conf, str(n_keel), 'true'],
                           capture_output=True, check=True, text=True)
        kd = dict(kv.split('=') for kv in r.stdout.split()[1:])
        kd_mean, kd_med = float(kd['mean']), float(kd['median'])
        pd_mean, pd_med = oslo_daemon(conf, n_oslo)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print('rootwrap_invocation_ms keel=%.3f oslo=%.3f ratio=%.1f (means of %d runs; medians %.3f / %.3f)'
          % (k_mean * 1e3, p_mean * 1e3, p_mean / k_mean, a.runs, k_med * 1e3, p_med * 1e3))
    print('rootwrap_daemon_roundtrip_us keel=%.1f oslo=%.1f ratio=%.1f (means of %d / %d calls; medians %.1f / %.1f)'
          % (kd_mean, pd_mean, pd_mean / kd_mean, n_keel, n_oslo, kd_med, pd_med))
    print('rootwrap_overhead_ms keel=%.3f oslo=%.3f (invocation minus running `cat FILE` directly, %.3f ms)'
          % ((k_mean - c_mean) * 1e3, (p_mean - c_mean) * 1e3, c_mean * 1e3))
    print('rootwrap_goal_under_2ms invocation=%s overhead=%s' % ('met' if k_mean * 1e3 < 2 else 'not met',
                                                                 'met' if (k_mean - c_mean) * 1e3 < 2 else 'not met'))
    if a.markdown:
        print()
        print('| measure | keel | oslo.rootwrap 6.3.1 | keel advantage |')
        print('|---|---|---|---|')
        print('| one invocation, `cat FILE` (ms, mean of %d) | %.2f | %.1f | %.0f× |'
              % (a.runs, k_mean * 1e3, p_mean * 1e3, p_mean / k_mean))
        print('| one invocation, median (ms) | %.2f | %.1f | %.0f× |' % (k_med * 1e3, p_med * 1e3, p_med / k_med))
        print('| wrapper overhead: invocation − bare `cat FILE` (%.2f ms) | %.2f | %.1f | %.0f× |'
              % (c_mean * 1e3, (k_mean - c_mean) * 1e3, (p_mean - c_mean) * 1e3, (p_mean - c_mean) / (k_mean - c_mean)))
        print('| daemon round trip, `true` (µs, mean) | %.0f | %.0f | %.1f× |' % (kd_mean, pd_mean, pd_mean / kd_mean))
        print('| daemon round trip, median (µs) | %.0f | %.0f | %.1f× |' % (kd_med, pd_med, pd_med / kd_med))


if __name__ == '__main__':
    main()
