"""The example of README's "Using zkwire in your tests", exactly as printed there.

test_plugin.py also runs this file in an empty directory, where nothing but
the installed plugin provides the fixtures: what a new user gets.
"""
import threading

from kazoo.protocol.states import KazooState


def test_ephemeral_node_goes_with_its_session(zk_client, zk_faults):
    lost = threading.Event()
    zk_client.add_listener(lambda state: state == KazooState.LOST and lost.set())
    zk_client.create("/worker", b"busy", ephemeral=True)
    zk_faults.expire_session(zk_client)          # a real expiry, decided by the server
    assert lost.wait(10)                         # the client was told: SESSION_EXPIRED
    assert zk_client.retry(zk_client.exists, "/worker") is None


def test_readme_shows_this_test_exactly():
    import os
    import re

    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "README.rst"), encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("\nUsing zkwire in your tests\n", 1)[1]
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", section).group(1)
    shown = "\n".join(line[4:] for line in block.rstrip().splitlines())
    with open(__file__, encoding="utf-8") as f:
        source = f.read()
    start = source.index("import threading")
    end = source.index("\n\n\ndef test_readme_shows_this_test_exactly")
    assert shown == source[start:end]
