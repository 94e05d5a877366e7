#!/usr/bin/python3
"""Differential test of keel's log lines against oslo.log 5.0.

    log_format_diff.py PATH/TO/log_probe [--verbose]

Each case is one logging setup (oslo.log option values, an optional
oslo.context request context, a time zone) and a list of calls (logger,
level, format and arguments, source location, creation time, optionally an
exception). keel runs it in tests/log/log_probe; oslo.log runs it here, in
this process, through oslo_log.log.register_options() + setup() and
oslo_log.log.getLogger(), with its output captured (stdout, stderr, the log
file). The two outputs must be identical: text lines byte for byte
(colour codes included), JSON lines as parsed values with the same keys in
the same order and the same JSON types.

Nothing is masked. The fields that would legitimately differ between two
processes -- the creation time, pid, thread ident and the caller's file,
line and function -- are pinned instead: the probe runs with its clock
fixed to each call's time and writes its pid and thread ident to a side
file, and here a LogRecord factory gives the Python records the same time,
pid, thread and source location.

Cases: hand-written ones covering levels, logger hierarchy and
default_log_levels (including malformed entries, where both must refuse
the setup), text and JSON, context or none, the debug suffix, exceptions,
custom format strings, date formats, time zones, outputs, Unicode; then
seeded random ones (KEEL_LOG_DIFF_SEED, KEEL_LOG_DIFF_CASES).

A second set compares oslo.config's log_opt_values() (after oslo.log's
register_options and setup) with keel_log_opt_values(), for a few config
files over oslo.log's options and some test options of every type. keel
has no config_dir/config_file/config_source options (oslo.config's own),
so Python's three lines for them are left out, and the "command line
args:" line differs by the probe's own first argument.

Known, documented differences are not generated: a call without arguments
whose format contains '%' (Python does not %-format it, printf does), and
format strings keel rejects at setup where Python fails at each record
(those are checked as "both fail").
"""
import contextlib
import io
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

warnings.simplefilter("ignore")

from oslo_config import cfg  # noqa: E402
from oslo_context import context as octx  # noqa: E402
from oslo_log import log as olog  # noqa: E402

SEED = int(os.environ.get("KEEL_LOG_DIFF_SEED", "20240612"))
RANDOM_CASES = int(os.environ.get("KEEL_LOG_DIFF_CASES", "250"))
BINARY = os.path.basename(sys.argv[0])
T0 = 1700000000.0
RESET = "\x1b[00m"

# ---------------------------------------------------------------------------
# Running one case through oslo.log

_current = {}
_base_factory = logging.getLogRecordFactory()


def _factory(*args, **kwargs):
    r = _base_factory(*args, **kwargs)
    c = _current.get("call")
    if c is not None:
        r.pathname = c["file"]
        r.filename = os.path.basename(c["file"])
        r.module = os.path.splitext(r.filename)[0]
        r.lineno = c["line"]
        r.funcName = c["func"]
        ct = c["created"]
        r.created = ct
        r.msecs = int((ct - int(ct)) * 1000) + 0.0
        r.relativeCreated = (ct - _current["start"]) * 1000
        r.process = _current["pid"]
        r.thread = _current["thread"]
        r.threadName = "MainThread"
    return r


logging.setLogRecordFactory(_factory)

CONTEXT_FIELDS = ["request_id", "global_request_id", "user_id", "project_id", "domain_id", "user_domain_id",
                  "project_domain_id", "user_name", "project_name", "domain_name", "user_domain_name",
                  "project_domain_name", "system_scope", "resource_uuid", "auth_token", "roles", "is_admin",
                  "read_only", "show_deleted", "is_admin_project"]


def make_exception(text):
    try:
        raise ValueError(text)
    except ValueError:
        return sys.exc_info()


