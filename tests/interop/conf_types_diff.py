#!/usr/bin/python3
"""Differential test of keel's option types against oslo_config.types.

    conf_types_diff.py PATH/TO/types_probe

Builds, from a fixed seed, tens of thousands of cases — hand-picked edge
cases for every type plus random text drawn from a type-aware alphabet
(digits, signs, underscores, Unicode digits and spaces, brackets, '%', ...)
with random constraints — converts each with the real oslo_config.types
object and with keel (the probe, one process fed JSON lines) and compares:
both accept with equal values (same Python types; floats equal or both NaN)
and the same json.dumps() and str() text, or both reject.

The seed is printed; set KEEL_CONF_TYPES_SEED to replay another one and
KEEL_CONF_TYPES_CASES to change the number of random cases.

Integers beyond 64 bits are left out: Python accepts them as bignums and
keel rejects them on purpose (docs/config.md, "Differences from oslo.config").
"""
import json
import math
import os
import random
import subprocess
import sys
import time
import warnings

from oslo_config import types

warnings.simplefilter("ignore")

SEED = int(os.environ.get("KEEL_CONF_TYPES_SEED", "20240611"))
RANDOM_CASES = int(os.environ.get("KEEL_CONF_TYPES_CASES", "24000"))
INT64 = (-(2 ** 63), 2 ** 63 - 1)

SCALARS = ["string", "bool", "int", "float", "port", "ip", "hostname", "host", "uri"]

# ---------------------------------------------------------------------------
# Building the oslo.config type a case describes


def scalar_type(name, c):
    if name == "string":
        return types.String(choices=c.get("choices"), quotes=c.get("quotes", False), regex=c.get("regex"),
                            ignore_case=c.get("ignore_case", False), max_length=c.get("max_length"))
    if name == "bool":
        return types.Boolean()
    if name == "int":
        return types.Integer(min=c.get("min"), max=c.get("max"), choices=c.get("choices"))
    if name == "float":
        return types.Float(min=c.get("min"), max=c.get("max"))
    if name == "port":
        return types.Port(min=c.get("min"), max=c.get("max"), choices=c.get("choices"))
    if name == "ip":
        return types.IPAddress(version=c.get("ip_version") or None)
    if name == "hostname":
        return types.Hostname()
    if name == "host":
        return types.HostAddress(version=c.get("ip_version") or None)
    if name == "uri":
        return types.URI(max_length=c.get("max_length"), schemes=c.get("schemes"))
    raise AssertionError(name)


def oslo_type(c):
    if c["type"] == "list":
        return types.List(item_type=scalar_type(c.get("item_type", "string"), c), bounds=c.get("bounds", False))
    if c["type"] == "dict":
        return types.Dict(value_type=scalar_type(c.get("item_type", "string"), c), bounds=c.get("bounds", False))
    return scalar_type(c["type"], c)


