"""The simulator with reconfigEnabled (``zkwire sim --reconfig``): clients
now and then remove the last participant or add it back, across the usual
faults (crashes, restarts, pauses, message loss), and every invariant of the
checker (one leader per epoch, committed txns agree, linearizable reads and
writes, watches) must hold throughout.  A run only counts if reconfigs did
commit in it: a config version whose low 32 bits are not 0 is a reconfig's
zxid (the first epoch's own version, ``epoch << 32``, has them 0)."""
from __future__ import annotations

import pytest

from zkwire.sim import SimConfig, run_seed


def reconfigs_in_force(res) -> int:
    versions = {n.config.version for n in res.world.nodes.values() if n.config is not None}
    return sum(1 for v in versions if v & 0xFFFFFFFF)


@pytest.mark.parametrize("members,first", [(3, 5000), (5, 6000)])
def test_seeds_with_reconfigs_hold_every_invariant(members, first):
    with_reconfigs = 0
    for seed in range(first, first + 40):
        res = run_seed(seed, SimConfig(members=members, steps=5000, reconfig=True))
        assert res.ok, "seed %d: %s\nreplay: zkwire sim --seed %d --members %d --reconfig" % (
            seed, res.violations[0][:2000], seed, members)
        if reconfigs_in_force(res):
            with_reconfigs += 1
    assert with_reconfigs >= 20, with_reconfigs