def exception_fields(call):
    """The error summary and traceback text oslo.log derives from exc_info."""
    ei = make_exception(call["exc"])
    call["_exc_info"] = ei
    call["error_summary"] = traceback.format_exception_only(ei[0], ei[1])[0].rstrip()
    call["traceback"] = "".join(traceback.format_exception(*ei))


def reset_loggers():
    for lg in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(lg, logging.Logger):
            lg.setLevel(logging.NOTSET)


def set_tz(tz):
    os.environ["TZ"] = tz
    time.tzset()


def run_oslo(case, outdir, meta):
    conf = cfg.ConfigOpts()
    olog.register_options(conf)
    conf([], project="probe", default_config_files=[], default_config_dirs=[])
    for k, v in case["conf"].items():
        conf.set_override(k, v)
    reset_loggers()
    _current.update(start=case["start"], pid=meta["pid"], thread=meta["thread"], call=None)
    out, err = io.StringIO(), io.StringIO()
    setup_failed = False
    root = logging.getLogger()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            olog.setup(conf, case.get("project") or "unknown", case.get("version") or "unknown")
        except (ValueError, TypeError):
            setup_failed = True
        if not setup_failed:
            ctx = case.get("context")
            if ctx is not None:
                octx.RequestContext(**{k: ctx[k] for k in CONTEXT_FIELDS if k in ctx})
            else:
                octx._request_store.context = None
            for call in case["calls"]:
                _current["call"] = call
                kw = {"exc_info": call["_exc_info"]} if "_exc_info" in call else {}
                olog.getLogger(call["logger"]).log(call["level"], call["msg"], *call["args"], **kw)
            _current["call"] = None
            octx._request_store.context = None
        for h in list(root.handlers):
            h.flush()
            h.close()
            root.removeHandler(h)
    sys.excepthook = sys.__excepthook__
    return {"setup_failed": setup_failed, "stdout": out.getvalue(), "stderr": err.getvalue(),
            "files": read_files(outdir)}


def read_files(d):
    files = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if os.path.isfile(p) and not name.startswith("_"):
            with open(p, encoding="utf-8", errors="surrogateescape") as f:
                files[name] = f.read()
    return files


def run_keel(probe, case, outdir):
    path = os.path.join(outdir, "_case.json")
    meta_path = os.path.join(outdir, "_meta.json")
    doc = {k: v for k, v in case.items() if k != "calls"}
    doc["calls"] = [{k: v for k, v in c.items() if not k.startswith("_")} for c in case["calls"]]
    doc["meta"] = meta_path
    doc["binary_name"] = BINARY
    with open(path, "w") as f:
        json.dump(doc, f)
    p = subprocess.run([probe, path], capture_output=True, timeout=30, env=dict(os.environ, TZ=case["tz"]))
    if p.returncode != 0:
        raise RuntimeError("probe exit %d on %s: %r" % (p.returncode, json.dumps(doc)[:600], p.stderr[-500:]))
    with open(meta_path) as f:
        meta = json.load(f)
    return meta, {"setup_failed": meta["setup"] != 0, "stdout": p.stdout.decode("utf-8", "surrogateescape"),
                  "stderr": p.stderr.decode("utf-8", "surrogateescape"), "files": read_files(outdir)}


# ---------------------------------------------------------------------------
# Comparing


