"""Every fact a test relies on lives in the repository (issue 9, item 8).

Tests once cited a notes file on the author's machine by its absolute path,
or as "zk_facts §N", which no reader of the repository can open.  Facts observed on Apache ZooKeeper are
in tests/ZOOKEEPER_FACTS.md (re-observed by tests/facts/probe.py); this test
keeps it so: no tracked text file names a document by an absolute path, every
"<file> §N" citation names a file of the repository, and every
``tests/ZOOKEEPER_FACTS.md §N`` citation names a section that exists.
"""
from __future__ import annotations

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: A document named by an absolute path (a repository file is named relative to it).
ABSOLUTE_DOC = re.compile(r"(?:^|[^\w.~])(/(?:[\w.-]+/)+[\w.-]+\.(?:md|txt|rst))\b")
#: The source a "§N" citation names: a document, or a facts file by its short name.
CITED_SOURCE = re.compile(r"([\w./-]*(?:\.md|facts))[ ,:]*§\d+", re.I)
CITATION = re.compile(r"ZOOKEEPER_FACTS\.md[ ,]*((?:§\d+(?:, | and |, and )?)+)")


def tracked_text_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:        # not a git checkout (an sdist): walk the tree instead
        names = [os.path.relpath(os.path.join(d, f), ROOT)
                 for d, _, fs in os.walk(ROOT) if "/." not in d for f in fs]
    else:
        names = out.stdout.split()
    for name in names:
        if name.endswith((".py", ".md", ".rst", ".sh", ".zks", ".java", ".toml", ".txt")):
            path = os.path.join(ROOT, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    yield name, f.read()


def test_nothing_points_outside_the_repository():
    files = dict(tracked_text_files())
    tracked = set(files)
    bad = []
    for name, text in files.items():
        for m in ABSOLUTE_DOC.finditer(text):
            bad.append("%s:%d: %s" % (name, text.count("\n", 0, m.start()) + 1, m.group(1)))
        for m in CITED_SOURCE.finditer(text):
            src = m.group(1)
            if not any(t == src or t.endswith("/" + src) for t in tracked):
                bad.append("%s:%d: %s" % (name, text.count("\n", 0, m.start()) + 1, src))
    assert bad == []


def test_every_cited_facts_section_exists():
    with open(os.path.join(ROOT, "tests", "ZOOKEEPER_FACTS.md"), encoding="utf-8") as f:
        sections = set(re.findall(r"^## §(\d+)\b", f.read(), re.M))
    cited = {}
    for name, text in tracked_text_files():
        for m in CITATION.finditer(text):
            for n in re.findall(r"§(\d+)", m.group(1)):
                cited.setdefault(n, name)
    assert cited, "no citations found: the pattern is wrong"
    missing = {n: where for n, where in cited.items() if n not in sections}
    assert missing == {}
