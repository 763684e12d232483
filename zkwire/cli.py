"""The ``zkwire`` command.

    zkwire serve [zoo.cfg] [-Dname=value ...] [--host ADDR] [--port N] [--data-dir DIR]
                 [--ephemeral-port] [--print-port] [--load TREE.json]
                 [--control-port N] [--control-host ADDR]
    zkwire export --hosts HOST:PORT [--path /P] [-o FILE]
                                          print a tree in the --load format
    zkwire dump FILE                      print a txn log or snapshot file readably
    zkwire purge DATADIR [--log-dir DIR] [-n COUNT]
                                          keep the newest COUNT (>= 3) snapshots and
                                          the logs they need; delete the rest
    zkwire sim --seeds N [--first-seed S] [--members 3|5] [--steps K] [--faults LIST]
    zkwire sim --seed S                   simulate the ensemble under faults, one seed
                                          per run; --seed replays one with its trace

``serve`` runs a standalone server until Ctrl-C or SIGTERM.  The arguments map
onto the command line that starts Apache ZooKeeper's QuorumPeerMain: the same
``zoo.cfg`` and the same ``-D`` system properties.
"""
from __future__ import annotations

import argparse
import logging
import sys


def _split_props(argv):
    props, rest = {}, []
    for a in argv:
        if a.startswith("-D") and len(a) > 2:
            key, _, value = a[2:].partition("=")
            props[key] = value
        else:
            rest.append(a)
    return props, rest


def build_server(settings, reactor, disk=None):
    """A ZooKeeperServer (not yet listening) for ``settings``; its dataDir on
    ``disk`` (a server.storage.disk.Disk; default: the file system)."""
    from zkwire.server.core.frontend import CoreConfig
    from zkwire.server.edge.net import ZooKeeperServer

    core_config = CoreConfig(
        tick_ms=settings.tick_ms,
        min_session_timeout_ms=settings.min_session_timeout_ms,
        max_session_timeout_ms=settings.max_session_timeout_ms,
        extended_types=settings.extended_types,
        super_digest=settings.super_digest,
        skip_acl=settings.skip_acl,
        reconfig_enabled=settings.reconfig_enabled,
        enforce_auth_schemes=settings.enforce_auth_schemes if settings.enforce_auth else (),
        container_check_interval_ms=settings.container_check_interval_ms,
        container_max_per_minute=settings.container_max_per_minute,
        container_max_never_used_ms=settings.container_max_never_used_ms,
        enforce_quota=settings.enforce_quota,
        sasl=_sasl_settings(settings),
        sasl_scheme=settings.sasl_scheme,
        let_any_sasl_user=settings.let_any_sasl_user,
        sasl_super_users=settings.sasl_super_users,
        allow_sasl_failed=settings.allow_sasl_failed,
        # ZooKeeper registers the x509 scheme for a secure port, or when an
        # authProvider names X509AuthenticationProvider.
        x509=settings.secure_client_port is not None or settings.x509_provider,
        x509_super_user=settings.x509_super_user,
    )
    tls = None
    if settings.secure_client_port is not None:
        from zkwire.server.edge import tls as tls_mod
        from zkwire.server.edge.config import ConfigError, tls_options

        try:
            tls = tls_mod.load(tls_options(settings))
        except tls_mod.TlsError as e:
            raise ConfigError(str(e)) from None
    datadir = None
    if settings.data_dir:
        from zkwire.server.storage.datadir import DataDir

        datadir = DataDir(settings.data_dir, settings.data_log_dir, force_sync=settings.force_sync,
                          prealloc_bytes=settings.prealloc_kb * 1024, snap_count=settings.snap_count,
                          retain_count=settings.snap_retain_count, disk=disk)
    host = settings.client_port_address or "0.0.0.0"
    return ZooKeeperServer(
        reactor, core_config, host=host, port=settings.client_port,
        max_buffer=settings.max_buffer, max_client_cnxns=settings.max_client_cnxns,
        # ZooKeeper enables isro whatever the whitelist says when
        # readonlymode.enabled=true (FourLetterCommands.isEnabled).
        four_letter_whitelist=tuple(settings.four_letter_whitelist)
        + (("isro",) if settings.read_only_enabled else ()),
        settings={"dataDir": settings.data_dir or "", "dataLogDir": settings.data_log_dir or ""},
        datadir=datadir, purge_interval_h=settings.purge_interval_h,
        max_cnxns=settings.max_cnxns, global_outstanding_limit=settings.global_outstanding_limit,
        sessionless_timeout_ms=settings.sessionless_timeout_ms,
        backlog=settings.listen_backlog if settings.listen_backlog > 0 else 128,
        tls=tls, secure_host=settings.secure_client_port_address or "0.0.0.0",
        secure_port=settings.secure_client_port,
    )


