"""The pytest plugin as a new user meets it: installed, nothing else.

Each test runs pytest in a fresh directory with no conftest.py, so the
fixtures can only come from the entry point that installing zkwire registers.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))


def run_pytest(tmp_path, *files):
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for name, text in files:
        (tmp_path / name).write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_the_readme_example_passes_in_an_empty_project(tmp_path):
    with open(os.path.join(HERE, "test_readme_example.py"), encoding="utf-8") as f:
        source = f.read()
    example = source[source.index("import threading"):
                     source.index("\n\n\ndef test_readme_shows_this_test_exactly")]
    out = run_pytest(tmp_path, ("test_example.py", example + "\n"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout


def test_the_plugin_starts_nothing_unless_a_fixture_is_used(tmp_path):
    out = run_pytest(tmp_path, ("test_nothing.py", textwrap.dedent("""
        import sys, threading

        def test_no_server_no_thread_no_twisted():
            assert "zkwire.pytest_plugin" in sys.modules
            assert not any(m.startswith("zkwire.testing") for m in sys.modules)
            assert not any(m.startswith("twisted") for m in sys.modules)
            assert [t.name for t in threading.enumerate()] == ["MainThread"]
    """)))
    assert out.returncode == 0, out.stdout + out.stderr


def test_each_test_gets_a_fresh_chroot_removed_afterwards(tmp_path):
    out = run_pytest(tmp_path, ("test_chroots.py", textwrap.dedent("""
        seen = []

        def test_first(zk_client, zk_server):
            zk_client.create("/mine", b"1")
            seen.append(zk_client.chroot)
            assert zk_server.export(zk_client.chroot) == {
                zk_client.chroot: "", zk_client.chroot + "/mine": "1"}

        def test_second(zk_client, zk_server):
            assert zk_client.chroot != seen[0]
            assert zk_client.exists("/mine") is None
            assert seen[0] not in zk_server.export()

        def test_faults_are_undone_after_each_test_part_one(zk_client, zk_faults):
            zk_faults.fail_disk()
            zk_faults.delay(50)
            zk_faults.pause()

        def test_faults_are_undone_after_each_test_part_two(zk_client, zk_server):
            assert zk_server.running
            zk_client.create("/works", b"")
    """)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 passed" in out.stdout
