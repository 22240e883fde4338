#!/usr/bin/env python3
"""Instructions and allocations per unit of work in a callgrind dump, by function.

    bench/callgrind_costs.py DUMP COUNT UNIT TOP [--inclusive]

COUNT units of work (deliveries, requests) were done while the dump's counts ran. Prints, as
markdown tables: instructions per UNIT (every thread), malloc + realloc + calloc calls per UNIT,
and the TOP functions by self cost (with --inclusive, also by inclusive cost), per UNIT. Used by
bench/fanout_callgrind.sh and bench/poll_callgrind.sh.
"""
import re
import sys

path, count, unit, top = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
inclusive = "--inclusive" in sys.argv[5:]
names, self_ir, incl_ir, total, mallocs = {}, {}, {}, 0, 0
fn = cfn = None
def name(kind, text):
    m = re.match(r"\((\d+)\)(?: (.*))?", text)
    if not m:
        return text
    key = (kind, m.group(1))
    if m.group(2) is not None:
        names[key] = m.group(2)
    return names.get(key, text)
pending_call = False
for line in open(path, errors="replace"):
    line = line.rstrip("\n")
    if line.startswith("fn="):
        fn, pending_call = name("fn", line[3:]), False
    elif line.startswith("cfn="):
        cfn = name("fn", line[4:])
    elif line.startswith(("fl=", "fi=", "fe=", "cfi=", "cfl=", "ob=", "cob=")):
        kind = line.split("=", 1)[0].lstrip("c")
        kind = {"fi": "fl", "fe": "fl"}.get(kind, kind)
        name(kind, line.split("=", 1)[1])
    elif line.startswith("calls="):
        pending_call = True
        if cfn in ("malloc", "realloc", "calloc"):
            mallocs += int(line[6:].split()[0])
    elif line and (line[0].isdigit() or line[0] in "+-*"):
        parts = line.split()
        ir = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if pending_call:
            # The inclusive cost of a call: not this function's own (a recursive call aside).
            pending_call = False
            if cfn != fn:
                incl_ir[fn] = incl_ir.get(fn, 0) + ir
            continue
        self_ir[fn] = self_ir.get(fn, 0) + ir
        incl_ir[fn] = incl_ir.get(fn, 0) + ir
        total += ir
short = lambda f: re.sub(r"::h[0-9a-f]{16}$", "", f)[:110]
print(f"| {unit} count | {count:,} |")
print(f"| instructions per {unit} | {total / count:,.0f} |")
print(f"| malloc + realloc + calloc calls per {unit} | {mallocs / count:.2f} |")
print()
print(f"| function (self) | instructions per {unit} | share |")
print("|---|---:|---:|")
for f, ir in sorted(self_ir.items(), key=lambda kv: -kv[1])[:top]:
    print(f"| `{short(f)}` | {ir / count:,.0f} | {100 * ir / total:.1f}% |")
if inclusive:
    print()
    print(f"| function (inclusive) | instructions per {unit} |")
    print("|---|---:|")
    for f, ir in sorted(incl_ir.items(), key=lambda kv: -kv[1])[:top]:
        print(f"| `{short(f)}` | {ir / count:,.0f} |")