def has_bignum(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return not INT64[0] <= v <= INT64[1]
    if isinstance(v, list):
        return any(has_bignum(x) for x in v)
    if isinstance(v, dict):
        return any(has_bignum(x) for x in v.values())
    return False


def same(a, b):
    """Equal values of the same Python types, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


# ---------------------------------------------------------------------------
# Case generation

UNI_SPACES = ["\u00a0", "\u2000", "\u2009", "\u3000", "\x1c", "\x1f", "\x85", "\u180e", "\u200b", "\u2028", "\x0b", "\x0c"]
UNI_DIGITS = ["\u0663", "\u0661", "\uff10", "\uff19", "\U0001d7d8", "\u07c0", "\u0e52", "\u00b2", "\u2167", "\u0967"]
ODD_LETTERS = ["\u0130", "\u0131", "\u017f", "\u212a", "\u03a3", "\u03c2", "\u00e9", "\u00df", "\u00c9", "\u2126"]
MISC = ["\x00", "\x7f", "\u20ac", "\U0001f600", "\\", "\t", "\n", "\r", "'", '"']

ALPHABETS = {
    "int": list("0123456789") * 4 + ["+", "-", "_", "_", " ", ".", "e", "x", "1_000"] + UNI_SPACES + UNI_DIGITS + MISC[:3],
    "float": list("0123456789") * 3 + ["+", "-", "_", ".", ".", "e", "E", " ", "inf", "INFINITY", "nan", "NaN", "Inf",
                                       "in", "1e5", "0x", "p"] + UNI_SPACES + UNI_DIGITS + MISC[:3],
    "bool": ["true", "TRUE", "True", "false", "yes", "YES", "no", "on", "ON", "off", "1", "0", "t", "f", " ", "\u0130",
             "\u212a", "y", "e", "s", "n", "o"] + UNI_SPACES[:3],
    "ip": list("0123456789") * 2 + [".", ".", ":", ":", "::", "a", "f", "F", "g", "%", "%25", "eth0", " ", "00", "255",
                                    "256", "ffff", "12345", "1.2.3.4", "::ffff:", "\n"] + UNI_DIGITS[:2],
    "hostname": list("abcxyzABC0123456789") + ["-", "-", ".", ".", ".", "_", " ", "\n", "com", "xn--", "1", "9",
                                              "*", "/", ":", "@"] + ODD_LETTERS + UNI_DIGITS[:2] + ["a" * 63, "b" * 64],
    "uri": ["http", "https", "ftp", "HTTP", "h+t.p-", "1http", "://", ":", ":", "/", "/", "//", "@", "[", "]", "::1",
            "fe80::1", "%25", "%", "%2F", "%zz", "?", "#", "user", ":pass", "example.com", "127.0.0.1", "256.1.1.1",
            "1.2.3", "8080", "99999", "123456", " ", "\n", "\\", "\u00e9", "v1.x", "a", "b", "-", ".", "..", "~", "!",
            "$", "'", "(", "*", ",", ";", "=", "[::1]", "[v7.a:b]", "eth0", "0", "\x00", "\t"],
    "string": list("abcAB ,:'\"") + ["\\", ".", "x", "y", "\n", "\u00e9", "\u00c9"] + ODD_LETTERS + UNI_SPACES[:4] +
    UNI_DIGITS[:3] + MISC,
}
ALPHABETS["port"] = ALPHABETS["int"]
ALPHABETS["host"] = ALPHABETS["hostname"] + ALPHABETS["ip"]

REGEXES = ["^a", "b$", "^[a-z]+$", "\\d+", "^\\s*$", "\\s", "\\S+$", "\\w+", "^\\w+$", "a{,2}b", "^$", "x\\Z", "[\\s,]",
           "\u00e9", "^[^\\s]+$", "\\bab\\b", "^(?P<x>a)(?P=x)", ".", "^.$", "\\u00e9", "", "^[\\w.-]+@", "(a|ab)c",
           "^.{2,3}$", "[^a-c]", "\\Ac", "\\$", "^\\D", "\\W"]
CHOICE_WORDS = ["a", "b", "A", "ab", "AB", "", " ", "x y", "\u00e9", "\u00c9", "Stra\u00dfe", "STRASSE", "\u03a3\u0391\u03a3",
                "\u03c3\u03b1\u03c2", "\u0130", "i\u0307", "\u212a", "k", "\u017f", "s", "\u2126", "\u03c9", "'a'",
                "a,b", "a\nb"]


def rand_text(rng, alphabet, max_tokens=8):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_tokens)))


def rand_constraints(rng, name, c):
    """Adds random constraints for scalar type name to case c (in place)."""
    if name in ("int", "port"):
        lo, hi = (-100, 100) if name == "int" else (0, 65535)
        if rng.random() < 0.25:
            c["min"] = rng.randint(lo, hi // 2)
        if rng.random() < 0.25:
            c["max"] = rng.randint(c.get("min", lo), hi)
        if rng.random() < 0.15:
            low, high = c.get("min", lo), c.get("max", hi)
            c["choices"] = sorted({rng.randint(low, high) for _ in range(rng.randint(0, 4))})
    elif name == "float":
        if rng.random() < 0.4:
            c["min"] = rng.choice([0, 1, -1.5, 0.25, 1e-300, -1e300])
        if rng.random() < 0.4:
            c["max"] = rng.choice([10, 1e300, 2.5, 100])
            if c["max"] < c.get("min", -math.inf):
                del c["max"]
    elif name == "string":
        r = rng.random()
        if r < 0.25:
            c["choices"] = rng.sample(CHOICE_WORDS, rng.randint(0, 5))
        elif r < 0.5:
            c["regex"] = rng.choice(REGEXES)
        if rng.random() < 0.3:
            c["ignore_case"] = True
        if rng.random() < 0.3:
            c["quotes"] = True
        if rng.random() < 0.2:
            c["max_length"] = rng.randint(1, 6)
    elif name in ("ip", "host"):
        c["ip_version"] = rng.choice([0, 0, 4, 6])
    elif name == "uri":
        if rng.random() < 0.3:
            c["schemes"] = rng.choice([["http", "https"], ["HTTP"], ["ftp"], ["h+t.p-", "http"]])
        if rng.random() < 0.2:
            c["max_length"] = rng.randint(5, 30)


def gen_int(rng):
    digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([1, 1, 2, 2, 3, 5, 8])))
    if rng.random() < 0.2:
        digits = "_".join(digits[i:i + 2] for i in range(0, len(digits), 2))
    if rng.random() < 0.15:
        digits = "".join(rng.choice(UNI_DIGITS[:7]) if rng.random() < 0.5 else ch for ch in digits)
    sign = rng.choice(["", "", "", "-", "+"])
    pad = lambda: rng.choice(["", "", "", " ", "\t"] + UNI_SPACES)
    return pad() + sign + digits + pad()


def gen_float(rng):
    r = rng.random()
    if r < 0.1:
        body = rng.choice(["inf", "Infinity", "nan", "NAN", "iNf"])
    else:
        a = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 4)))
        b = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 3)))
        body = a + (("." + b) if rng.random() < 0.6 else "")
        if rng.random() < 0.3:
            body += rng.choice("eE") + rng.choice(["", "-", "+"]) + str(rng.randint(0, 400))
    return rng.choice(["", "", "-", "+"]) + body + rng.choice(["", "", " ", "\u3000"])


def gen_ipv4(rng):
    return ".".join(str(rng.choice([0, 1, 10, 127, 192, 255, 256, rng.randint(0, 255)])) for _ in range(4))


def gen_ipv6(rng):
    groups = ["%x" % rng.choice([0, 1, 0xff, 0xffff, rng.randint(0, 0xffff)]) for _ in range(8)]
    if rng.random() < 0.2:
        groups = groups[:6] + [gen_ipv4(rng)]
    if rng.random() < 0.6:
        i = rng.randint(0, len(groups) - 1)
        j = rng.randint(i, len(groups))
        text = ":".join(groups[:i]) + "::" + ":".join(groups[j:])
    else:
        text = ":".join(groups)
    return text.upper() if rng.random() < 0.1 else text


def gen_ip(rng):
    return gen_ipv4(rng) if rng.random() < 0.5 else gen_ipv6(rng)


def gen_label(rng):
    n = rng.choice([1, 2, 3, 5, 8, 63, 64])
    chars = "abcdefghijklmnopqrstuvwxyz0123456789-" + ("ABC" if rng.random() < 0.3 else "")
    return "".join(rng.choice(chars) for _ in range(n))


def gen_hostname(rng):
    labels = [gen_label(rng) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.1:
        labels = [gen_label(rng) for _ in range(rng.randint(4, 6))] * 2
    return ".".join(labels) + ("." if rng.random() < 0.15 else "")


def gen_host(rng):
    return gen_ip(rng) if rng.random() < 0.5 else gen_hostname(rng)


def gen_uri(rng):
    text = rng.choice(["http", "https", "ftp", "HTTP", "amqp", "h2+x.y-z", "rabbit"]) + ":"
    if rng.random() < 0.9:
        text += "//"
        if rng.random() < 0.2:
            text += rng.choice(["user", "user:pass", "u%41", "a:b:c", "", "us er"]) + "@"
        host = rng.choice([gen_hostname(rng), gen_ipv4(rng), "[" + gen_ipv6(rng) + "]", "", "[v1.x]",
                           "[" + gen_ipv6(rng) + rng.choice(["%25eth0", "%eth0", "%25"]) + "]", "ex%41mple.com"])
        text += host
        if rng.random() < 0.3:
            text += ":" + str(rng.choice([0, 80, 65535, 65536, 99999, 123456]))
    if rng.random() < 0.6:
        text += "/" + "/".join(rng.choice(["a", "b c", "%2F", "%zz", "[x]", "\u00e9", "..", "", "~u", "a:b", "@"])
                               for _ in range(rng.randint(0, 3)))
    if rng.random() < 0.2:
        text += "?" + rng.choice(["a=b", "x", "[", "\u00e9", ""])
    if rng.random() < 0.2:
        text += "#" + rng.choice(["f", "", "a#b", "\n"])
    return text


def gen_bool(rng):
    w = rng.choice(["true", "false", "1", "0", "on", "off", "yes", "no"])
    return "".join(ch.upper() if rng.random() < 0.3 else ch for ch in w)


def gen_string(rng):
    return rand_text(rng, ALPHABETS["string"], 6)


GENERATORS = {"int": gen_int, "port": gen_int, "float": gen_float, "ip": gen_ip, "hostname": gen_hostname,
              "host": gen_host, "uri": gen_uri, "bool": gen_bool, "string": gen_string}


def mutate(rng, text, alphabet, rate=(0, 0, 0, 1, 1, 2)):
    """A few random edits: insert a token, delete or replace a character."""
    for _ in range(rng.choice(rate)):
        i = rng.randint(0, len(text))
        op = rng.random()
        if op < 0.5 or not text:
            text = text[:i] + rng.choice(alphabet) + text[i:]
        elif op < 0.75:
            text = text[:i] + text[i + 1:]
        else:
            text = text[:i] + rng.choice(alphabet) + text[i + 1:]
    return text


def gen_text(rng, item, alphabet, container, bounds=False):
    """Text for scalar type item: mostly a near-valid value, sometimes noise."""
    if rng.random() < 0.2:
        return rand_text(rng, alphabet, 14 if container else 8)
    if container == "list":
        parts = [GENERATORS[item](rng) for _ in range(rng.randint(0, 4))]
    elif container == "dict":
        parts = [rng.choice(["a", "b", "k", " key ", "", "a"]) + rng.choice([":", ":", ": ", "="]) + GENERATORS[item](rng)
                 for _ in range(rng.randint(0, 4))]
    else:
        return mutate(rng, GENERATORS[item](rng), alphabet)
    text = rng.choice([",", ",", ", ", " ,"]).join(parts)
    if rng.random() < (0.9 if bounds else 0.1):
        text = ("[" + text + "]") if container == "list" else ("{" + text + "}")
    if rng.random() < 0.2:
        text += ","
    return mutate(rng, text, alphabet, (0, 0, 0, 0, 0, 1, 2))


def random_case(rng):
    t = rng.choice(SCALARS + ["list", "list", "dict", "dict"])
    c = {"type": t}
    if t in ("list", "dict"):
        item = rng.choice(SCALARS)
        c["item_type"] = item
        rand_constraints(rng, item, c)
        c["bounds"] = rng.random() < 0.3
        seps = [",", ",", ",", " ", "[", "]", "{", "}"] + ([":", ":", ":"] if t == "dict" else [])
        c["text"] = gen_text(rng, item, ALPHABETS[item] + seps * 3, t, c["bounds"])
    else:
        rand_constraints(rng, t, c)
        c["text"] = gen_text(rng, t, ALPHABETS[t], None)
    return c


HAND = {
    "int": ["0", "-0", "+0", "00", "010", "1_000", "1__0", "_1", "1_", "+_1", "-", "+", "", " ", "\t", "\x1c", "\x1c5",
            "5\x1c", " 5 ", "\u00a05\u3000", "\u0663", "-\u0663_\u0661", "1\u0663", "\uff11\uff12", "\U0001d7d9",
            "\u00b2", "1.0", "1e3", "0x10", "9223372036854775807", "-9223372036854775808", "12 3", "5\x00", "\x85 7",
            "\u180e5", "\u200b5", "٣٣٣", "1\n", "\n1\n"],
    "float": ["0", "-0", "1.", ".5", ".", "1e", "1e+", "1e5", "1E-5", "1_0.0_1e1_0", "1_.5", "1._5", "1e_5", "inf",
              "-inf", "+Infinity", "infinit", "infinityx", "nan", "-NaN", "nan(1)", " nan ", "1e400", "-1e400",
              "1e-400", "4.9e-324", "0x1p3", "1.7976931348623157e308", "\u0663.\u0665", "1.5\u3000", "\x1c1.5",
              "", " ", "0.1", "100000000000000000000000", "1" * 400, "_1.5", "1.5_", "--1", "+-1", "1e1.5",
              "١٢٣.٤٥e١"],
    "bool": ["true", "True", "TRUE", "1", "on", "yes", "false", "0", "off", "no", "No", "oN", "", " true", "true ",
             "t", "y", "2", "\u0130", "on\n", "yes\x00"],
    "ip": ["1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.4 ", " 1.2.3.4",
           "1..2.3", "::", "::1", "1::", ":::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
           "1:2:3:4:5:6:7:8:9", "1::2::3", "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4",
           "fe80::1%eth0", "12345::", "0000:0000::", "::00000", "1:", ":1", "", "\u0661.2.3.4", "1.2.3.4\n",
           "::ffff:1.2.3", "1::1.2.3.4.5", "a:b:c:d:e:f:1.2.3.4", "G::"],
    "hostname": ["example.com", "example.com.", "example.com..", "a", "1", "123", "1a", "a1", "-a", "a-", "a--b",
                 "a_b", "abc\n", "ab\n.com", "a-\n", "\n", "a\n\n", "localhost", ".", ".com", "a..b", "a" * 63,
                 "a" * 64, ".".join(["a" * 63] * 4)[:253], ".".join(["a" * 63] * 4)[:254], "\u0130stanbul.com",
                 "\u212aelvin", "\u017fs", "\u00e9t\u00e9.fr", "x.123", "x.1a", "x.-", "1.2.3.4", "xn--nxasmq6b.com",
                 " a", "a ", "*.a.com"],
    "uri": ["http://example.com", "http://example.com/", "HTTP://example.com", "http://", "http:", "example.com",
            "//example.com", "http://user:pass@example.com:8080/p?q#f", "http://:80", "http://@", "http://a@b@c",
            "http://[::1]:80/", "http://[fe80::1%25eth0]/", "http://[fe80::1%eth0]/", "http://[v7.a:b]/",
            "http://256.1.1.1/", "http://255.255.255.255/", "http://1.2.3.4.5/", "http://example.com:99999/",
            "http://example.com:123456", "http://exa mple.com", "http://example.com/a b", "http://example.com/[x]",
            "http://example.com/%zz", "http://example.com/%41%zz", "http://example.com\n", "http://example.com/\n",
            "http://ex\\ample.com", "http://example.com#frag\nx", "1http://x", "h+t.p-://x", "mailto:a@b.com",
            "file:///etc/passwd", "http://\u00e9.com", "http://x/\u00e9", "http://x?\u00e9", "", " ", "http://x:80:80",
            "ftp://ftp.example.com/pub", "http://[::1", "http://]", "http://%41.com", "http://x:/"],
}


def hand_cases():
    out = []
    for t, texts in HAND.items():
        for text in texts:
            out.append({"type": t, "text": text})
            if t == "int":
                out.append({"type": "int", "text": text, "min": 0, "max": 10})
                out.append({"type": "port", "text": text})
            if t in ("ip", "hostname"):
                out.append({"type": "host", "text": text, "ip_version": 4})
                out.append({"type": "host", "text": text})
                out.append({"type": "ip", "text": text, "ip_version": 6})
            if t == "uri":
                out.append({"type": "uri", "text": text, "schemes": ["http", "HTTPS"], "max_length": 20})
    lists = ["", " ", ",", ",,,", "a,b", "a, b ,c", "a,,b", "a,b,", "a, ,", "[a,b]", "[a,]", "[]", "[", "]", "[a",
             " [a, b] ", "'a,b',c", "\"a,b\"", "'a", "a'", "1,2,3", "1,,2", "1, 2", "1,x,2", "[1,2]", "1.5,nan",
             "true,False", "a:1,b:2", "{a:1}", "{}", "{", "}", "a:1,", "a", ":1", "a:", "a:1,a:2", "a:1,b",
             "a:1,b:c:d", " a : 1 , b : 2 ", "{a:1,}", "a,b:1", "k:'x,y'", "k:1,2", "a:1,,b:2", "\u3000a,b\u3000",
             "a\u3000,b", "http://x/a,b", "1.2.3.4,::1", "a.com,b.com", "x:http://a.com"]
    for text in lists:
        for item in ["string", "int", "float", "bool", "ip", "host", "uri", "hostname", "port"]:
            for t in ("list", "dict"):
                for bounds in (False, True):
                    out.append({"type": t, "item_type": item, "bounds": bounds, "text": text})
            out.append({"type": "list", "item_type": "string", "quotes": True, "text": text})
            out.append({"type": "dict", "item_type": "string", "quotes": True, "text": text})
    for text in ["a", "A", "b", "ab", "Ab", "", " a", "\u00e9", "\u00c9", "STRASSE", "stra\u00dfe", "\u03a3\u0391\u03a3",
                 "\u03c3\u03b1\u03c3", "\u03c3\u03b1\u03c2", "i\u0307", "\u0130", "I", "K", "\u212a", "\u017f", "S",
                 "'a'", "\"a\"", "'", "\"", "'a", "a'", "''", "'ab\"", "abcdefg", "\u00e9\u00e9\u00e9"]:
        for extra in [{}, {"choices": CHOICE_WORDS}, {"choices": CHOICE_WORDS, "ignore_case": True}, {"choices": []},
                      {"quotes": True}, {"quotes": True, "choices": ["a", "ab"]}, {"max_length": 2},
                      {"max_length": 2, "quotes": True}, {"regex": "^a"}, {"regex": "^a", "ignore_case": True},
                      {"regex": "\u00e9", "ignore_case": True}, {"regex": "^\\w+$"}, {"regex": "\\s"}]:
            out.append(dict({"type": "string", "text": text}, **extra))
    return out


def python_result(c):
    try:
        t = oslo_type(c)
    except (ValueError, TypeError):
        return None  # no such oslo type: not a case
    try:
        return ("ok", t(c["text"]))
    except ValueError as e:
        return ("reject", str(e))


def build_cases(rng):
    cases, results = [], []

    def add(c):
        r = python_result(c)
        if r is None or (r[0] == "ok" and has_bignum(r[1])):
            return False
        cases.append(c)
        results.append(r)
        return True

    for c in hand_cases():
        add(c)
    n = 0
    while n < RANDOM_CASES:
        n += add(random_case(rng))
    return cases, results


# ---------------------------------------------------------------------------


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    print("conf types differential: seed %d (KEEL_CONF_TYPES_SEED)" % SEED)
    rng = random.Random(SEED)
    t0 = time.monotonic()
    cases, results = build_cases(rng)
    t1 = time.monotonic()
    feed = "".join(json.dumps(c) + "\n" for c in cases)
    proc = subprocess.run([argv[1]], input=feed.encode("utf-8"), stdout=subprocess.PIPE, timeout=240, check=False)
    t2 = time.monotonic()
    # Only "\n" ends a line: JSON leaves U+2028, U+0085 and the like raw.
    lines = proc.stdout.decode("utf-8").split("\n")[:-1]
    disagreements = 0
    if proc.returncode != 0 or len(lines) != len(cases):
        print("probe failed: exit %d, %d lines for %d cases" % (proc.returncode, len(lines), len(cases)))
        disagreements = max(1, len(cases) - len(lines))
    accepted = 0
    for c, r, line in zip(cases, results, lines):
        k = json.loads(line)
        problem = None
        if "error" in k:
            problem = "keel error %s" % k["error"]
        elif r[0] == "ok" and not k["ok"]:
            problem = "python accepts %r, keel rejects: %s" % (r[1], k["why"])
        elif r[0] == "reject" and k["ok"]:
            problem = "python rejects (%s), keel accepts %s" % (r[1], k["json"])
        elif r[0] == "ok":
            accepted += 1
            want_json = json.dumps(r[1], ensure_ascii=False)
            want_str = "" if r[1] is None else str(r[1])
            if not same(r[1], json.loads(k["json"])):
                problem = "values differ: python %r, keel %s" % (r[1], k["json"])
            elif k["json"] != want_json:
                problem = "JSON text differs: python %s, keel %s" % (want_json, k["json"])
            elif k["pystr"] != want_str:
                problem = "str() differs: python %r, keel %r" % (want_str, k["pystr"])
        if problem:
            disagreements += 1
            if disagreements <= 20:
                print("DISAGREE %s\n    case %s" % (problem, json.dumps(c, ensure_ascii=False)))
    print("%d cases (%d accepted by oslo.config), generated in %.1fs, probe ran in %.1fs"
          % (len(cases), accepted, t1 - t0, t2 - t1))
    print("SUMMARY: conf types differential: %d cases, %d disagreements" % (len(cases), disagreements))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
