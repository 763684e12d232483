"""The sans-IO core: the data tree, prep, sessions, watches, ACLs, paths, the per-server front end and the driver."""