def _sasl_settings(settings):
    """The SASL users of the JAAS file's server section, with the nonce
    source (os.urandom: the core reads no randomness itself); None: no SASL."""
    if settings.sasl_users is None:
        return None
    import os

    from zkwire.server.core.sasl import SaslSettings

    return SaslSettings(settings.sasl_users, os.urandom,
                        super_password=settings.sasl_super_password,
                        remove_host=settings.sasl_remove_host,
                        remove_realm=settings.sasl_remove_realm)


def build_member(settings, reactor, server):
    """The EnsembleMember around ``server`` when ``settings`` has server.N lines."""
    from zkwire.server.edge.ensemble import EnsembleMember

    if server.datadir is None:
        raise ValueError("an ensemble member needs a dataDir")
    return EnsembleMember(reactor, server, server.datadir.storage, settings.myid,
                          settings.membership, tick_ms=settings.tick_ms,
                          init_limit=settings.init_limit, sync_limit=settings.sync_limit,
                          quorum_host="0.0.0.0" if settings.quorum_listen_on_all_ips else None,
                          read_only_enabled=settings.read_only_enabled,
                          standalone_enabled=settings.standalone_enabled,
                          dynamic_files=_dynamic_files(settings))


def _dynamic_files(settings):
    """reconfigEnabled with a config file: the dynamic config files next to it."""
    if not settings.reconfig_enabled or not settings.config_path:
        return None
    from zkwire.server.edge.dynconfig import DynamicConfigFiles

    return DynamicConfigFiles(settings.config_path, settings.myid)


