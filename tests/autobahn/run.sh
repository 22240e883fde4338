#!/usr/bin/env bash
# Autobahn|Testsuite's fuzzingclient (RFC 6455 conformance) against a WebSocket echo URL.
#
#   tests/autobahn/run.sh ws://127.0.0.1:PORT/echo [CASES_JSON_LIST]   run the cases, print the verdict
#   tests/autobahn/run.sh --check      say whether it is installed (exit 0) or why not
#   tests/autobahn/run.sh --install    install its packages (tests/autobahn/requirements.txt)
#
# Autobahn|Testsuite runs on Python 2.7 only: PY2 (default ~/.pyenv/versions/2.7.18/bin/python).
# Its packages go to AUTOBAHN_LIB (default: autobahn/py2lib in cargo's target directory), reports to
# the folder beside it. Exit codes keep "not installed" apart from "not clean":
#   0 clean (FAILED=0 UNCLEAN=0)   1 not clean   2 usage   3 Python 2.7 missing
#   4 Python 2.7 present, packages not installed   5 the run produced no report (see its log)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PY2:-$HOME/.pyenv/versions/2.7.18/bin/python}
if [ -z "${AUTOBAHN_LIB:-}" ]; then
    target_dir=${CARGO_TARGET_DIR:-$(cd "$here/../.." && cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}
    AUTOBAHN_LIB=$target_dir/autobahn/py2lib
fi
lib=$AUTOBAHN_LIB
stamp=$lib/.installed-requirements.txt

need_python() {
    [ -x "$py" ] && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' 2>/dev/null || {
        echo "not installed: no Python 2.7 at $py (Autobahn|Testsuite needs it: \`pyenv install 2.7.18\`, or set PY2)"
        exit 3
    }
}
need_packages() {
    cmp -s "$here/requirements.txt" "$stamp" || {
        echo "not installed: its packages are not in $lib (tests/autobahn/run.sh --install)"
        exit 4
    }
}

case "${1:-}" in
    --check)
        need_python; need_packages
        echo "Python $("$py" -c 'import platform; print(platform.python_version())'), packages in $lib"
        exit 0 ;;
    --install)
        need_python
        rm -rf "$lib" && mkdir -p "$lib"
        "$py" -m pip install --disable-pip-version-check -q --target "$lib" -r "$here/requirements.txt"
        cp "$here/requirements.txt" "$stamp"
        exit 0 ;;
    ws://* | wss://*) url=$1 ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
cases=${2:-'["1.*","2.*","3.*","4.*","5.*","6.*","7.*","9.*","10.*"]'}
need_python; need_packages

work=$(dirname "$lib")
rm -rf "$work/reports" && mkdir -p "$work/reports"
cat >"$work/spec.json" <<JSON
{"outdir": "$work/reports", "servers": [{"agent": "longconn", "url": "$url"}],
 "cases": $cases, "exclude-cases": [], "exclude-agent-cases": {}}
JSON
# The packages live in a folder of their own: a site dir, so their .pth files (zope's namespace)
# are read, which PYTHONPATH would not do.
(cd "$work" && timeout 900 env AUTOBAHN_LIB="$lib" "$py" -c \
    'import os, site; site.addsitedir(os.environ["AUTOBAHN_LIB"]); from autobahntestsuite import wstest; wstest.run()' \
    -m fuzzingclient -s spec.json \
    >"$work/wstest.log" 2>&1) || true
index=$work/reports/index.json
[ -f "$index" ] || { echo "autobahn: the run produced no report (see $work/wstest.log)"; exit 5; }

# index.json: {agent: {case: {"behavior": OK|NON-STRICT|INFORMATIONAL|FAILED|UNIMPLEMENTED,
# "behaviorClose": OK|INFORMATIONAL|UNCLEAN|...}}}. Python 2.7 reads it, so no python3 is needed.
"$py" - "$index" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
counts = collections.Counter()
bad = []
for agent, cases in report.items():
    for case, result in cases.items():
        counts[result["behavior"]] += 1
        if result["behaviorClose"] == "UNCLEAN":
            counts["UNCLEAN"] += 1
        if result["behavior"] == "FAILED" or result["behaviorClose"] == "UNCLEAN":
            bad.append(case)
bad.sort(key=lambda case: [int(part) for part in case.split(".")])
keys = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNCLEAN", "UNIMPLEMENTED"]
print("autobahn: " + " ".join("%s=%d" % (key, counts[key]) for key in keys))
if bad:
    print("autobahn: not clean, cases " + " ".join(bad[:30]) + (" ..." if len(bad) > 30 else ""))
    sys.exit(1)
print("autobahn: clean (%d cases; report in %s)" % (sum(counts[k] for k in keys[:4] + keys[5:]),
                                                     sys.argv[1].replace("index.json", "index.html")))
PY
