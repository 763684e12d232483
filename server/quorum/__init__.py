"""ZooKeeper's quorum protocol, sans-IO: membership, election, packets, leader and learners."""
