"""Every fact a test relies on lives in the repository (issue 9, item 8).

Tests once cited a notes file on the author's machine (/work/notes/...), which
no reader of the repository can open.  Facts observed on Apache ZooKeeper are
in tests/ZOOKEEPER_FACTS.md (re-observed by tests/facts/probe.py); this test
keeps it so: no tracked text file may point into a directory outside the
repository, and every ``tests/ZOOKEEPER_FACTS.md §N`` citation names a section
that exists.
"""
from __future__ import annotations

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTSIDE = re.compile(r"/work/(?:notes|shared|main)\b|/home/\w+/|zk_facts")
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
    me = os.path.relpath(__file__, ROOT)
    bad = ["%s:%d" % (name, text.count("\n", 0, m.start()) + 1)
           for name, text in tracked_text_files() if name != me
           for m in OUTSIDE.finditer(text)]
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