def cmd_serve(argv) -> int:
    """Every way start-up can fail ends here as one line on stderr and a
    non-zero exit: 2 for the configuration (or the port), 3 for the dataDir,
    1 for anything else (a module that will not import, our own bug).  Once
    serving, a fatal error (a log that cannot be written, our own bug in the
    commit path) stops the reactor and exits 1."""
    try:
        return _serve(argv)
    except _StartupError as e:
        print("zkwire: %s" % e, file=sys.stderr)
        return e.code
    except Exception as e:  # an import that fails, our own bug: still one line
        logging.getLogger("zkwire").debug("start-up failed", exc_info=True)
        print("zkwire: cannot start: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1


def _start_admin(reactor, settings, server, cfg_path, props):
    """The AdminServer (admin.enableServer=true), bound before the reactor
    runs: a port in use is a start-up failure, as in ZooKeeper."""
    from twisted.internet.error import CannotListenError

    from zkwire.server.edge.admin import AdminCommands, listen

    text = ""
    if cfg_path:
        try:
            with open(cfg_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
    commands = AdminCommands(server, initial_config=text, system_properties=props)
    try:
        return listen(reactor, commands, port=settings.admin_server_port,
                      address=settings.admin_server_address,
                      command_url=settings.admin_command_url,
                      idle_timeout_ms=settings.admin_idle_timeout_ms)
    except CannotListenError as e:
        raise _StartupError("cannot start the AdminServer on %s:%d: %s" % (
            settings.admin_server_address, settings.admin_server_port, e.socketError), 2) from None


def _start_prometheus(reactor, settings, server):
    """metricsProvider.className=...PrometheusMetricsProvider: /metrics on
    metricsProvider.httpHost:httpPort.  Like ZooKeeper, a provider that cannot
    start stops the server from starting."""
    from twisted.internet.error import CannotListenError

    from zkwire.server.edge import prometheus

    if not prometheus.available():
        raise _StartupError("metricsProvider.className=%s needs the prometheus_client package "
                            "(pip install 'zkwire[metrics]')" % settings.metrics_provider_class, 2)
    try:
        return prometheus.listen(reactor, server, port=settings.metrics_http_port,
                                 host=settings.metrics_http_host,
                                 export_process=settings.metrics_export_jvm_info)
    except CannotListenError as e:
        raise _StartupError("cannot start the metrics endpoint on %s:%d: %s" % (
            settings.metrics_http_host, settings.metrics_http_port, e.socketError), 2) from None


class _StartupError(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def _serve(argv) -> int:
    from zkwire.server.edge.config import ConfigError, load

    props, rest = _split_props(argv)
    p = argparse.ArgumentParser(prog="zkwire serve", description="Run a standalone zkwire server.")
    p.add_argument("config", nargs="?", help="a ZooKeeper zoo.cfg")
    p.add_argument("--host", help="address to listen on (default: clientPortAddress or 0.0.0.0)")
    p.add_argument("--port", type=int, help="client port (default: clientPort or 2181)")
    p.add_argument("--data-dir", help="dataDir (default: from zoo.cfg)")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    p.add_argument("--ephemeral-port", action="store_true",
                   help="listen on a free port the system picks (see --print-port)")
    p.add_argument("--print-port", action="store_true",
                   help="print the client port on stdout as the first line (then the control "
                        "port, with --control-port)")
    p.add_argument("--load", metavar="TREE.json",
                   help="create the nodes of this seed file at start (zkwire.testing.seed)")
    p.add_argument("--control-port", type=int, metavar="N",
                   help="serve the fault-injection HTTP API here (0: a free port)")
    p.add_argument("--control-host", default="127.0.0.1",
                   help="address of the control API (default 127.0.0.1)")
    args = p.parse_args(rest)
    if args.ephemeral_port:
        if args.port is not None:
            p.error("--ephemeral-port and --port exclude each other")
        args.port = 0
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log = logging.getLogger("zkwire")
    try:
        settings = load(args.config, props, {
            "client_port": args.port, "client_port_address": args.host, "data_dir": args.data_dir,
        })
    except ConfigError as e:
        raise _StartupError("config error: %s" % e, 2) from None
    if args.data_dir and settings.data_log_dir is None:
        settings.data_log_dir = args.data_dir
    for w in settings.warnings:
        log.warning(w)
    if settings.sasl_users is not None:
        log.info("SASL: DIGEST-MD5 with %d users from section %s of %s%s",
                 len(settings.sasl_users), settings.sasl_section or "Server",
                 settings.jaas_config,
                 "" if settings.sasl_scheme else " (no SASLAuthenticationProvider: sasl is no ACL scheme)")

    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError

    from zkwire.server.storage.txnlog import DiskFormatError

    testing = None
    if args.load or args.control_port is not None:
        # The server with the test stand-in's seams (zkwire.testing.service).
        if settings.membership is not None:
            raise _StartupError("--load and --control-port run a standalone server only", 2)
        from zkwire.testing.seed import SeedError
        from zkwire.testing.service import TestService

        try:
            testing = TestService(reactor, settings=settings, load=args.load)
        except SeedError as e:
            raise _StartupError("cannot load the seed: %s" % e, 2) from None
    try:
        if testing is not None:
            testing.start().addErrback(lambda f: log.error("loading the seed failed: %s",
                                                           f.getErrorMessage()))
            server = runner = testing.server
        else:
            server = build_server(settings, reactor)
    except DiskFormatError as e:
        raise _StartupError("cannot load the dataDir: %s" % e, 3) from None
    except OSError as e:
        raise _StartupError("cannot use the dataDir: %s" % e, 3) from None
    except CannotListenError as e:
        raise _StartupError("cannot listen on %s:%s: %s" % (
            e.interface or "0.0.0.0", e.port, e.socketError), 2) from None
    except ConfigError as e:
        raise _StartupError("config error: %s" % e, 2) from None
    if testing is None:
        runner = server
        if settings.membership is not None:
            runner = build_member(settings, reactor, server)
        try:
            # Bind before the reactor runs: a port in use fails here, at once.
            runner.start()
        except CannotListenError as e:
            raise _StartupError("cannot listen on %s:%s: %s" % (e.interface or "0.0.0.0", e.port,
                                                                 e.socketError), 2) from None
    admin = None
    if settings.admin_enable_server:
        admin = _start_admin(reactor, settings, server, args.config, props)
    metrics_port = None
    if settings.metrics_provider_class.endswith(".PrometheusMetricsProvider"):
        metrics_port = _start_prometheus(reactor, settings, server)
    control = None
    if args.control_port is not None:
        from zkwire.testing.control import listen as listen_control

        try:
            control = listen_control(testing, args.control_port, args.control_host)
        except CannotListenError as e:
            raise _StartupError("cannot listen on %s:%d: %s" % (
                args.control_host, args.control_port, e.socketError), 2) from None
    if args.print_port:
        print(server.port if server.port is not None else server.secure_port)
        if control is not None:
            print(control.getHost().port)
        sys.stdout.flush()

    def fatal(reason):
        if control is not None:
            # The control API stays up: POST /heal-disk, then /restart.
            log.error("zkwire: stopped: %s (the control API can restart it)", reason)
        elif reactor.running:
            reactor.stop()

    if testing is not None:
        testing.on_fatal = fatal
    else:
        server.on_fatal = fatal

    def serving():
        # Logged once the reactor runs, so its SIGINT/SIGTERM handlers are in
        # place before anyone can see the "serving" line.
        where = []
        if server.port is not None:
            where.append("%s:%d" % (server.host, server.port))
        if server.tls is not None:
            where.append("%s:%d (TLS, clientAuth=%s)" % (server.secure_host, server.secure_port,
                                                         server.tls.client_auth.lower()))
        log.info("zkwire %s serving on %s (tickTime=%d, sessions %d-%d ms)",
                 _version(), ", ".join(where), settings.tick_ms,
                 settings.min_session_timeout_ms, settings.max_session_timeout_ms)
        if admin is not None:
            log.info("AdminServer on http://%s:%d%s", settings.admin_server_address,
                     admin.getHost().port, settings.admin_command_url)
        if metrics_port is not None:
            log.info("Prometheus metrics on http://%s:%d/metrics", settings.metrics_http_host,
                     metrics_port.getHost().port)

    # This process is ours alone: keep the cycle collector off the loaded tree.
    from twisted.internet.task import LoopingCall

    from zkwire.server.edge.gcpolicy import GcPolicy

    gc_policy = GcPolicy()
    gc_policy.start()
    gc_check = LoopingCall(gc_policy.check)
    gc_check.clock = reactor
    gc_check.start(1.0, now=False)

    reactor.callWhenRunning(serving)
    reactor.addSystemEventTrigger("before", "shutdown",
                                  testing.stop if testing is not None else runner.stop)
    reactor.run()
    fatal_error = testing.stopped_reason if testing is not None else server.fatal_error
    if fatal_error is not None:
        print("zkwire: stopped: %s" % fatal_error, file=sys.stderr)
        return 1
    return 0


def cmd_export(argv) -> int:
    p = argparse.ArgumentParser(prog="zkwire export",
                                description="Print a server's tree in the format of "
                                            "zkwire serve --load (any ZooKeeper server).")
    p.add_argument("--hosts", required=True, help="connect string, e.g. 127.0.0.1:2181")
    p.add_argument("--path", default="/", help="export only this subtree (default /)")
    p.add_argument("-o", "--output", help="write here instead of stdout")
    p.add_argument("--timeout", type=float, default=10.0, help="connect timeout, s")
    args = p.parse_args(argv)
    try:
        from kazoo.client import KazooClient
    except ImportError:
        print("zkwire export: needs kazoo (pip install kazoo)", file=sys.stderr)
        return 2
    from zkwire.testing import seed

    client = KazooClient(hosts=args.hosts, timeout=args.timeout)
    try:
        client.start(timeout=args.timeout)
    except Exception as e:
        print("zkwire export: cannot connect to %s: %s" % (args.hosts, e), file=sys.stderr)
        return 1
    try:
        text = seed.dumps(seed.export_kazoo(client, args.path))
    except seed.SeedError as e:
        print("zkwire export: %s" % e, file=sys.stderr)
        return 1
    finally:
        client.stop()
        client.close()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_dump(argv) -> int:
    p = argparse.ArgumentParser(prog="zkwire dump", description="Print a txn log or snapshot.")
    p.add_argument("file")
    args = p.parse_args(argv)
    from zkwire.server.storage.dump import dump
    from zkwire.server.storage.txnlog import DiskFormatError

    try:
        for line in dump(args.file):
            print(line)
    except BrokenPipeError:
        pass  # e.g. piped into head
    except (DiskFormatError, ValueError, OSError) as e:
        print("zkwire dump: %s" % e, file=sys.stderr)
        return 1
    return 0


def cmd_purge(argv) -> int:
    p = argparse.ArgumentParser(prog="zkwire purge",
                                description="Delete old snapshots and txn logs, like zkCleanup.sh.")
    p.add_argument("data_dir")
    p.add_argument("--log-dir", help="dataLogDir, if not the dataDir")
    p.add_argument("-n", "--count", type=int, default=3, help="snapshots to keep (>= 3)")
    args = p.parse_args(argv)
    if args.count < 3:
        print("zkwire purge: -n must be at least 3", file=sys.stderr)
        return 2
    from zkwire.server.storage.recovery import purge

    for path in purge(args.data_dir, args.log_dir, args.count):
        print("removed %s" % path)
    return 0


def _version():
    import zkwire

    return zkwire.__version__


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "serve":
        return cmd_serve(rest)
    if cmd == "dump":
        return cmd_dump(rest)
    if cmd == "export":
        return cmd_export(rest)
    if cmd == "bench":
        from zkwire.bench import main as bench_main

        return bench_main(rest)
    if cmd == "purge":
        return cmd_purge(rest)
    if cmd == "xcheck":
        from zkwire.xcheck import main as xcheck_main

        return xcheck_main(rest)
    if cmd == "sim":
        from zkwire.sim.runner import main as sim_main

        return sim_main(rest)
    if cmd == "--version":
        print(_version())
        return 0
    print("zkwire: unknown command %r (try: zkwire serve)" % cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
