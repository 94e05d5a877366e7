#!/usr/bin/python3
"""Generates src/pycompat/pyunicode_tables.h: the Unicode properties of
CPython's str that keel's Python-compatible code needs (STYLE.md rule 10:
each table has one source).

Every property is read through the reference interpreter's own str methods,
one code point at a time, not from the Unicode data files: the question is
never "what does Unicode say" but "what does the Python under oslo.config,
oslo.policy and oslo.rootwrap do" (Debian's Python 3.11 ships Unicode 14.0.0).

    gen_pyunicode.py              regenerate the header in the source tree
    gen_pyunicode.py OUT          write it to OUT instead
    gen_pyunicode.py --check [F]  exit 1 if F (default: the header in the
                                  tree) differs from what would be written;
                                  the meson test pycompat/pyunicode_tables

Run it with Debian's /usr/bin/python3; it needs only the standard library.
"""
import os
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join(ROOT, 'src', 'pycompat', 'pyunicode_tables.h')
MAXCP = 0x110000
SIGMA = '\u03a3'


def is_surrogate(c):
    return 0xD800 <= c <= 0xDFFF


def ranges(pred, skip_surrogates=True):
    """Closed (first, last) runs of code points where pred(chr(c)) holds."""
    out, start = [], None
    for c in range(MAXCP + 1):
        p = c < MAXCP and not (skip_surrogates and is_surrogate(c)) and pred(chr(c))
        if p and start is None:
            start = c
        elif not p and start is not None:
            out.append((start, c - 1))
            start = None
    return out


def case_runs(method):
    """Runs of code points whose lower()/upper() is one code point at a fixed
    offset, spaced 1 or 2 apart (Latin Extended alternates upper and lower):
    cp in [first, last] with (cp - first) % stride == 0 maps to cp + delta."""
    pairs = {}
    for c in range(MAXCP):
        if is_surrogate(c):
            continue
        m = method(chr(c))
        if len(m) == 1 and ord(m) != c:
            pairs[c] = ord(m) - c
    runs = []
    for c in sorted(pairs):
        d = pairs[c]
        if runs:
            first, last, stride, delta = runs[-1]
            if delta == d and stride in (0, c - last) and c - last in (1, 2):
                runs[-1] = (first, c, c - last, delta)
                continue
        runs.append((c, c, 0, d))
    runs = [(f, l, s or 1, d) for f, l, s, d in runs]
    # The C lookup (binary search, then the stride test) must give back
    # exactly the pairs: runs are disjoint and cover no unmapped code point.
    covered = {}
    for f, l, s, d in runs:
        for c in range(f, l + 1, s):
            covered[c] = d
    assert covered == pairs
    for (f1, l1, _, _), (f2, _, _, _) in zip(runs, runs[1:]):
        assert l1 < f2
    return runs


def final_sigma_after(prefix):
    return (prefix + SIGMA).lower()[-1] == '\u03c2'


def is_cased(ch):
    """Cased and not case-ignorable: what makes a following U+03A3 final
    (CPython's handle_capital_sigma), observed through that very rule."""
    return final_sigma_after(ch)


def is_case_ignorable(ch):
    """Case_Ignorable: skipped when looking for the letter before a sigma."""
    return not is_cased(ch) and final_sigma_after('A' + ch)


def rows(items, per_line):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append('    ' + ' '.join(items[i:i + per_line]))
    return '\n'.join(lines)


def emit_ranges(out, name, rs, comment):
    out.append('/* %s */' % comment)
    out.append('static const struct py_range %s[%d] = {' % (name, len(rs)))
    out.append(rows(['{0x%05X, 0x%05X},' % r for r in rs], 5))
    out.append('};\n')


def emit_runs(out, name, runs, comment):
    out.append('/* %s */' % comment)
    out.append('static const struct py_case_run %s[%d] = {' % (name, len(runs)))
    out.append(rows(['{0x%05X, 0x%05X, %d, %d},' % r for r in runs], 4))
    out.append('};\n')


