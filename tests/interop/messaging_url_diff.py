#!/usr/bin/python3
"""keel's transport URLs and options against oslo.messaging 14.0.3.

Runs the same questions through tests/messaging/messaging_probe (keel) and
through Debian's python3-oslo.messaging, and compares the answers:

  url    TransportURL.parse(): transport, virtual_host, hosts (hostname,
         port, username, password), query (order included) and str(); or
         the error (InvalidTransportURL / ValueError) on both sides.
  query  the [oslo_messaging_rabbit] values a URL's query options give
         through oslo's ConfigOptsProxy (NoSuchOptError, ValueError).
  opts   oslo_messaging.opts.list_opts() for DEFAULT,
         oslo_messaging_notifications and oslo_messaging_rabbit: names,
         types, defaults, bounds, choices, deprecations, secrecy, help.

The URL corpus is hand-written cases (the spec's and the edge cases of
urlsplit and of oslo's netloc walk) plus seeded random combinations of
tricky pieces. Ends with one line: SUMMARY: <n> cases, <n> agree, <n> differ.

Usage: messaging_url_diff.py PROBE [--count N] [--seed S] [-v]
"""
import argparse
import json
import logging
import random
import subprocess
import sys
import warnings

warnings.simplefilter("ignore")
logging.disable(logging.WARNING)  # TransportURL.parse warns about mixed credentials

from oslo_config import cfg  # noqa: E402
import oslo_messaging  # noqa: E402
from oslo_messaging import opts as om_opts  # noqa: E402
from oslo_messaging._drivers import common as om_common  # noqa: E402

HAND_URLS = [
    "rabbit://", "rabbit:///", "rabbit:////", "fake://", "fake:///", "rabbit://h", "rabbit://h:5672",
    "rabbit://h:5672/", "rabbit://h:5672//", "rabbit://h/oslo_wirespec", "rabbit://h/v%2Fh", "rabbit://h/a/b",
    "rabbit://user:pass@host1:5672,host2:5672/vhost?amqp_durable_queues=true",
    "rabbit://a:b@h1,c:d@[::1]:5674/vh", "rabbit://guest:guest@127.0.0.1:5672/oslo_wirespec",
    "rabbit://us%40er:p%3Ass@h", "rabbit://a@b@h", "rabbit://a:b:c@h", "rabbit://:@h", "rabbit://@h", "rabbit://u@",
    "rabbit://u:p@", "rabbit://[::1]", "rabbit://[::1]:5672", "rabbit://[::1]x", "rabbit://[::1]x:5", "rabbit://[::1",
    "rabbit://::1]", "rabbit://[1.2.3.4]", "rabbit://[v1.x]", "rabbit://[v1.]", "rabbit://[vg.x]", "rabbit://[fe80::1%25eth0]",
    "rabbit://[fe80::1%eth0]", "rabbit://[::ffff:1.2.3.4]:1", "rabbit://[1:2:3:4:5:6:7:8]", "rabbit://[1:2:3:4:5:6:7:8:9]",
    "rabbit://[1::2::3]", "rabbit://[:1:2:3:4:5:6:7]", "rabbit://[1:2:3:4:5:6:7::]", "rabbit://[::]", "rabbit://[12345::]",
    "rabbit://[::1],[zz]", "rabbit://[zz],[::1]", "rabbit://h1,,h2", "rabbit://,", "rabbit://h:", "rabbit://h: 5672",
    "rabbit://h:+5", "rabbit://h:-1", "rabbit://h:1_000", "rabbit://h:1__0", "rabbit://h:_1", "rabbit://h:x",
    "rabbit://h:5672:1", "rabbit://h:0", "rabbit://h:65536", "rabbit://h:0005", "RABBIT://H/VH", "Rabbit+X.y-z://h",
    "1abc://h", "://h", "rabbit", "rabbit:h", "rabbit:/vh", "rabbit:?a=1", "  rabbit://h", "\trabbit://h",
    "rab\tbit://h\n/v\rh", "rabbit://h/vh#frag", "rabbit://h#frag/vh", "rabbit://h/vh?a=1#f?b=2", "rabbit://h?a=1/b",
    "rabbit://h/?a=1&a=2", "rabbit://h/?a=&b=2", "rabbit://h/?a&b=1", "rabbit://h/?a+b=c+d", "rabbit://h/?x=%41%2",
    "rabbit://h/?=v", "rabbit://h/?&&", "rabbit://h/?a=1;b=2", "rabbit://h/%E2%82%AC", "rabbit://h/%C3", "rabbit://h/%ff%fe",
    "rabbit://h/%C3%28", "rabbit://h/%E2%82", "rabbit://h/%F0%9F%98%80", "rabbit://h/%ED%A0%80", "rabbit://h/é%C3",
    "rabbit://ü:ö@h/ä", "rabbit://h/%2", "rabbit://h/%%41", "rabbit://u%2:p%zz@h", "http://h/vh;p", "http://h/a;b/c;d",
    "https://h/v;x?y=1", "rabbit://h/vh;p", "kombu+memory:///", "kombu+memory://vh",
    "rabbit://user:pass@host1:5672,user2:pass2@host2:5673/vhost?heartbeat_rate=3&ssl=1",
]

