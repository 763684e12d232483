"""kazoo's own test suite (the tests shipped inside the installed ``kazoo``
package) run against Apache ZooKeeper and against zkwire: README.rst here.

``plugin`` is the pytest plugin that points kazoo's harness at zkwire; ``run``
is the runner that runs the suite against both and compares the results.
"""
