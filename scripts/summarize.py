#!/usr/bin/python3
"""Prints what `make check` must end with: the SUMMARY lines the tests wrote
(case counts of the differential and interop suites), then one line
"N passed, N failed, N skipped" over every test of every build tree given.
Reads meson's meson-logs/testlog.json; exits 1 if anything failed."""
import json
import os
import sys

passed = failed = skipped = 0
failures = []
summaries = []
trees = sys.argv[1:]
if len(trees) >= 2 and trees[0] == '--broken':
    # a tree that did not build counts as one failure
    for tree in trees[1].split():
        failed += 1
        failures.append('%s: build' % tree)
    trees = trees[2:]
for tree in trees:
    path = os.path.join(tree, 'meson-logs', 'testlog.json')
    if not os.path.exists(path):
        continue
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            res = rec.get('result')
            name = '%s: %s' % (tree, rec.get('name'))
            if res in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif res == 'SKIP':
                skipped += 1
            else:
                failed += 1
                failures.append('%s (%s)' % (name, res))
            for out in (rec.get('stdout') or '').splitlines():
                if out.startswith('SUMMARY: '):
                    summaries.append('%s: %s' % (tree, out[len('SUMMARY: '):]))
for s in summaries:
    print(s)
for f in failures:
    print('FAILED', f)
print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
sys.exit(1 if failed else 0)