SCHEMES = ["rabbit", "fake", "RABBIT", "kombu+memory", "http", "a.b-c+d", "1x", "", " rabbit", "ftp"]
SEPS = ["://", "://", "://", ":", ":/", ":///"]
USERS = ["u", "user", "us%40er", "u%3Ap", "", "a@b", "p:q", "%E2%82%AC", "%ff", "%C3", "é", "+", "%2", "a%20b"]
HOSTS = ["h", "localhost", "127.0.0.1", "[::1]", "[fe80::1%25eth0]", "[::ffff:1.2.3.4]", "[1.2.3.4]", "[v1.x]", "[zz]",
         "", "[]", "h]", "[h", "H.example", "[::1]x", "[1:2:3:4:5:6:7:8]", "[::2:3:4:5:6:7:8]", "[1::]"]
PORTS = ["", ":5672", ":", ": 5672", ":+5", ":-1", ":1_000", ":x", ":5672:1", ":0", ":65536", ":0005", ":1__2"]
PATHS = ["", "/", "//", "/vh", "/v%2Fh", "/a/b", "/%ZZ", "/;p", "/a;b/c;d", "/%C3%A9", "/%C3", "/é"]
QUERIES = ["", "?", "?a=1", "?a=1&a=2", "?a=&b=2", "?a", "?a+b=c+d", "?x=%41", "?=v", "?&&", "?k=%E2%82%AC&k=x"]
FRAGS = ["", "", "", "#frag", "#a?b", "#/x"]


def random_url(rng):
    parts = [rng.choice(SCHEMES), rng.choice(SEPS)]
    hosts = []
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        h = ""
        if rng.random() < 0.4:
            h += rng.choice(USERS)
            if rng.random() < 0.6:
                h += ":" + rng.choice(USERS)
            h += "@"
        h += rng.choice(HOSTS) + rng.choice(PORTS)
        hosts.append(h)
    parts.append(rng.choice([",", ",", ",,"]).join(hosts))
    parts += [rng.choice(PATHS), rng.choice(QUERIES), rng.choice(FRAGS)]
    return "".join(parts)


def py_url(text):
    conf = cfg.ConfigOpts()
    try:
        url = oslo_messaging.TransportURL.parse(conf, text)
    except oslo_messaging.InvalidTransportURL:
        return {"ok": False, "kind": "InvalidTransportURL"}
    except ValueError:
        return {"ok": False, "kind": "ValueError"}
    return {
        "ok": True,
        "transport": url.transport,
        "virtual_host": url.virtual_host,
        "hosts": [{"hostname": h.hostname, "port": h.port, "username": h.username, "password": h.password}
                  for h in url.hosts],
        "query": [[k, v] for k, v in url.query.items()],
        "str": str(url),
    }


def c_kind(res):
    # keel says EURL for both; the static why text tells the two apart.
    return "InvalidTransportURL" if res.get("why") == "No scheme specified" else "ValueError"


def compare_url(text, c, py):
    if c["ok"] != py["ok"]:
        return "keel %s, oslo %s" % ("ok" if c["ok"] else "error " + c.get("why", ""),
                                     "ok" if py["ok"] else "error " + py["kind"])
    if not c["ok"]:
        return None if c_kind(c) == py["kind"] else "error kinds: keel %s, oslo %s" % (c_kind(c), py["kind"])
    for key in ("transport", "virtual_host", "hosts", "query", "str"):
        if c[key] != py[key]:
            return "%s: keel %r, oslo %r" % (key, c[key], py[key])
    return None


QUERY_CASES = [
    "rabbit://h/", "rabbit://h/?amqp_durable_queues=true", "rabbit://h/?amqp_durable_queues=yes",
    "rabbit://h/?amqp_durable_queues=maybe", "rabbit://h/?heartbeat_rate=3", "rabbit://h/?heartbeat_rate=%203%20",
    "rabbit://h/?heartbeat_rate=x", "rabbit://h/?heartbeat_rate=1_0", "rabbit://h/?rabbit_transient_queues_ttl=60",
    "rabbit://h/?rabbit_transient_queues_ttl=0", "rabbit://h/?bogus_option=1", "rabbit://h/?control_exchange=x",
    "rabbit://h/?kombu_failover_strategy=shuffle", "rabbit://h/?kombu_failover_strategy=random",
    "rabbit://h/?rabbit_login_method=PLAIN", "rabbit://h/?rabbit_login_method=plain",
    "rabbit://h/?kombu_reconnect_delay=2.5", "rabbit://h/?kombu_reconnect_delay=5", "rabbit://h/?kombu_reconnect_delay=x",
    "rabbit://h/?ssl=1&ssl_ca_file=/etc/ca.pem", "rabbit://h/?ssl_ca_file=$x", "rabbit://h/?kombu_compression=gzip",
    "rabbit://h/?heartbeat_rate=1&heartbeat_rate=2", "rabbit://h/?kombu_missing_consumer_retry_timeout=3",
    "rabbit://h/?rpc_conn_pool_size=3", "rabbit://h/?direct_mandatory_flag=false&enable_cancel_on_failover=True",
    "rabbit://h/?rabbit_qos_prefetch_count=-5", "rabbit://h/?rabbit_ha_queues=on&amqp_auto_delete=off",
]