def same_json(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b


def same_stream(a, b, is_json):
    if not is_json:
        return a == b
    la, lb = a.split("\n"), b.split("\n")
    if len(la) != len(lb):
        return False
    for x, y in zip(la, lb):
        sx = x.endswith(RESET)
        if sx != y.endswith(RESET):
            return False
        if sx:
            x, y = x[:-len(RESET)], y[:-len(RESET)]
        if x == y:
            continue
        try:
            if not same_json(json.loads(x), json.loads(y)):
                return False
        except ValueError:
            return False
    return True


def json_path_difference(x, y, path="$"):
    if type(x) is not type(y):
        return "%s: %s %r vs %s %r" % (path, type(x).__name__, x, type(y).__name__, y)
    if isinstance(x, dict):
        if list(x) != list(y):
            return "%s: keys %s vs %s" % (path, list(x), list(y))
        for key in x:
            d = json_path_difference(x[key], y[key], path + "." + key)
            if d:
                return d
        return None
    if isinstance(x, list):
        if len(x) != len(y):
            return "%s: lengths %d vs %d" % (path, len(x), len(y))
        for i, (p, q) in enumerate(zip(x, y)):
            d = json_path_difference(p, q, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if x == y else "%s: %r vs %r" % (path, x, y)


def first_difference(a, b):
    la, lb = a.split("\n"), b.split("\n")
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            try:
                d = json_path_difference(json.loads(x.replace(RESET, "")), json.loads(y.replace(RESET, "")))
                if d is None and x.endswith(RESET) == y.endswith(RESET):
                    continue
                if d:
                    return "line %d: %s" % (i + 1, d)
            except ValueError:
                pass
            return "line %d:\n  keel: %r\n  oslo: %r" % (i + 1, x[:3000], y[:3000])
    return "line counts %d and %d:\n  keel: %r\n  oslo: %r" % (len(la), len(lb), a[-300:], b[-300:])


def compare(case, k, o):
    """Returns None when keel (k) and oslo (o) agree, else a description."""
    if case.get("expect") == "both_fail":
        # keel refuses the format at setup; Python loses every line with a "Logging error".
        if k["setup_failed"] and (o["setup_failed"] or "--- Logging error ---" in o["stderr"]):
            return None
        return "expected both to fail: keel setup %s, oslo stderr %r" % (
            "failed" if k["setup_failed"] else "ok", o["stderr"][-300:])
    if k["setup_failed"] or o["setup_failed"]:
        if k["setup_failed"] and o["setup_failed"]:
            return None
        return "setup: keel %s, oslo %s" % ("failed" if k["setup_failed"] else "ok",
                                            "failed" if o["setup_failed"] else "ok")
    is_json = bool(case["conf"].get("use_json"))
    for what in ("stdout", "stderr"):
        if not same_stream(k[what], o[what], is_json):
            return "%s differs at %s" % (what, first_difference(k[what], o[what]))
    if sorted(k["files"]) != sorted(o["files"]):
        return "files differ: keel %s, oslo %s" % (sorted(k["files"]), sorted(o["files"]))
    for name in k["files"]:
        if not same_stream(k["files"][name], o["files"][name], is_json):
            return "file %s differs at %s" % (name, first_difference(k["files"][name], o["files"][name]))
    return None


# ---------------------------------------------------------------------------
# Cases

LEVELS = [5, 10, 20, 21, 30, 40, 50]
ASCII = "abcxyz ABC019 .,:;-_/\\'\"\t\n%"


def call(logger="keel.test", level=20, msg="hello", args=(), created=T0 + 0.25, file="/srv/keel/service.c", line=42,
         func="handle", exc=None):
    c = {"logger": logger, "level": level, "msg": msg, "args": list(args), "file": file, "line": line, "func": func,
         "created": created}
    if exc is not None:
        c["exc"] = exc
    return c


CTX_FULL = {"request_id": "req-6c7b1a52-8d0e-4f5a-9c1b-2f6a7e8d9c0b", "global_request_id": "req-global-1",
            "user_id": "4f1f", "project_id": "b2c3", "domain_id": "default", "user_domain_id": "udom",
            "project_domain_id": "pdom", "user_name": "alice", "project_name": "demo", "domain_name": "Default",
            "user_domain_name": "UDom", "project_domain_name": "PDom", "system_scope": "all",
            "resource_uuid": "0b0e6a34-1f6c-4d2f-a0b1-6b4a2c9d1e7f", "auth_token": "secret-token",
            "roles": ["admin", "member", "it's"], "is_admin": True, "read_only": False, "show_deleted": True,
            "is_admin_project": False}
CTX_MIN = {"request_id": "req-0001"}


def case(calls, tz="UTC", context=None, project=None, version=None, expect=None, **conf):
    c = {"conf": conf, "calls": calls, "tz": tz, "start": T0 - 2.5}
    if context is not None:
        c["context"] = context
    if project:
        c["project"] = project
    if version:
        c["version"] = version
    if expect:
        c["expect"] = expect
    return c


def hand_cases():
    cases = []
    # Every level, with and without debug, text and JSON, with and without a context.
    for debug in (False, True):
        for js in (False, True):
            for ctx in (None, CTX_MIN, CTX_FULL):
                calls = [call(level=lv, msg="level %d message", args=[lv], created=T0 + i * 0.001)
                         for i, lv in enumerate(LEVELS)]
                cases.append(case(calls, context=ctx, debug=debug, use_json=js, use_stderr=True))
    # Outputs: stdout (oslo's fallback), stderr, a file, log_dir joins, file and stderr together.
    calls = [call(msg="to %s", args=["somewhere"]), call(level=10, msg="debug %d", args=[1])]
    cases.append(case(calls))
    cases.append(case(calls, debug=True))
    cases.append(case(calls, use_stderr=True))
    for js in (False, True):
        cases.append(case(calls, log_file="{dir}/svc.log", use_json=js))
        cases.append(case(calls, log_file="{dir}/svc.log", use_stderr=True, use_json=js, debug=True))
        cases.append(case(calls, log_dir="{dir}", log_file="joined.log", use_json=js))
        cases.append(case(calls, log_dir="{dir}/", use_json=js))
        cases.append(case(calls, log_dir="/nonexistent", log_file="{dir}/abs.log", use_json=js))
    # Logger hierarchy and default_log_levels.
    names = ["a", "a.b", "a.b.c", "a.bc", "a.x.y", "b", "amqp", "amqp.connection", "sqlalchemy.engine",
             "oslo_messaging.rpc", "oslo.messaging", "stevedore.extension", "root", "a..b", "", "x.y.z.w"]
    hier = [call(logger=n, level=lv, msg="%s at %d", args=[n or "(root)", lv], line=7 + i)
            for i, n in enumerate(names) for lv in (10, 20, 30)]
    cases.append(case(hier, use_stderr=True))
    cases.append(case(hier, use_stderr=True, debug=True))
    for levels in (["a=ERROR", "a.b=DEBUG"], ["a.b=WARN", "a=10", "b=INFO", "amqp=DEBUG"],
                   ["=WARNING", "a=DEBUG"], ["a=15", "a.b= 25 ", "b=+30", "x.y=1_0"],
                   ["a=FATAL", "a.b=CRITICAL", "b=TRACE", "x=NOTSET"], ["a.b.c=ERROR", "a=ERROR", "a.b=INFO"],
                   ["a..b=DEBUG", "a.=ERROR"], [], ["root=ERROR"], ["oslo.messaging=ERROR", "oslo_messaging=DEBUG"]):
        for debug in (False, True):
            cases.append(case(hier, use_stderr=True, debug=debug, default_log_levels=levels))
    # Malformed default_log_levels: oslo.log's setup() raises, keel refuses the setup.
    for levels in (["amqp"], ["amqp=warn"], ["amqp=LOUD"], ["amqp = WARN"], ["a=b=c"], ["a="], ["a=1.5"],
                   ["a=1__0"], ["a=_10"], ["amqp=WARN", "bad"]):
        cases.append(case([call()], use_stderr=True, default_log_levels=levels))
    # Context variants.
    ctxs = [dict(CTX_MIN, global_request_id="req-g"), dict(CTX_MIN, user_id="u", project_id="p"),
            dict(CTX_MIN, resource_uuid="r-1"), dict(CTX_MIN, auth_token="tok", roles=["reader"]),
            dict(CTX_MIN, user_id="", project_id="p2", system_scope="all", is_admin=True),
            dict(CTX_MIN, user_name="ünï", project_name="日本", user_domain_id="ud"), CTX_FULL]
    for ctx in ctxs:
        for js in (False, True):
            cases.append(case([call(msg="ctx %s", args=["x"]), call(level=10, msg="dbg")], context=ctx,
                              use_json=js, use_stderr=True, debug=True))
    # User identity and instance formats.
    for ident in ("%(user)s/%(project)s", "%(user_name)s %(roles)s %(is_admin)s %(auth_token)s",
                  "%(unknown)s %(request_id)s %(is_admin_project)s", "[%(user_identity)s]", "%(domain)r %(project)a",
                  "%(read_only)s %(show_deleted)s %(resource_uuid)s", "100%% %(user)-6s|"):
        for ctx in (CTX_MIN, CTX_FULL):
            cases.append(case([call(msg="ident")], context=ctx, use_stderr=True, logging_user_identity_format=ident))
    cases.append(case([call(msg="inst")], context=CTX_FULL, use_stderr=True, instance_uuid_format="<%(uuid)s> "))
    cases.append(case([call(msg="inst")], context=CTX_FULL, use_stderr=True, instance_uuid_format=""))
    # Custom line formats.
    fmts = [
        "%(levelname)-8s %(name)s: %(message)s",
        "%(asctime)s %(msecs)d %(msecs)05.1f %(created)f %(created)s %(relativeCreated).2f",
        "%(lineno)5d|%(lineno)-5d|%(lineno)05d|%(levelno)+d|%(levelno) d|%(levelno)x|%(levelno)#X|%(levelno)#o",
        "%(name)r %(message)a %(funcName)s %(module)s %(filename)s %(pathname)s",
        "%(thread)d %(threadName)s %(process)d %(processName)s",
        "%(project)s %(version)s %(resource)s %(user_name)s %(project_name)s %(global_request_id)s [%(instance)s]",
        "%(isotime)s %(message)s",
        "%(color)s%(levelname)s%(reset_color)s %(message)s",
        "%(levelname).3s %(name).5s %(message)10.4s|",
        "%(msg)s => %(message)s %% %(exc_text)s %(stack_info)s",
        "%(levelno)e %(levelno)g %(msecs)G %(created).3e",
        "%(message)s %(error_summary)s",
        "%(message)hs %(lineno)ld %(levelno)Li",
        "",
    ]
    for f in fmts:
        for ctx in (None, CTX_FULL):
            calls = [call(msg="fmt %s %d", args=["a", 1]), call(level=10, msg="dbg"),
                     call(level=40, msg="err", exc="bad value")]
            cases.append(case(calls, context=ctx, use_stderr=True, debug=True, project="nova", version="27.1",
                              logging_default_format_string=f, logging_context_format_string=f))
    # Formats keel refuses at setup and Python fails on at every record.
    for f in ("%(nosuchkey)s", "%(name)d", "%(message", "%(name)s %", "%(name)*d", "%(name)y"):
        cases.append(case([call()], use_stderr=True, expect="both_fail", logging_default_format_string=f))
    # Debug suffix and exception prefix.
    for sfx in ("", "[%(funcName)s]", "%(pathname)s:%(lineno)d %(module)s"):
        cases.append(case([call(level=10, msg="dbg %s", args=["x"]), call(level=20, msg="info")], use_stderr=True,
                          debug=True, logging_debug_format_suffix=sfx))
    for prefix in ("", "!! ", "%(asctime)s %(levelname)s %(name)s | "):
        for js in (False, True):
            cases.append(case([call(level=40, msg="failed %s", args=["op"], exc="boom"),
                               call(level=10, msg="debug with exc", exc="quiet"),
                               call(level=30, msg="warn with exc", exc="multi\nline")],
                              use_stderr=True, debug=True, use_json=js, logging_exception_prefix=prefix))
    for ctx in (None, CTX_FULL):
        cases.append(case([call(level=50, msg="crit", exc="x")], context=ctx, use_stderr=True,
                          logging_default_format_string="%(message)s [%(error_summary)s]",
                          logging_context_format_string="%(error_summary)s <- %(message)s"))
        cases.append(case([call(level=30, msg="no exc")], context=ctx, use_stderr=True,
                          logging_default_format_string="%(message)s [%(error_summary)s]",
                          logging_context_format_string="%(error_summary)s <- %(message)s"))
    # Date formats and time zones.
    for datefmt in ("%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "", "%d/%b/%Y:%H:%M:%S %Z", "%a %j %U %%"):
        for tz in ("UTC", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe"):
            calls = [call(created=T0 + 0.999999), call(created=T0 + 86400 * 200 + 0.0005), call(created=T0)]
            for js in (False, True):
                cases.append(case(calls, tz=tz, use_stderr=True, use_json=js, log_date_format=datefmt,
                                  logging_default_format_string="%(asctime)s|%(isotime)s|%(msecs)03d %(message)s"))
    # Messages: Unicode, control characters, newlines, numbers.
    msgs = [("héllo wörld", []), ("日本語のメッセージ %s", ["値"]), ("emoji %s", ["\U0001F600\u200d\u2603"]),
            ("tab\there", []), ("line1\nline2", []), ("ctl %s", ["\x01\x1b[31m\x7f"]), ("quote \"%s\"", ["'\\"]),
            ("%5s|%-5s|%.2s", ["ab", "cd", "efgh"]), ("%d %i %5d", [1, -2, 3]), ("%-5d|%05d", [4, -5]),
            ("%x %X %o", [255, 255, 8]), ("%#x", [255]), ("%.3f %e %g", [3.14159, 12345.678, 0.0001]), ("%10.2f", [-2.5]),
            ("%s %s %s", ["a", "", "c"]), ("100%% done %s", ["now"]), ("%c%c", [65, 0x7e]),
            ("RTL \u05e9\u05dc\u05d5\u05dd %s", ["\u0645"]), ("combining e\u0301 %s", ["n\u0303"])]
    for m, a in msgs:
        for js in (False, True):
            cases.append(case([call(msg=m, args=a), call(level=10, msg=m, args=a)], use_stderr=True, debug=True,
                              use_json=js))
            cases.append(case([call(msg=m, args=a)], context=CTX_FULL, log_file="{dir}/u.log", use_json=js))
    # Logger names through oslo's getLogger (oslo_ rename) and odd characters.
    for n in ("oslo_messaging._drivers.impl_rabbit", "oslo_x", "keel.café", "a b", "a/b", "Ünï.cödé"):
        for js in (False, True):
            cases.append(case([call(logger=n, msg="named")], use_stderr=True, use_json=js))
    # Source locations.
    for file, func in (("service.c", "main"), ("/a/b.tar.gz", "f"), ("/a/.hidden", "g"), ("/a/noext", "h"),
                       ("rel/path/x.cc", "ns::f")):
        for js in (False, True):
            cases.append(case([call(level=10, file=file, func=func, line=1)], use_stderr=True, debug=True,
                              use_json=js))
    return cases


def random_cases(rng, n):
    alphabet = ASCII + "éü日本\u2603\U0001F600"
    fmts = ["%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(instance)s%(message)s", None,
            "%(levelname)s:%(name)s:%(message)s", "%(name)-12s %(levelno)3d %(message)r"]
    cases = []
    for _ in range(n):
        calls = []
        for _ in range(rng.randint(1, 6)):
            kinds = "".join(rng.choice("sdf") for _ in range(rng.randint(0, 3)))
            parts, args = [], []
            for k in kinds:
                word = "".join(rng.choice(alphabet.replace("%", "")) for _ in range(rng.randint(0, 6)))
                # printf counts bytes in widths and precisions where Python counts characters, and
                # prints negative %x in two's complement: such messages are C's, not compared.
                if k == "s":
                    conv = rng.choice(["%s", "%8s", "%-4s", "%.3s"])
                    chars = alphabet if conv == "%s" else ASCII
                    parts.append(word + conv)
                    args.append("".join(rng.choice(chars) for _ in range(rng.randint(0, 10))))
                elif k == "d":
                    conv = rng.choice(["%d", "%5d", "%x", "%+d"])
                    parts.append(word + conv)
                    args.append(rng.randint(0 if conv == "%x" else -10 ** 6, 10 ** 6))
                else:
                    parts.append(word + rng.choice(["%.2f", "%g", "%e", "%10.3f"]))
                    args.append(rng.choice([0.0, -1.5, 1e-7, 123456.789, rng.uniform(-1e6, 1e6)]))
            msg = "".join(parts) if kinds else "".join(rng.choice(alphabet.replace("%", "")) for _ in range(8))
            name = ".".join(rng.choice(["a", "b", "amqp", "keel", "oslo_messaging", "x"])
                            for _ in range(rng.randint(1, 3)))
            c = call(logger=name, level=rng.choice(LEVELS), msg=msg, args=args,
                     created=T0 + rng.randint(0, 10 ** 9) / 1000.0, line=rng.randint(1, 5000))
            if rng.random() < 0.15:
                c["exc"] = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
            calls.append(c)
        conf = {"debug": rng.random() < 0.5, "use_json": rng.random() < 0.4, "use_stderr": rng.random() < 0.7}
        if rng.random() < 0.3:
            conf["log_file"] = "{dir}/r.log"
        if rng.random() < 0.3:
            conf["default_log_levels"] = ["%s=%s" % (rng.choice(["a", "a.b", "keel", "x"]),
                                                      rng.choice(["DEBUG", "INFO", "WARN", "ERROR", "5", "35"]))
                                          for _ in range(rng.randint(0, 4))]
        f = rng.choice(fmts)
        if f:
            conf["logging_default_format_string"] = f
        ctx = rng.choice([None, None, CTX_MIN, CTX_FULL, dict(CTX_MIN, user_id="ü", roles=["r"])])
        cases.append(case(calls, tz=rng.choice(["UTC", "Europe/Paris"]), context=ctx, **conf))
    return cases


# ---------------------------------------------------------------------------
# log_opt_values

def register_test_opts(conf):
    conf.register_opts([cfg.StrOpt("connection", default="sqlite://", help="DB URL."),
                        cfg.StrOpt("password", default="hunter2", secret=True),
                        cfg.ListOpt("pool", default=["a", "b"]),
                        cfg.FloatOpt("timeout", default=1.5),
                        cfg.IntOpt("retries", default=3),
                        cfg.DictOpt("mapping", default={"k": "v"})], group="db")
    conf.register_opts([cfg.BoolOpt("enabled", default=True),
                        cfg.MultiStrOpt("hosts"),
                        cfg.StrOpt("token", secret=True)], group="api")


OPT_VALUE_FILES = [
    "",
    "[DEFAULT]\ndebug = true\n",
    "[DEFAULT]\nuse_json = true\ndefault_log_levels = a=DEBUG, b=ERROR\nlog_dir = {dir}\n"
    "[db]\npassword = s3cret\npool = x,y,z\ntimeout = 2\nmapping = a:1,b:2\n[api]\nhosts = h1\nhosts = h2\n"
    "token = t\nenabled = false\n",
    "[DEFAULT]\nlogging_context_format_string = %%(message)s\ninstance_format = <%%(uuid)s>\n"
    "syslog_log_facility = local3\nlog_rotation_type = interval\nrate_limit_burst = 7\n",
    "[DEFAULT]\nlogging_default_format_string = [%(levelname)s] %(message)s\nlog_date_format =\n"
    "[db]\nconnection = postgresql://u@h/d\n",
]


def opt_values_case(probe, work, i, text):
    path = os.path.join(work, "ov-%d.conf" % i)
    text = text.replace("{dir}", work)
    with open(path, "w") as f:
        f.write("[DEFAULT]\nuse_stderr = true\nlogging_default_format_string = %(name)s %(message)s\n")
        f.write(text.replace("[DEFAULT]\n", "", 1) if text.startswith("[DEFAULT]\n") else text)
    args = ["--config-file", path]
    p = subprocess.run([probe, "--opt-values"] + args, capture_output=True, timeout=30)
    keel = p.stderr.decode("utf-8", "surrogateescape")
    conf = cfg.ConfigOpts()
    olog.register_options(conf)
    register_test_opts(conf)
    conf(args, project="probe", default_config_files=[], default_config_dirs=[])
    err = io.StringIO()
    root = logging.getLogger()
    reset_loggers()
    with contextlib.redirect_stderr(err):
        olog.setup(conf, "probe")
        conf.log_opt_values(olog.getLogger("probe"), logging.INFO)
        for h in list(root.handlers):
            h.flush()
            h.close()
            root.removeHandler(h)
    sys.excepthook = sys.__excepthook__
    def normalize(text):
        lines = []
        for ln in text.split("\n"):
            try:  # JSON lines: only the message is at stake here
                ln = "probe " + json.loads(ln.replace(RESET, ""))["message"] + RESET
            except ValueError:
                pass
            if "command line args: " in ln:
                ln = "command line args: (masked)"
            # oslo.config's own options, which keel does not have; keel's warnings about unsupported options.
            if not (re.search(r"\bconfig_(dir|file|source) +=", ln) or ln.startswith("keel.log ")):
                lines.append(ln)
        return lines

    oslo_lines, keel_lines = normalize(err.getvalue()), normalize(keel)
    if p.returncode != 0 or keel_lines != oslo_lines:
        return "log_opt_values differs (exit %d) at %s" % (
            p.returncode, first_difference("\n".join(keel_lines), "\n".join(oslo_lines)))
    return None


def main():
    probe = sys.argv[1]
    verbose = "--verbose" in sys.argv
    rng = random.Random(SEED)
    cases = hand_cases() + random_cases(rng, RANDOM_CASES)
    work = tempfile.mkdtemp(prefix="keel-log-diff-")
    disagreements = 0
    try:
        for i, c in enumerate(cases):
            for cl in c["calls"]:
                if "exc" in cl:
                    exception_fields(cl)
            dirs = {}
            for side in ("keel", "oslo"):
                d = os.path.join(work, "%d-%s" % (i, side))
                os.mkdir(d)
                dirs[side] = d
            concrete = {}
            for side in ("keel", "oslo"):
                cc = json.loads(json.dumps({k: v for k, v in c.items() if k != "calls"}))
                cc["conf"] = {k: (v.replace("{dir}", dirs[side]) if isinstance(v, str) else v)
                              for k, v in cc["conf"].items()}
                cc["calls"] = c["calls"]
                concrete[side] = cc
            meta, k = run_keel(probe, concrete["keel"], dirs["keel"])
            set_tz(c["tz"])
            o = run_oslo(concrete["oslo"], dirs["oslo"], meta)
            problem = compare(c, k, o)
            if problem:
                disagreements += 1
                if disagreements <= 20 or verbose:
                    shown = json.dumps({kk: vv for kk, vv in c.items() if kk != "calls"}, ensure_ascii=False)
                    print("case %d %s\n  %s" % (i, shown[:400], problem))
        for i, text in enumerate(OPT_VALUE_FILES):
            problem = opt_values_case(probe, work, i, text)
            if problem:
                disagreements += 1
                print("opt_values case %d %r\n  %s" % (i, text[:200], problem))
        ncases = len(cases) + len(OPT_VALUE_FILES)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("SUMMARY: log format differential: %d cases, %d disagreements (seed %d)" % (ncases, disagreements, SEED))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
