"""``make coverage``: merge Verilator code coverage and pyuvm functional coverage of every
simulation under build/sim into one report under build/coverage/.

- ``index.html`` — per-module table (line, branch, toggle, functional bins) + links;
- ``code/index.html`` — genhtml's annotated sources (line coverage);
- ``summary.txt`` — the same table as text, one line per module; ``coverage.json`` — the data.

Line coverage counts all of Verilator's statement-block points (``v_line``: straight-line
blocks, and ``v_branch``: the block of each if/else/case arm), branch coverage the arm points
alone, toggle coverage every bit of every signal rising and falling; a point counts as covered
when any run hit it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from verif.tools import BUILD, ROOT

OUT = BUILD / "coverage"
_FIELD = re.compile("\x01([^\x02]+)\x02([^\x01]*)")
KINDS = ("line", "branch", "toggle")


def parse_dat(path: Path, points: dict[tuple, int]) -> None:
    """Add the points of one coverage.dat into ``points`` (key -> max hit count)."""
    for raw in path.read_text(errors="replace").splitlines():
        if not raw.startswith("C '"):
            continue
        body, _, count = raw[3:].rpartition("' ")
        f = dict(_FIELD.findall(body))
        kind = f.get("page", "").split("/")[0].removeprefix("v_")
        if kind not in KINDS:
            continue
        key = (f.get("f", "?"), int(f.get("l", 0)), f.get("n", ""), kind, f.get("o", ""),
               f.get("h", ""))
        points[key] = max(points.get(key, 0), int(count))


def code_coverage(dats: list[Path]) -> tuple[dict[str, dict[str, list[int]]], dict[tuple, int]]:
    points: dict[tuple, int] = {}
    for d in dats:
        parse_dat(d, points)
    per_file: dict[str, dict[str, list[int]]] = defaultdict(lambda: {k: [0, 0] for k in KINDS})
    for (fname, _line, _col, kind, _o, _h), n in points.items():
        stats = per_file[Path(fname).stem]
        for k in ("line", kind) if kind == "branch" else (kind,):
            stats[k][0] += n > 0
            stats[k][1] += 1
    return dict(per_file), points


def write_lcov(points: dict[tuple, int], path: Path) -> None:
    """lcov tracefile of line and branch points: a line is hit only if all its points are."""
    lines: dict[str, dict[int, int]] = defaultdict(dict)
    for (fname, line, _col, kind, _o, _h), n in points.items():
        if kind in ("line", "branch"):
            prev = lines[fname].get(line)
            lines[fname][line] = n if prev is None else min(prev, n)
    with path.open("w") as f:
        for fname, hits in sorted(lines.items()):
            f.write(f"TN:spatten\nSF:{fname}\n")
            for line, n in sorted(hits.items()):
                f.write(f"DA:{line},{n}\n")
            f.write(f"LF:{len(hits)}\nLH:{sum(1 for n in hits.values() if n)}\nend_of_record\n")


def functional_coverage(files: list[Path]) -> dict[str, dict[str, int]]:
    """module -> bin -> hits, summed over every exported subscriber of every run."""
    merged: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in files:
        data = json.loads(p.read_text())
        comp = data["component"].split(".")[-1]
        for name, n in data["bins"].items():
            merged[data["module"]][f"{comp}.{name}"] += n
    return {m: dict(b) for m, b in merged.items()}


def pct(stat: list[int]) -> str:
    hit, total = stat
    return f"{100.0 * hit / total:6.1f}% ({hit}/{total})" if total else "     n/a"


def main() -> int:
    dats = sorted(BUILD.glob("sim/*/verilator/*/coverage-*.dat"))
    fcov_files = sorted(BUILD.glob("sim/*/*/*/fcov/*.json"))
    if not dats:
        print("coverage: no Verilator coverage data under build/sim; run `make test` first",
              file=sys.stderr)
        return 1
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    code, points = code_coverage(dats)
    func = functional_coverage(fcov_files)
    info = OUT / "line.info"
    write_lcov(points, info)
    genhtml = shutil.which("genhtml")
    if genhtml:
        subprocess.run([genhtml, "-q", "-o", str(OUT / "code"), "--title", "SpAtten RTL",
                        str(info)], check=True)
    modules = sorted(set(code) | set(func))
    rows = []
    for m in modules:
        c = code.get(m, {k: [0, 0] for k in KINDS})
        bins = func.get(m, {})
        fstat = [sum(1 for n in bins.values() if n), len(bins)]
        rows.append((m, *(c[k] for k in KINDS), fstat))
    header = f"{'module':<24}{'line':>22}{'branch':>22}{'toggle':>22}{'functional bins':>22}"
    text = [header] + [f"{r[0]:<24}" + "".join(f"{pct(s):>22}" for s in r[1:]) for r in rows]
    (OUT / "summary.txt").write_text("\n".join(text) + "\n")
    (OUT / "coverage.json").write_text(json.dumps(
        {"code": code, "functional": func, "runs": len(dats), "functional_exports": len(fcov_files)},
        indent=1))
    write_index(rows, func, len(dats), len(fcov_files), bool(genhtml))
    print("\n".join(text))
    print(f"coverage: {len(dats)} Verilator runs, {len(fcov_files)} functional exports merged")
    print(f"coverage: report {OUT / 'index.html'} ; text {OUT / 'summary.txt'}")
    return 0


def write_index(rows: list[tuple], func: dict[str, dict[str, int]], runs: int, exports: int,
                has_code_html: bool) -> None:
    cells = "".join(
        f"<tr><td>{html.escape(r[0])}</td>" + "".join(f"<td>{pct(s)}</td>" for s in r[1:]) + "</tr>"
        for r in rows)
    bins = "".join(
        f"<h3>{html.escape(m)}</h3><table><tr><th>bin</th><th>hits</th></tr>"
        + "".join(f"<tr class='{'miss' if n == 0 else ''}'><td>{html.escape(b)}</td><td>{n}</td></tr>"
                  for b, n in sorted(bins.items()))
        + "</table>" for m, bins in sorted(func.items()))
    link = "<p><a href='code/index.html'>Annotated sources (line coverage)</a></p>" if has_code_html else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>SpAtten coverage</title>
<style>body{{font-family:sans-serif}} td,th{{padding:2px 10px;text-align:right}}
td:first-child{{text-align:left}} .miss{{color:#b00}}</style></head><body>
<h1>SpAtten coverage</h1><p>Merged over {runs} Verilator runs (code) and {exports} pyuvm
coverage exports (functional, both simulators). Source: {html.escape(str(ROOT))}</p>{link}
<table><tr><th>module</th><th>line</th><th>branch</th><th>toggle</th><th>functional bins</th></tr>
{cells}</table><h2>Functional coverage bins</h2>{bins}</body></html>"""
    (OUT / "index.html").write_text(page)


if __name__ == "__main__":
    sys.exit(main())