RABBIT_OPTS = dict(om_opts.list_opts())["oslo_messaging_rabbit"]


def py_query(text):
    conf = cfg.ConfigOpts()
    conf.register_opts(RABBIT_OPTS, group="oslo_messaging_rabbit")
    conf([])
    url = oslo_messaging.TransportURL.parse(conf, text)
    try:
        proxy = om_common.ConfigOptsProxy(conf, url, "oslo_messaging_rabbit")
    except cfg.NoSuchOptError:
        return {"ok": False, "kind": "ENOOPT"}
    except ValueError:
        return {"ok": False, "kind": "EVALUE"}
    group = proxy.oslo_messaging_rabbit
    return {"ok": True, "values": {o.name: getattr(group, o.name) for o in RABBIT_OPTS}}


def compare_query(c, py):
    if c["ok"] != py["ok"]:
        return "keel %s, oslo %s" % (c.get("error", "ok") + " " + c.get("why", ""), py.get("kind", "ok"))
    if not c["ok"]:
        return None if c["error"] == py["kind"] else "keel %s, oslo %s" % (c["error"], py["kind"])
    for k, v in py["values"].items():
        if c["values"].get(k) != v:
            return "%s: keel %r, oslo %r" % (k, c["values"].get(k), v)
    return None


def py_opts():
    rows = {}
    for group, opts in om_opts.list_opts():
        if group in ("oslo_messaging_amqp", "oslo_messaging_kafka"):
            continue
        for o in opts:
            choices = getattr(o.type, "choices", None)
            rows[(group or "DEFAULT", o.name)] = {
                "type": type(o).__name__,
                "default": o.default,
                "deprecated": sorted([d.group, d.name] for d in o.deprecated_opts),
                "min": getattr(o.type, "min", None),
                "max": getattr(o.type, "max", None),
                "choices": list(choices) if choices else None,
                "secret": o.secret,
                "deprecated_for_removal": o.deprecated_for_removal,
                "deprecated_reason": o.deprecated_reason,
                "help": o.help,
            }
    return rows


def compare_opts(c_rows, py_rows):
    diffs = []
    c_map = {(r["group"], r["name"]): r for r in c_rows}
    for key in sorted(set(c_map) | set(py_rows)):
        if key not in c_map:
            diffs.append("%s.%s: missing in keel" % key)
            continue
        if key not in py_rows:
            diffs.append("%s.%s: not an oslo option" % key)
            continue
        c, py = c_map[key], py_rows[key]
        c = dict(c, deprecated=sorted(c["deprecated"]))
        for field, want in py.items():
            got = c.get(field)
            if field in ("min", "max") and want is not None and got is not None:
                same = float(got) == float(want)
            else:
                same = got == want
            if not same:
                diffs.append("%s.%s %s: keel %r, oslo %r" % (key[0], key[1], field, got, want))
    return diffs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("probe")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    urls = list(HAND_URLS) + [random_url(rng) for _ in range(args.count)]
    requests = [{"op": "url", "url": u} for u in urls]
    requests += [{"op": "query", "url": u} for u in QUERY_CASES]
    requests.append({"op": "opts"})
    proc = subprocess.run([args.probe], input="".join(json.dumps(r) + "\n" for r in requests),
                          capture_output=True, text=True, check=True)
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == len(requests), "probe answered %d of %d" % (len(answers), len(requests))

    cases = agree = 0
    failures = []
    outcomes = {"ok": 0, "error": 0}
    for req, ans in zip(requests, answers):
        if req["op"] == "url":
            py = py_url(req["url"])
            diff = compare_url(req["url"], ans, py)
            outcomes["ok" if py["ok"] else "error"] += 1
            cases += 1
            if diff:
                failures.append("url %r: %s" % (req["url"], diff))
            else:
                agree += 1
        elif req["op"] == "query":
            diff = compare_query(ans, py_query(req["url"]))
            cases += 1
            if diff:
                failures.append("query %r: %s" % (req["url"], diff))
            else:
                agree += 1
        else:
            diffs = compare_opts(ans["opts"], py_opts())
            cases += len(ans["opts"])
            agree += len(ans["opts"]) - len(diffs)
            failures += ["opts " + d for d in diffs]

    for f in failures[:50]:
        print("DIFF", f)
    if args.verbose:
        print("url outcomes in oslo: %d parsed, %d refused" % (outcomes["ok"], outcomes["error"]))
    print("SUMMARY: %d cases, %d agree, %d differ (urls: %d parsed, %d refused by both)"
          % (cases, agree, len(failures), outcomes["ok"], outcomes["error"]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
