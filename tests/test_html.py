"""`solver sheet --format html`: one self-contained page per sheet, its math as MathML,
opened in a real browser (headless Chromium) to see that the math is laid out."""
import html
import json
import re
import subprocess
from html.parser import HTMLParser

import pytest

from conftest import PROBLEM_FILES, ROOT, require_program, run_solver

MODES = ("solutions", "key", "problems")
RAW_TEX = re.compile(r"\\(frac|begin|end|left|right|text|times|cdot)\b|\\\(|\\\[")
CPEN455 = ROOT / "problems" / "cpen455-hw2.yaml"

# Run in the page by Chromium: the size and place of what the browser laid out.
PROBE = """
(function () {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; };
  const result = {
    maths: [...document.querySelectorAll("math")].map(box),
    text: document.body.innerText,
    matrices: [...document.querySelectorAll("mo + mtable")].map(t =>
      ({rows: t.querySelectorAll("mtr").length, box: box(t), digit: box(t.querySelector("mn") || t)})),
    aligned: [...document.querySelectorAll("mtable[displaystyle]")].map(t =>
      [...t.children].filter(row => row.children.length > 1).map(row => box(row.children[1]))),
    cells: [...document.querySelectorAll("table.derivation td math")].map(box),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
})();
"""


def sheet(path, mode, tmp_path):
    result = run_solver("sheet", path, f"--{mode}", "--format", "html", "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    return (tmp_path / f"{path.stem}-{mode}.html").read_text(encoding="utf-8")


class Tags(HTMLParser):
    """Every start tag with its attributes; the text outside <math>."""

    def __init__(self):
        super().__init__()
        self.tags, self.text, self.depth = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.depth += tag == "math"

    def handle_endtag(self, tag):
        self.depth -= tag == "math"

    def handle_data(self, data):
        if not self.depth:
            self.text.append(data)


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.name)
def test_every_sheet_is_one_self_contained_page(path, tmp_path):
    for mode in MODES:
        page = sheet(path, mode, tmp_path)
        tags = Tags()
        tags.feed(page)
        names = [tag for tag, _ in tags.tags]
        assert names.count("html") == 1 and "math" in names
        assert not {"script", "link", "img", "iframe"} & set(names)       # nothing to fetch, nothing to run
        assert not [a for _, attrs in tags.tags for k, a in attrs.items() if k in ("src", "href")]
        assert "@media print" in page and "@page" in page
        assert not RAW_TEX.search(html.unescape("".join(tags.text))), mode


def test_prose_is_text_its_dollar_math_is_math(tmp_path):
    source = tmp_path / "prose.yaml"
    source.write_text('title: "a <b>bold</b> & $x$ \\\\(y\\\\)"\nproblems:\n  - id: e\n    kind: essay\n'
                      '    given: {model_answer: "<script>alert(1)</script> costs $5 and \\\\frac{1}{2}"}\n')
    page = sheet(source, "key", tmp_path)
    assert "<script>" not in page and "<b>" not in page
    assert page.count("<math") == 1, "the heading's $x$ is math, nothing else (the page's <title> is text)"
    tags = Tags()
    tags.feed(page)
    text = html.unescape("".join(tags.text))
    assert "a <b>bold</b> & " in text and " \\(y\\)" in text
    assert "<script>alert(1)</script> costs $5 and \\frac{1}{2}" in text


def browser_probe(page: str, tmp_path) -> dict:
    chromium = require_program("chromium")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", f"<script>{PROBE}</script>\n</body>"), encoding="utf-8")
    result = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,800",
                             "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=300)
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


def test_math_is_typeset_in_a_browser(tmp_path):
    """Matrices, aligned derivations and tables, as Chromium lays them out."""
    probe = browser_probe(sheet(CPEN455, "solutions", tmp_path), tmp_path)
    assert len(probe["maths"]) > 100
    assert all(width > 0 and height > 0 for _, _, width, height in probe["maths"])
    assert not RAW_TEX.search(probe["text"]), RAW_TEX.search(probe["text"])
    # A matrix of several rows is as tall as its rows of digits, stacked.
    tall = [m for m in probe["matrices"] if m["rows"] >= 3]
    assert tall and all(m["box"][3] >= m["rows"] * m["digit"][3] for m in tall)
    # An aligned derivation: its rows one under the other, their = signs in one column.
    derivations = [rows for rows in probe["aligned"] if len(rows) >= 3]
    assert derivations
    for rows in derivations:
        lefts, tops = [r[0] for r in rows], [r[1] for r in rows]
        assert max(lefts) - min(lefts) < 1 and tops == sorted(tops) and len(set(tops)) == len(tops)
    # The tables (the network's layers, the inputs through the MLP) hold typeset math.
    assert len(probe["cells"]) >= 10 and all(w > 0 and h > 0 for _, _, w, h in probe["cells"])
