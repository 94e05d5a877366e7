#!/usr/bin/python3
"""HttpCheck/HttpsCheck: keel against oslo.policy 4.0.0 (python-requests)
on a local HTTP and HTTPS server started here on 127.0.0.1.

    policy_http_diff.py KEEL [--count N] [--seed S]

Both sides enforce the same http:/https: rules (URLs built from targets with
spaces, Unicode, '%', '?', '#', dot segments; redirects of every kind,
chunked and close-delimited bodies, quoted and unquoted "True", error
statuses, refused connections, bad URLs, missing keys) with form and JSON
payloads and with and without certificate verification. Compared: every
decision, and every request the server received (method, path,
Content-Type and the exact body bytes), in order. keel alone is also
checked to give up on a server slower than remote_timeout (oslo.policy
4.0.0 has no timeout and would wait forever).

Prints "SUMMARY: policy_http_diff: N cases, D disagreements (seed S)".
"""
import argparse
import http.server
import json
import logging
import os
import random
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

from oslo_config import cfg
from oslo_policy import opts as policy_opts
from oslo_policy import policy

logging.disable(logging.CRITICAL)
warnings.simplefilter('ignore')

RECORD = []
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def _body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n else b''

    def _send(self, status, body, headers=(), length=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        body = self._body()
        with LOCK:
            RECORD.append((self.command, self.path, self.headers.get('Content-Type'), body))
        p = self.path.split('?')[0]
        if p.startswith('/true') or p.startswith('/a%20b') or p.startswith('/%C3%A9'):
            return self._send(200, b'True')
        if p.startswith('/quoted'):
            return self._send(200, b'"True"')
        if p.startswith('/false'):
            return self._send(200, b'False')
        if p.startswith('/err'):
            return self._send(500, b'True')
        if p.startswith('/empty'):
            return self._send(200, b'')
        if p.startswith('/echo'):
            return self._send(200, b'True' if self.command == 'GET' else b'False')
        if p.startswith('/posted'):
            return self._send(200, b'True' if self.command == 'POST' and body else b'False')
        for code in (301, 302, 303, 307, 308):
            if p.startswith('/r%d' % code):
                target = '/posted' if 'posted' in self.path else '/echo'
                return self._send(code, b'', [('Location', target)])
        if p.startswith('/rrel'):
            return self._send(302, b'', [('Location', 'true')])
        if p.startswith('/loop'):
            return self._send(302, b'', [('Location', '/loop')])
        if p.startswith('/chunked'):
            self.send_response(200)
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            self.wfile.write(b'2\r\nTr\r\n2\r\nue\r\n0\r\n\r\n')
            return None
        if p.startswith('/close'):
            self.send_response(200)
            self.send_header('Connection', 'close')
            self.end_headers()
            self.wfile.write(b'True')
            self.close_connection = True
            return None
        if p.startswith('/slow'):
            time.sleep(3)
            return self._send(200, b'True')
        return self._send(404, b'not found')

    def do_POST(self):
        self._handle()

    def do_GET(self):
        self._handle()


def start(server):
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return server.server_address[1]


PATHS = ['true', 'quoted', 'false', 'err', 'empty', 'echo', 'a b', 'é', 'true?x=1&y=%(s)s', 'true?q=a b#frag',
         'x/../true', './true', 'true/./', 'r301', 'r302', 'r303', 'r307', 'r308', 'r307posted', 'r308posted',
         'r301posted', 'rrel', 'chunked', 'close', 'true%2Fx', 'true%zz', 'true%41', '%7Etrue', 'true;p', 'TRUE',
         'true?', 'true?%', 'nothere']


def make_rules(port, sport):
    base = 'http://127.0.0.1:%d/' % port
    sbase = 'https://127.0.0.1:%d/' % sport
    return {
        'fixed': base.replace('http:', 'http:') + 'true',
        'path': 'http://127.0.0.1:%d/%%(path)s' % port,
        'upper': 'http://127.0.0.1:%d/%%(path)s' % port,
        'host': 'http://LOCALHOST:%d/true' % port,
        'noport': 'http://127.0.0.1:%d' % port,
        'bad': 'http:foo',
        'refused': 'http://127.0.0.1:1/true',
        'loop': base + 'loop',
        'missing': base + '%(missing)s',
        'combo': 'role:admin or (' + base + '%(path)s and not role:dunce)',
        'https': sbase + '%(path)s',
        'ref': 'rule:path',
    }


def write_policy(tmp, rules):
    path = os.path.join(tmp, 'http_policy.json')
    with open(path, 'w') as f:
        json.dump(rules, f)
    return path


def python_side(pfile, queries, opts):
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[], default_config_dirs=[])
    policy_opts._register(conf)
    for k, v in opts.items():
        conf.set_override(k, v, 'oslo_policy')
    e = policy.Enforcer(conf, policy_file=pfile)
    out = []
    for rule, target, creds in queries:
        try:
            out.append('allowed' if e.enforce(rule, target, dict(creds)) else 'denied')
        except Exception as ex:
            out.append('raises')
    return out


