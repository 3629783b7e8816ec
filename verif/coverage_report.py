"""``make coverage``: merge Verilator code coverage and pyuvm functional coverage of every
simulation under build/sim into one report under build/coverage/.

- ``index.html`` — per-module table (line, branch, toggle, functional bins) + links;
- ``code/index.html`` — genhtml's annotated sources (line coverage);
- ``summary.txt`` — the same table as text, one line per module; ``coverage.json`` — the data.

Line coverage counts all of Verilator's statement-block points (``v_line``: straight-line
blocks, and ``v_branch``: the block of each if/else/case arm), branch coverage the arm points
alone, toggle coverage every bit of every signal rising and falling; a point counts as covered
when any run hit it.

The gate (issue 15): exit status 1 when any RTL block (a file of rtl/ with line points) is
below :data:`LINE_MIN` % line coverage or any functional bin was never hit. Points and bins that
are not required are listed, each with its reason, in :data:`WAIVERS`
(verif/coverage_waivers.txt); a malformed or stale waiver is an error (status 2). Runs of
mutated RTL (``tests/test_mutations.py``, build folders ``mut-*``) are not counted.

    python -m verif.coverage_report [--build DIR] [--waivers FILE] [--out DIR]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from verif.tools import BUILD, ROOT, RTL

OUT = BUILD / "coverage"
_FIELD = re.compile("\x01([^\x02]+)\x02([^\x01]*)")
KINDS = ("line", "branch", "toggle")
LINE_MIN = 95.0  # % line coverage every RTL block must reach
WAIVERS = ROOT / "verif" / "coverage_waivers.txt"
MUTANT_PREFIX = "mut-"  # build folders of tests/test_mutations.py (mutated RTL copies)


class WaiverError(ValueError):
    """A malformed or stale entry of the waiver file (one line naming it)."""


@dataclass(frozen=True)
class Waiver:
    """One point ``make coverage`` does not require: an RTL line (``target`` = file of rtl/,
    ``item`` = the line's exact source text) or a functional bin (``target`` = module,
    ``item`` = component.bin), with the reason it cannot or need not be hit."""

    kind: str
    target: str
    item: str
    reason: str
    where: str  # file:line of the waiver, for messages


_WAIVER = re.compile(r'^(line|bin)\s+(\S+)\s+(?:"(.*)"|(\S+))\s+--\s+(\S.*)$')


def load_waivers(path: Path) -> list[Waiver]:
    """Parse the waiver file: ``line <file> "<source text>" -- <reason>`` or
    ``bin <module> <component.bin> -- <reason>``; ``#`` comments and blank lines ignored."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise WaiverError(f"cannot read waiver file {path}: {err}") from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _WAIVER.match(line)
        if not m:
            raise WaiverError(f"{path}:{n}: expected 'line <file> \"<source text>\" -- <reason>' "
                              f"or 'bin <module> <component.bin> -- <reason>'")
        kind, target, quoted, bare, reason = m.groups()
        out.append(Waiver(kind, target, quoted if quoted is not None else bare, reason.strip(),
                          f"{path}:{n}"))
    return out


def waived_lines(waivers: list[Waiver], rtl_dir: Path) -> set[tuple[str, int]]:
    """(file name, line number) of every line waiver; its source text must occur on exactly one
    line of the file, so a waiver cannot silently move to another line when the RTL changes."""
    out = set()
    for w in waivers:
        if w.kind != "line":
            continue
        src = rtl_dir / w.target
        if not src.is_file():
            raise WaiverError(f"{w.where}: no file {src}")
        hits = [i for i, text in enumerate(src.read_text().splitlines(), 1) if w.item in text]
        if len(hits) != 1:
            raise WaiverError(f"{w.where}: source text {w.item!r} found on {len(hits)} lines of "
                              f"{w.target}, expected exactly 1")
        out.add((w.target, hits[0]))
    return out


def parse_dat(path: Path, points: dict[tuple, int]) -> None:
    """Add the points of one coverage.dat into ``points`` (key -> max hit count). A point is
    a place in the source (file, line, column, kind, name), merged over every instance of its
    module (Verilator's ``h``, the instance path, is dropped): a block's line is covered when
    any instance in any run executed it."""
    for raw in path.read_text(errors="replace").splitlines():
        if not raw.startswith("C '"):
            continue
        body, _, count = raw[3:].rpartition("' ")
        f = dict(_FIELD.findall(body))
        kind = f.get("page", "").split("/")[0].removeprefix("v_")
        if kind not in KINDS:
            continue
        key = (f.get("f", "?"), int(f.get("l", 0)), f.get("n", ""), kind, f.get("o", ""))
        points[key] = max(points.get(key, 0), int(count))


def code_coverage(dats: list[Path], waived: set[tuple[str, int]] = frozenset(),
                  rtl_dir: Path = RTL) -> tuple[dict[str, dict[str, list[int]]], dict[tuple, int]]:
    """Per-file [hit, total] of each kind; the line and branch points of a waived rtl/ line
    are left out (they show in ``waived``)."""
    points: dict[tuple, int] = {}
    for d in dats:
        parse_dat(d, points)
    per_file: dict[str, dict[str, list[int]]] = defaultdict(
        lambda: {**{k: [0, 0] for k in KINDS}, "waived": [0, 0]})
    for (fname, line, _col, kind, _o), n in points.items():
        stats = per_file[Path(fname).stem]
        if kind != "toggle" and is_rtl(fname, rtl_dir) and (Path(fname).name, line) in waived:
            stats["waived"][0] += n > 0
            stats["waived"][1] += 1
            continue
        for k in ("line", kind) if kind == "branch" else (kind,):
            stats[k][0] += n > 0
            stats[k][1] += 1
    return dict(per_file), points