def generate():
    zeros = [c for c in range(MAXCP) if not is_surrogate(c) and unicodedata.decimal(chr(c), -1) == 0]
    for z in zeros:  # Nd comes in runs of ten (Unicode stability policy)
        assert all(unicodedata.decimal(chr(z + i), -1) == i for i in range(10))
    for c in range(MAXCP):  # so str.isdecimal() needs no table of its own
        if not is_surrogate(c):
            assert chr(c).isdecimal() == (unicodedata.decimal(chr(c), -1) >= 0), hex(c)
    assert sum(1 for c in range(MAXCP) if not is_surrogate(c) and unicodedata.decimal(chr(c), -1) >= 0) == 10 * len(zeros)
    multi_lower = [c for c in range(MAXCP) if not is_surrogate(c) and len(chr(c).lower()) != 1]
    assert multi_lower == [0x130], multi_lower  # "i" + U+0307, written by hand in pystr.c
    multi_upper = [(c, chr(c).upper()) for c in range(MAXCP) if not is_surrogate(c) and len(chr(c).upper()) != 1]
    assert all(len(u) <= 3 for _, u in multi_upper)

    out = []
    out.append('/*\n'
               ' * pyunicode_tables.h — GENERATED by scripts/gen_pyunicode.py from Python %s\n'
               ' * (Unicode %s); do not edit. Internal to the pycompat module (never\n'
               ' * installed), included only by src/pycompat/pystr.c. Regenerate with\n'
               ' * /usr/bin/python3 scripts/gen_pyunicode.py; the pycompat/pyunicode_tables\n'
               ' * test checks that it is current.\n'
               ' */' % (sys.version.split()[0], unicodedata.unidata_version))
    out.append('#ifndef KEEL_PYCOMPAT_PYUNICODE_TABLES_H\n#define KEEL_PYCOMPAT_PYUNICODE_TABLES_H\n')
    out.append('#include <stdint.h>\n')
    out.append('/* A closed range of code points; tables of them are sorted and disjoint. */')
    out.append('struct py_range {\n    uint32_t first, last;\n};\n')
    out.append('/* A run of one-code-point case mappings: cp in [first, last] with\n'
               ' * (cp - first) % stride == 0 maps to cp + delta. */')
    out.append('struct py_case_run {\n    uint32_t first, last;\n    uint8_t stride;\n    int32_t delta;\n};\n')
    out.append('/* Code points whose unicodedata.decimal() is 0; the next nine are 1..9.\n'
               ' * These are exactly the characters str.isdecimal() accepts. */')
    out.append('static const uint32_t py_decimal_zero[%d] = {' % len(zeros))
    out.append(rows(['0x%05X,' % z for z in zeros], 8))
    out.append('};\n')
    emit_runs(out, 'py_lower', case_runs(str.lower),
              'str.lower() of one code point, where it is one code point. U+0130 (which\n'
              ' * lowers to two) and the final sigma rule for U+03A3 are in pystr.c.')
    emit_runs(out, 'py_upper', case_runs(str.upper),
              'str.upper() of one code point, where it is one code point.')
    out.append('/* str.upper() of the code points it maps to two or three code points. */')
    out.append('static const struct py_upper_multi {\n    uint32_t cp;\n    uint32_t to[3];\n}'
               ' py_upper_multi[%d] = {' % len(multi_upper))
    out.append(rows(['{0x%05X, {%s}},' % (c, ', '.join('0x%05X' % ord(x) for x in (u + '\0\0')[:3]))
                     for c, u in multi_upper], 2))
    out.append('};\n')
    emit_ranges(out, 'py_cased', ranges(is_cased),
                'Cased code points that are not case-ignorable: a U+03A3 after one\n'
                ' * (case-ignorables skipped) lowers to the final sigma.')
    emit_ranges(out, 'py_case_ignorable', ranges(is_case_ignorable),
                'Case-ignorable code points, skipped by the final sigma rule.')
    emit_ranges(out, 'py_nonprintable', ranges(lambda ch: not ch.isprintable(), skip_surrogates=False),
                'Code points str.isprintable() rejects (repr() escapes them), surrogates included.')
    emit_ranges(out, 'py_space', ranges(str.isspace),
                "Code points str.isspace() accepts: what strip() removes, re's \\s in a str pattern.")
    emit_ranges(out, 'py_alnum', ranges(str.isalnum),
                "Code points str.isalnum() accepts (with \"_\", re's \\w in a str pattern).")
    emit_ranges(out, 'py_xid_start', ranges(str.isidentifier),
                'Code points that may start an identifier (str.isidentifier()).')
    emit_ranges(out, 'py_xid_continue', ranges(lambda ch: ('a' + ch).isidentifier()),
                'Code points that may continue an identifier.')
    out.append('#endif')
    return '\n'.join(out) + '\n'


def main(argv):
    args = argv[1:]
    check = bool(args) and args[0] == '--check'
    if check:
        args = args[1:]
    if len(args) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    path = args[0] if args else HEADER
    text = generate()
    if check:
        with open(path, encoding='utf-8') as f:
            same = f.read() == text
        print('%s is %s' % (path, 'current' if same else 'stale; regenerate it with scripts/gen_pyunicode.py'))
        return 0 if same else 1
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
