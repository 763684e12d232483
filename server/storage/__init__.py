"""Storage in ZooKeeper's own formats: txn log, snapshots, recovery, purge, epoch files, behind one Disk interface."""