def is_rtl(fname: str, rtl_dir: Path = RTL) -> bool:
    """A point of an RTL block (a file of rtl/; not a testbench wrapper of tb/)."""
    return Path(fname).resolve().parent == rtl_dir.resolve()


def write_lcov(points: dict[tuple, int], path: Path) -> None:
    """lcov tracefile of line and branch points: a line is hit only if all its points are."""
    lines: dict[str, dict[int, int]] = defaultdict(dict)
    for (fname, line, _col, kind, _o), n in points.items():
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


def gate(code: dict[str, dict[str, list[int]]], rtl_blocks: set[str],
         func: dict[str, dict[str, int]], waivers: list[Waiver]) -> list[str]:
    """Every reason ``make coverage`` fails: an RTL block below LINE_MIN % line coverage, a
    functional bin never hit (unless waived), a bin waiver naming no bin."""
    fails = []
    for m in sorted(rtl_blocks):
        hit, total = code[m]["line"]
        if total and 100.0 * hit < LINE_MIN * total:
            fails.append(f"{m}: line coverage {100.0 * hit / total:.1f}% ({hit}/{total}) "
                         f"< {LINE_MIN:g}%")
    waived_bins = {(w.target, w.item) for w in waivers if w.kind == "bin"}
    for w in waivers:
        if w.kind == "bin" and w.item not in func.get(w.target, {}):
            fails.append(f"{w.where}: waived bin {w.target} {w.item} does not exist")
    for m, bins in sorted(func.items()):
        missed = [b for b, n in sorted(bins.items()) if not n and (m, b) not in waived_bins]
        if missed:
            fails.append(f"{m}: functional bins never hit: {', '.join(missed)}")
    return fails


def pct(stat: list[int]) -> str:
    hit, total = stat
    return f"{100.0 * hit / total:6.1f}% ({hit}/{total})" if total else "     n/a"


def not_mutant(paths: list[Path], variant_depth: int) -> list[Path]:
    """Drop files of mutated-RTL runs (their build folder, ``variant_depth`` levels up)."""
    return [p for p in paths if not p.parents[variant_depth].name.startswith(MUTANT_PREFIX)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make coverage", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, default=BUILD, help="folder holding sim/ (default build/)")
    ap.add_argument("--waivers", type=Path, default=WAIVERS, help="waiver file")
    ap.add_argument("--out", type=Path, default=None, help="report folder (default <build>/coverage)")
    ap.add_argument("--rtl", type=Path, default=RTL, help=argparse.SUPPRESS)  # tests only
    args = ap.parse_args(argv)
    try:
        waivers = load_waivers(args.waivers)
        waived = waived_lines(waivers, args.rtl)
    except WaiverError as err:
        print(f"coverage: error: {err}", file=sys.stderr)
        return 2
    return report(args.build, args.out or args.build / "coverage", waivers, waived, args.rtl)


def report(build: Path, out: Path, waivers: list[Waiver], waived: set[tuple[str, int]],
           rtl_dir: Path) -> int:
    dats = not_mutant(sorted(build.glob("sim/*/verilator/*/coverage-*.dat")), 0)
    fcov_files = not_mutant(sorted(build.glob("sim/*/*/*/fcov/*.json")), 1)
    if not dats:
        print(f"coverage: no Verilator coverage data under {build / 'sim'}; run `make test` first",
              file=sys.stderr)
        return 1
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    code, points = code_coverage(dats, waived, rtl_dir)
    rtl_blocks = {Path(k[0]).stem for k in points if is_rtl(k[0], rtl_dir)}
    func = functional_coverage(fcov_files)
    info = out / "line.info"
    write_lcov(points, info)
    genhtml = shutil.which("genhtml")
    if genhtml:
        subprocess.run([genhtml, "-q", "-o", str(out / "code"), "--title", "SpAtten RTL",
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
    fails = gate(code, rtl_blocks, func, waivers)
    verdict = [f"coverage: FAIL: {f}" for f in fails] or [
        f"coverage: PASS: every RTL block >= {LINE_MIN:g}% line coverage, every functional bin hit "
        f"(waivers: {len(waivers)}, verif/coverage_waivers.txt)"]
    (out / "summary.txt").write_text("\n".join(text + verdict) + "\n")
    (out / "coverage.json").write_text(json.dumps(
        {"code": code, "functional": func, "runs": len(dats), "functional_exports": len(fcov_files),
         "line_min": LINE_MIN, "rtl_blocks": sorted(rtl_blocks), "fails": fails}, indent=1))
    write_index(out, rows, func, len(dats), len(fcov_files), bool(genhtml), verdict)
    print("\n".join(text))
    print(f"coverage: {len(dats)} Verilator runs, {len(fcov_files)} functional exports merged")
    print(f"coverage: report {out / 'index.html'} ; text {out / 'summary.txt'}")
    print("\n".join(verdict))
    return 1 if fails else 0


def write_index(out: Path, rows: list[tuple], func: dict[str, dict[str, int]], runs: int,
                exports: int, has_code_html: bool, verdict: list[str]) -> None:
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
coverage exports (functional, both simulators). Source: {html.escape(str(ROOT))}</p>
<p>{"<br>".join(html.escape(v) for v in verdict)}</p>{link}
<table><tr><th>module</th><th>line</th><th>branch</th><th>toggle</th><th>functional bins</th></tr>
{cells}</table><h2>Functional coverage bins</h2>{bins}</body></html>"""
    (out / "index.html").write_text(page)


if __name__ == "__main__":
    sys.exit(main())
