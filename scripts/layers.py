#!/usr/bin/env python3
# Copyright (c) 2026 The chatdesk authors
#
# Permission to use, copy, modify, and distribute this software for any
# purpose with or without fee is hereby granted, provided that the above
# copyright notice and this permission notice appear in all copies.
#
# THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
# WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
# MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
# ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
# WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
# ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
# OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

"""chatdesk: checks the layering of src/ as DESIGN.md describes it.

usage: scripts/layers.py [BUILDDIR]     (default: build)

From `nm` of each object file in BUILDDIR/src, the graph of calls between
files (a file uses another when it needs a symbol the other defines);
from the sources, their #includes. Fails (exit 1), naming what is wrong, if
  - files call each other in a circle;
  - a file outside cache*, queue*, rconn* includes hiredis;
  - cache*, queue* or auth* include app.h;
  - a file outside db.c includes sqlite3.h or calls a sqlite3_ function
    (rows come through db.h's typed loaders);
  - chatdesk-worker or chatdeskctl contains an api_ symbol.
"""
import os
import re
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build")
src = os.path.join(root, "src")
problems = []


def nm(path, *flags):
    out = subprocess.run(["nm", *flags, path], capture_output=True,
                         text=True, check=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


# --- calls between files --------------------------------------------------
defined, needs = {}, {}
for f in sorted(os.listdir(os.path.join(build, "src"))):
    if not f.endswith(".o"):
        continue
    name = re.sub(r"^lib\w+_a-", "", f[:-2])
    d, u = set(), set()
    for parts in nm(os.path.join(build, "src", f)):
        if len(parts) == 2 and parts[0] == "U":
            u.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRC":
            d.add(parts[2])
    defined[name], needs[name] = d, u
owner = {}
for name, syms in defined.items():
    for s in syms:
        owner.setdefault(s, name)
graph = {n: sorted({owner[s] for s in needs[n] if s in owner} - {n})
         for n in defined}

# Tarjan's strongly connected components: a component of two or more
# files is a circle.
index, low, stack, on, comps = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        comps.append(comp)


sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index:
        visit(v)
for comp in comps:
    if len(comp) > 1:
        problems.append("files call each other in a circle: " +
                        ", ".join(sorted(comp)))

for name in sorted(needs):
    calls = sorted(s for s in needs[name] if s.startswith("sqlite3_"))
    if calls and name != "db":
        problems.append("%s calls %s (SQLite only in db.c)" %
                        (name, ", ".join(calls[:3])))

# --- includes ---------------------------------------------------------------
inc = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
for f in sorted(os.listdir(src)):
    if not f.endswith((".c", ".h")):
        continue
    with open(os.path.join(src, f)) as fh:
        heads = inc.findall(fh.read())
    base = f.rsplit(".", 1)[0]
    if any(h.startswith("hiredis/") for h in heads) and \
            not re.match(r"(cache|queue|rconn)", base):
        problems.append("%s includes hiredis" % f)
    if "app.h" in heads and re.match(r"(cache|queue|auth)", base):
        problems.append("%s includes app.h" % f)
    if "sqlite3.h" in heads and f != "db.c":
        problems.append("%s includes sqlite3.h" % f)

# --- programs ---------------------------------------------------------------
for prog in ("chatdesk-worker", "chatdeskctl"):
    path = os.path.join(build, prog)
    if not os.path.exists(path):
        problems.append("%s is not built in %s" % (prog, build))
        continue
    api = [p[-1] for p in nm(path) if p[-1].startswith("api_")]
    if api:
        problems.append("%s links %d api_ symbol(s), e.g. %s" %
                        (prog, len(api), api[0]))

for p in problems:
    print("layers: " + p)
if problems:
    sys.exit(1)
print("layers: ok (%d files, no circle)" % len(graph))