def keel_side(args, tmp, pfile, queries, opts):
    conf = os.path.join(tmp, 'keel.conf')
    with open(conf, 'w') as f:
        f.write('[oslo_policy]\n')
        for k, v in opts.items():
            f.write('%s = %s\n' % (k, v))
    lines = ''.join(json.dumps({'rule': r, 'target': t, 'credentials': c}) + '\n' for r, t, c in queries)
    p = subprocess.run([args.keel, 'policy', 'check', '--policy', pfile, '--batch', '--config-file', conf],
                       input=lines.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    out = []
    for line in p.stdout.decode().splitlines():
        d = json.loads(line)
        out.append('raises' if 'error' in d else ('allowed' if d['allowed'] else 'denied'))
    if len(out) != len(queries):
        sys.stderr.write('keel failed: %s\n' % p.stderr.decode(errors='replace')[:500])
        out = ['missing'] * len(queries)
    return out


def make_cert(tmp):
    key = os.path.join(tmp, 'key.pem')
    crt = os.path.join(tmp, 'crt.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '2',
                    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('keel')
    ap.add_argument('--count', type=int, default=150)
    ap.add_argument('--seed', type=int, default=int(os.environ.get('KEEL_POLICY_DIFF_SEED', '20261126')))
    ap.add_argument('--show', type=int, default=10)
    args = ap.parse_args()
    args.keel = os.path.abspath(args.keel)
    rnd = random.Random(args.seed)
    t0 = time.time()
    cases = dis = shown = 0
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        crt, key = make_cert(tmp)
        httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        port = start(httpd)
        httpsd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        httpsd.socket = ctx.wrap_socket(httpsd.socket, server_side=True)
        sport = start(httpsd)
        rules = make_rules(port, sport)
        pfile = write_policy(tmp, rules)
        variants = [
            {},
            {'remote_content_type': 'application/json'},
            {'remote_ssl_verify_server_crt': True, 'remote_ssl_ca_crt_file': crt},
            {'remote_ssl_verify_server_crt': True},
            {'remote_ssl_client_crt_file': os.path.join(tmp, 'missing.pem')},
            {'remote_ssl_client_crt_file': crt, 'remote_ssl_client_key_file': key},
        ]
        for opts in variants:
            queries = []
            for _ in range(args.count // len(variants) + 1):
                rule = rnd.choice(list(rules))
                if rule == 'https' and rnd.random() < 0.7:
                    pass
                target = {'path': rnd.choice(PATHS), 's': rnd.choice(['a b', 'é', '%', '&x=1', '\u2028', 'p1']),
                          'n': rnd.choice([1, 1.5, 1e16, True, None, [1, 'x'], {'k': 'é'}])}
                if rnd.random() < 0.2:
                    del target['n']
                creds = {'roles': rnd.sample(['admin', 'member', 'dunce'], rnd.choice([0, 1, 2])),
                         'user_id': rnd.choice(['u1', 'ü', 'a"b\\c']), 'x': rnd.choice([1, 0.1, -0.0, None, 'y'])}
                if rnd.random() < 0.3:
                    creds['system_scope'] = 'all'
                if rnd.random() < 0.2:
                    creds['system'] = 'old'
                queries.append((rule, target, creds))
            RECORD.clear()
            py = python_side(pfile, queries, opts)
            py_rec = list(RECORD)
            RECORD.clear()
            kl = keel_side(args, tmp, pfile, queries, opts)
            k_rec = list(RECORD)
            for q, a, b in zip(queries, py, kl):
                cases += 1
                if a != b:
                    dis += 1
                    if shown < args.show:
                        shown += 1
                        print('DISAGREE %s oslo=%s keel=%s rule=%s target=%s' % (opts, a, b, q[0], json.dumps(q[1])))
            # the requests themselves, in order
            cases += 1
            if py_rec != k_rec:
                dis += 1
                if shown < args.show:
                    shown += 1
                    print('DISAGREE %s: the server saw %d requests from oslo.policy and %d from keel' %
                          (opts, len(py_rec), len(k_rec)))
                    for x, y in zip(py_rec, k_rec):
                        if x != y:
                            print('  oslo: %r\n  keel: %r' % (x, y))
                            break
        # keel alone: a server slower than remote_timeout is an error, soon.
        slow = dict(rules)
        slow['slow'] = 'http://127.0.0.1:%d/slow' % port
        sfile = write_policy(tmp, slow)
        t1 = time.time()
        kl = keel_side(args, tmp, sfile, [('slow', {}, {})], {'remote_timeout': 1})
        took = time.time() - t1
        cases += 1
        if kl != ['raises'] or took > 2.8:
            dis += 1
            print('DISAGREE keel with remote_timeout=1 against a 3 s server: %s after %.1f s' % (kl, took))
        httpd.shutdown()
        httpsd.shutdown()
    print('%.1f s' % (time.time() - t0))
    print('SUMMARY: policy_http_diff: %d cases, %d disagreements (seed %d)' % (cases, dis, args.seed))
    return 1 if dis else 0


if __name__ == '__main__':
    sys.exit(main())
