"""Build the caller dev set: write every business's documents and ``questions.json``.

Run from the repository root::

    .venv/bin/python benchmarks/callers/build.py          # write docs/ and questions.json
    .venv/bin/python benchmarks/callers/build.py --check  # only print the counts

The documents are authored once, in a small markdown-like notation inside the per-business
modules (``vet.py``, ``garage.py``, ``yoga.py``), and rendered here to the format each file
is uploaded as: txt, md, html (with ``<nav>``, ``<footer>`` and a misleading ``<script>``),
docx (python-docx, with tables) and pdf (reportlab, with running headers and footers on
every page). Output is deterministic: fixed PDF metadata, fixed DOCX dates and ZIP times,
so rebuilding gives byte-identical files.

Notation of a document body: ``# `` title, ``## ``/``### `` headings, ``- `` bullets,
``| a | b |`` table rows (first row is the header), a blank line between paragraphs, and
a line ``---page---`` for a page break (PDF only; ignored elsewhere).

The tune/test split is a pure function of the question list: within each
(business, style) stratum the questions are shuffled with a fixed seed, stably sorted by
document, and dealt alternately to ``tune`` and ``test`` starting from a seeded random side.
"""

from __future__ import annotations

import html
import io
import json
import random
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOCS_DIR = HERE / "docs"
QUESTIONS = HERE / "questions.json"
SPLIT_SEED = 20261130
PAGE_BREAK = "---page---"

sys.path.insert(0, str(HERE))


@dataclass
class Doc:
    filename: str
    body: str
    # html: nav link labels, footer text, the misleading script's source.
    nav: list[str] = field(default_factory=list)
    footer: str = ""
    script: str = ""
    # pdf: running header and footer (footer gets " | Page N of M").
    header: str = ""


@dataclass
class Business:
    slug: str
    name: str
    docs: list[Doc]
    # (doc filename, style "k"/"p", tags, question, answers)
    questions: list[tuple[str, str, list[str], str, list[str]]]


# ---------------------------------------------------------------- parsing the notation


Block = tuple[str, Any]  # ("h1"|"h2"|"h3"|"p"|"ul"|"table"|"page", payload)


def parse(body: str) -> list[Block]:
    blocks: list[Block] = []
    para: list[str] = []
    bullets: list[str] = []
    rows: list[list[str]] = []

    def flush() -> None:
        if para:
            blocks.append(("p", " ".join(para)))
            para.clear()
        if bullets:
            blocks.append(("ul", list(bullets)))
            bullets.clear()
        if rows:
            blocks.append(("table", [list(r) for r in rows]))
            rows.clear()

    for raw in body.strip("\n").splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line == PAGE_BREAK:
            flush()
            blocks.append(("page", None))
        elif line.startswith("### "):
            flush()
            blocks.append(("h3", line[4:]))
        elif line.startswith("## "):
            flush()
            blocks.append(("h2", line[3:]))
        elif line.startswith("# "):
            flush()
            blocks.append(("h1", line[2:]))
        elif line.startswith("- "):
            if para or rows:
                flush()
            bullets.append(line[2:])
        elif line.startswith("|"):
            if para or bullets:
                flush()
            rows.append([c.strip() for c in line.strip("|").split("|")])
        else:
            if bullets or rows:
                flush()
            para.append(line)
    flush()
    return blocks


# ---------------------------------------------------------------- renderers


def render_txt(doc: Doc) -> bytes:
    out: list[str] = []
    for kind, payload in parse(doc.body):
        if kind == "h1":
            out += [payload.upper(), "=" * len(payload), ""]
        elif kind in ("h2", "h3"):
            out += [payload, "-" * len(payload), ""]
        elif kind == "p":
            out += [payload, ""]
        elif kind == "ul":
            out += [f"* {item}" for item in payload] + [""]
        elif kind == "table":
            out += ["    ".join(row) for row in payload] + [""]
    return ("\n".join(out).rstrip() + "\n").encode()


def render_md(doc: Doc) -> bytes:
    out: list[str] = []
    for kind, payload in parse(doc.body):
        if kind in ("h1", "h2", "h3"):
            out += ["#" * int(kind[1]) + " " + payload, ""]
        elif kind == "p":
            out += [payload, ""]
        elif kind == "ul":
            out += [f"- {item}" for item in payload] + [""]
        elif kind == "table":
            out.append("| " + " | ".join(payload[0]) + " |")
            out.append("|" + "|".join("---" for _ in payload[0]) + "|")
            out += ["| " + " | ".join(row) + " |" for row in payload[1:]]
            out.append("")
    return ("\n".join(out).rstrip() + "\n").encode()


def render_html(doc: Doc, business: Business) -> bytes:
    e = html.escape
    title = next((p for k, p in parse(doc.body) if k == "h1"), business.name)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(title)} | {e(business.name)}</title>",
        "</head>",
        "<body>",
        '<nav class="site-nav"><ul>',
        *[f'<li><a href="#{e(n.lower().replace(" ", "-"))}">{e(n)}</a></li>' for n in doc.nav],
        "</ul></nav>",
        "<main>",
    ]
    for kind, payload in parse(doc.body):
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{e(payload)}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(payload)}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in payload) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{e(c)}</th>" for c in payload[0])
            body = "".join(
                "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in payload[1:]
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    out.append("</main>")
    if doc.script:
        out += ["<script>", doc.script.strip(), "</script>"]
    out += [f"<footer><p>{e(doc.footer)}</p></footer>", "</body>", "</html>"]
    return ("\n".join(out) + "\n").encode()


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a ZIP with fixed member times so the DOCX is byte-identical on rebuild."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return buf.getvalue()


def render_docx(doc: Doc, business: Business) -> bytes:
    import datetime

    import docx

    document = docx.Document()
    fixed = datetime.datetime(2026, 1, 1, 9, 0, 0)
    props = document.core_properties
    props.author = business.name
    props.created = fixed
    props.modified = fixed
    props.last_printed = fixed
    props.revision = 1
    for kind, payload in parse(doc.body):
        if kind == "h1":
            props.title = payload
            document.add_heading(payload, level=1)
        elif kind in ("h2", "h3"):
            document.add_heading(payload, level=int(kind[1]))
        elif kind == "p":
            document.add_paragraph(payload)
        elif kind == "ul":
            for item in payload:
                document.add_paragraph(item, style="List Bullet")
        elif kind == "table":
            table = document.add_table(rows=len(payload), cols=len(payload[0]))
            table.style = "Table Grid"
            for r, row in enumerate(payload):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
    buf = io.BytesIO()
    document.save(buf)
    return _fixed_zip(buf.getvalue())


def render_pdf(doc: Doc, business: Business) -> bytes:
    from reportlab import rl_config

    rl_config.invariant = 1
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import inch
    from reportlab.platypus import (
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    blocks = parse(doc.body)
    title = next((p for k, p in blocks if k == "h1"), business.name)
    pages = 1 + sum(1 for k, _ in blocks if k == "page")

    def furniture(canvas: Any, template: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(inch, letter[1] - 0.6 * inch, doc.header)
        canvas.drawRightString(
            letter[0] - inch, 0.5 * inch, f"{doc.footer} | Page {canvas.getPageNumber()} of {pages}"
        )
        canvas.restoreState()

    flow: list[Any] = []
    for kind, payload in blocks:
        if kind == "h1":
            flow.append(Paragraph(html.escape(payload), styles["Title"]))
        elif kind == "h2":
            flow.append(Paragraph(html.escape(payload), styles["Heading2"]))
        elif kind == "h3":
            flow.append(Paragraph(html.escape(payload), styles["Heading3"]))
        elif kind == "p":
            flow.append(Paragraph(html.escape(payload), styles["BodyText"]))
        elif kind == "ul":
            for item in payload:
                flow.append(Paragraph("&bull; " + html.escape(item), styles["BodyText"]))
        elif kind == "table":
            table = Table(payload, repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                        ("FONTSIZE", (0, 0), (-1, -1), 9),
                    ]
                )
            )
            flow += [table, Spacer(1, 8)]
        elif kind == "page":
            flow.append(PageBreak())
    buf = io.BytesIO()
    template = SimpleDocTemplate(
        buf, pagesize=letter, title=title, author=business.name, invariant=1,
        topMargin=inch, bottomMargin=inch,
    )
    template.build(flow, onFirstPage=furniture, onLaterPages=furniture)
    return buf.getvalue()


def render(doc: Doc, business: Business) -> bytes:
    ext = doc.filename.rsplit(".", 1)[1]
    if ext == "txt":
        return render_txt(doc)
    if ext == "md":
        return render_md(doc)
    if ext == "html":
        return render_html(doc, business)
    if ext == "docx":
        return render_docx(doc, business)
    if ext == "pdf":
        return render_pdf(doc, business)
    raise ValueError(doc.filename)


# ---------------------------------------------------------------- questions and split


def businesses() -> list[Business]:
    import garage
    import vet
    import yoga

    return [m.BUSINESS for m in (vet, garage, yoga)]


def questions(all_businesses: list[Business]) -> list[dict[str, Any]]:
    prefix = {b.slug: b.slug.split("-")[0] for b in all_businesses}
    rows: list[dict[str, Any]] = []
    for b in all_businesses:
        for n, (filename, style, tags, text, answers) in enumerate(b.questions, start=1):
            rows.append(
                {
                    "id": f"{prefix[b.slug]}-{n:03d}",
                    "business": b.slug,
                    "question": text,
                    "answers": answers,
                    "style": {"k": "keyword", "p": "paraphrase"}[style],
                    "doc": filename,
                    "tags": tags,
                    "split": "",
                }
            )
    rng = random.Random(SPLIT_SEED)
    strata: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        strata.setdefault((row["business"], row["style"]), []).append(row)
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        # Stable sort by document, then deal alternately from a random side: each stratum
        # splits half/half and each document's questions fall on both sides.
        members.sort(key=lambda row: row["doc"])
        first = rng.choice(("tune", "test"))
        second = "test" if first == "tune" else "tune"
        for i, row in enumerate(members):
            row["split"] = first if i % 2 == 0 else second
    return rows


def counts(all_businesses: list[Business], rows: list[dict[str, Any]]) -> str:
    lines = ["Documents per business and format:"]
    for b in all_businesses:
        fmt = Counter(d.filename.rsplit(".", 1)[1] for d in b.docs)
        lines.append(f"  {b.slug}: {len(b.docs)} docs " + ", ".join(f"{k} {fmt[k]}" for k in sorted(fmt)))
    lines.append(f"Questions: {len(rows)}")
    for key in ("business", "style", "split"):
        c = Counter(r[key] for r in rows)
        lines.append(f"  by {key}: " + ", ".join(f"{k} {c[k]}" for k in sorted(c)))
    c = Counter((r["split"], r["style"]) for r in rows)
    lines.append("  by split and style: " + ", ".join(f"{s}/{t} {c[(s, t)]}" for s, t in sorted(c)))
    fmt_q = Counter(r["doc"].rsplit(".", 1)[1] for r in rows)
    lines.append("  by answer document format: " + ", ".join(f"{k} {fmt_q[k]}" for k in sorted(fmt_q)))
    c = Counter((r["business"], r["style"], r["split"]) for r in rows)
    lines.append("  by business, style and split: " + ", ".join(f"{b}/{t}/{s} {c[(b, t, s)]}" for b, t, s in sorted(c)))
    c = Counter((r["doc"].rsplit(".", 1)[1], r["split"]) for r in rows)
    lines.append("  by answer format and split: " + ", ".join(f"{f}/{s} {c[(f, s)]}" for f, s in sorted(c)))
    tags = Counter(t for r in rows for t in r["tags"])
    lines.append("  tagged: " + ", ".join(f"{k} {tags[k]}" for k in sorted(tags)))
    c = Counter((t, r["split"]) for r in rows for t in r["tags"])
    lines.append("  tagged by split: " + ", ".join(f"{t}/{s} {c[(t, s)]}" for t, s in sorted(c)))
    paraphrase = sum(r["style"] == "paraphrase" for r in rows) / max(len(rows), 1)
    lines.append(f"  paraphrase share: {paraphrase:.1%}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    all_businesses = businesses()
    rows = questions(all_businesses)
    if "--check" not in argv:
        size = 0
        for b in all_businesses:
            folder = DOCS_DIR / b.slug
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.iterdir():
                if old.name not in {d.filename for d in b.docs}:
                    old.unlink()
            for d in b.docs:
                data = render(d, b)
                size += len(data)
                (folder / d.filename).write_bytes(data)
        payload = {
            "description": (
                "Caller-style retrieval dev set: spoken questions (lowercase, disfluent, as a "
                "phone transcript reads) to three fictional businesses. A question is a hit when "
                "a retrieved chunk of that business contains one of its answers (whitespace "
                "collapsed). Written independently of the ranking code; see README.md."
            ),
            "documents": "benchmarks/callers/docs/<business>/<doc>",
            "split_rule": (
                f"random.Random({SPLIT_SEED}); strata = (business, style) in sorted order; each "
                "stratum is shuffled, stably sorted by document, and dealt alternately to 'tune' and "
                "'test' starting from a side drawn with the same generator. Tune only on 'tune'; "
                "report 'test'."
            ),
            "businesses": {
                b.slug: {"name": b.name, "docs": [d.filename for d in b.docs]} for b in all_businesses
            },
            "questions": sorted(rows, key=lambda r: r["id"]),
        }
        QUESTIONS.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {sum(len(b.docs) for b in all_businesses)} documents ({size} bytes) and {QUESTIONS.name}")
    print(counts(all_businesses, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
