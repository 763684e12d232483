"""Configuration: a standard ``zoo.cfg`` plus ZooKeeper's Java system properties.

``load(cfg_path, props, overrides)`` returns a :class:`Settings`.  Rules, as in
ZooKeeper's QuorumPeerConfig where they apply:

* ``key=value`` lines; ``#`` comments and blank lines are skipped; whitespace
  around keys and values is trimmed.
* A key zoo.cfg does not define is tried as the system property
  ``zookeeper.<key>`` (that is what ZooKeeper does with it).
* Keys we do not know at all (ssl.*, serverCnxnFactory, metricsProvider...)
  produce one warning line each and are otherwise ignored.
* Keys we know but do not act on (yet) are a warning each, saying why
  (:data:`NO_EFFECT`); keys that only an ensemble reads are accepted silently
  on a standalone server, as ZooKeeper accepts them.
* A value that does not parse is a :class:`ConfigError` naming the key and the
  line: the caller prints it as one line and exits non-zero.
* Security settings never fail open (:func:`_check_security`): a setting that
  asks for more security than zkwire can give refuses to start; one that asks
  for less is read exactly as ZooKeeper reads it (``skipACL`` only for the
  exact value ``yes``).  ``server.N`` lines (an ensemble) refuse to start
  until zkwire can replicate: starting them standalone would split the data.
"""
from __future__ import annotations

from ..quorum import membership


class ConfigError(Exception):
    pass


def _int(v):
    return int(v.strip())


def _bool(v):
    s = v.strip().lower()
    if s in ("true", "yes"):
        return True
    if s in ("false", "no"):
        return False
    raise ValueError("expected true/false or yes/no")


def _str(v):
    return v.strip()


def _list(v):
    return tuple(x.strip() for x in v.split(",") if x.strip())


def _java_yes(v):
    """``System.getProperty(key, "no").equals("yes")``: anything else is no."""
    return v.strip() == "yes"


# zoo.cfg key -> (attribute, parser)
CFG_KEYS = {
    "tickTime": ("tick_ms", _int),
    "dataDir": ("data_dir", _str),
    "dataLogDir": ("data_log_dir", _str),
    "clientPort": ("client_port", _int),
    "clientPortAddress": ("client_port_address", _str),
    "maxClientCnxns": ("max_client_cnxns", _int),
    "minSessionTimeout": ("min_session_timeout_ms", _int),
    "maxSessionTimeout": ("max_session_timeout_ms", _int),
    "4lw.commands.whitelist": ("four_letter_whitelist", _list),
    "initLimit": ("init_limit", _int),
    "syncLimit": ("sync_limit", _int),
    "snapCount": ("snap_count", _int),
    "preAllocSize": ("prealloc_kb", _int),
    "forceSync": ("force_sync", _bool),
    "autopurge.snapRetainCount": ("snap_retain_count", _int),
    "autopurge.purgeInterval": ("purge_interval_h", _int),
    "standaloneEnabled": ("standalone_enabled", _bool),
    "reconfigEnabled": ("reconfig_enabled", _bool),
    "globalOutstandingLimit": ("global_outstanding_limit", _int),
    "admin.enableServer": ("admin_enable_server", _bool),
    "admin.serverPort": ("admin_server_port", _int),
    "admin.serverAddress": ("admin_server_address", _str),
    "admin.commandURL": ("admin_command_url", _str),
    "admin.idleTimeout": ("admin_idle_timeout_ms", _int),
    "metricsProvider.className": ("metrics_provider_class", _str),
    "metricsProvider.httpHost": ("metrics_http_host", _str),
    "metricsProvider.httpPort": ("metrics_http_port", _int),
    "metricsProvider.exportJvmInfo": ("metrics_export_jvm_info", _bool),
    "metricsProvider.numWorkerThreads": ("metrics_num_worker_threads", _int),
    "metricsProvider.maxQueueSize": ("metrics_max_queue_size", _int),
    "metricsProvider.workerShutdownTimeoutMs": ("metrics_worker_shutdown_timeout_ms", _int),
    "jute.maxbuffer": ("max_buffer", _int),
    "skipACL": ("skip_acl", _java_yes),
    "secureClientPort": ("secure_client_port", _int),
    "secureClientPortAddress": ("secure_client_port_address", _str),
    "sslQuorum": ("ssl_quorum", _bool),
    "extendedTypesEnabled": ("extended_types", _bool),
    "clientPortListenBacklog": ("listen_backlog", _int),
    "electionAlg": ("election_alg", _int),
    "quorumListenOnAllIPs": ("quorum_listen_on_all_ips", _bool),
    "peerType": ("peer_type", _str),
    "dynamicConfigFile": ("dynamic_config_file", _str),
    "maxCnxns": ("max_cnxns", _int),
    "connectToLearnerMasterLimit": ("connect_to_learner_master_limit", _int),
    "localSessionsEnabled": ("local_sessions_enabled", _bool),
    "localSessionsUpgradingEnabled": ("local_sessions_upgrading_enabled", _bool),
}

# Java system property -> (attribute, parser)
PROP_KEYS = {
    "jute.maxbuffer": ("max_buffer", _int),
    # Java's Boolean.getBoolean("readonlymode.enabled"): a -D property only.
    "readonlymode.enabled": ("read_only_enabled", _bool),
    "zookeeper.extendedTypesEnabled": ("extended_types", _bool),
    "zookeeper.emulate353TTLNodes": ("emulate_353_ttl", _bool),
    "zookeeper.DigestAuthenticationProvider.superDigest": ("super_digest", _str),
    "zookeeper.skipACL": ("skip_acl", _java_yes),
    "zookeeper.nio.sessionlessCnxnTimeout": ("sessionless_timeout_ms", _int),
    "zookeeper.enforce.auth.enabled": ("enforce_auth", _bool),
    "zookeeper.enforce.auth.schemes": ("enforce_auth_schemes", _list),
    "zookeeper.sessionRequireClientSASLAuth": ("require_sasl", _bool),
    "zookeeper.allowSaslFailedClients": ("allow_sasl_failed", _bool),
    "zookeeper.authProvider": ("auth_provider", _str),
    "zookeeper.serverCnxnFactory": ("cnxn_factory", _str),
    "zookeeper.localSessionsEnabled": ("local_sessions_enabled", _bool),
    "zookeeper.4lw.commands.whitelist": ("four_letter_whitelist", _list),
    "zookeeper.snapCount": ("snap_count", _int),
    "zookeeper.preAllocSize": ("prealloc_kb", _int),
    "zookeeper.forceSync": ("force_sync", _bool),
    "zookeeper.admin.enableServer": ("admin_enable_server", _bool),
    "zookeeper.admin.serverPort": ("admin_server_port", _int),
    "zookeeper.admin.serverAddress": ("admin_server_address", _str),
    "zookeeper.admin.commandURL": ("admin_command_url", _str),
    "zookeeper.admin.idleTimeout": ("admin_idle_timeout_ms", _int),
    "zookeeper.globalOutstandingLimit": ("global_outstanding_limit", _int),
    "zookeeper.maxCnxns": ("max_cnxns", _int),
    "zookeeper.containerCheckIntervalMs": ("container_check_interval_ms", _int),
    "znode.container.checkIntervalMs": ("container_check_interval_ms", _int),
    "zookeeper.standaloneEnabled": ("standalone_enabled", _bool),
    "zookeeper.closeSessionTxn.enabled": ("close_session_txn", _bool),
    "zookeeper.digest.enabled": ("digest_enabled", _bool),
}


class Settings:
    def __init__(self):
        self.tick_ms = 2000
        self.data_dir = None
        self.data_log_dir = None
        self.client_port = 2181
        self.client_port_address = None
        self.max_client_cnxns = 60
        self.min_session_timeout_ms = -1
        self.max_session_timeout_ms = -1
        # ZooKeeper 3.5.3+ enables only srvr unless configured otherwise.
        self.four_letter_whitelist = ("srvr",)
        self.max_buffer = 0xFFFFF
        self.extended_types = False
        self.super_digest = None
        self.skip_acl = False
        self.snap_count = 100000
        self.prealloc_kb = 65536
        self.force_sync = True
        self.snap_retain_count = 3
        self.purge_interval_h = 0
        self.servers = {}
        self.server_lines = None     # where the first server.N line is
        self.max_cnxns = 0
        self.global_outstanding_limit = 1000
        self.listen_backlog = -1
        self.sessionless_timeout_ms = 10000
        self.reconfig_enabled = False
        self.secure_client_port = None
        self.enforce_auth = False
        self.enforce_auth_schemes = ()
        self.require_sasl = False
        self.standalone_enabled = True
        self.read_only_enabled = False
        # The AdminServer (server/edge/admin.py): on only when asked for.
        self.admin_enable_server = False
        self.admin_server_port = 8080
        self.admin_server_address = "0.0.0.0"
        self.admin_command_url = "/commands"
        self.admin_idle_timeout_ms = 30000
        # metricsProvider.* (server/edge/prometheus.py).
        self.metrics_provider_class = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider"
        self.metrics_http_host = "0.0.0.0"
        self.metrics_http_port = 7000
        self.metrics_export_jvm_info = True
        self.membership = None       # quorum.membership.Membership of an ensemble
        self.myid = None
        self.peer_type = None
        self.init_limit = 10
        self.sync_limit = 5
        self.quorum_listen_on_all_ips = False
        self.dynamic_config_file = None
        self.warnings = []
        #: Keys set by the file, a property or an override (for _check).
        self.given = set()

    def as_dict(self):
        return {k: v for k, v in vars(self).items() if k != "warnings"}


#: Known keys that zkwire does not act on yet: key -> (when it matters, why).
#: ``when`` is a predicate on the parsed value: only then is there a warning
#: (so ``admin.enableServer=false`` or ``digest.enabled=false`` is silent).
NO_EFFECT = {
    "metrics_num_worker_threads": (lambda v: True, "zkwire samples metrics on its event loop"),
    "metrics_max_queue_size": (lambda v: True, "zkwire samples metrics on its event loop"),
    "metrics_worker_shutdown_timeout_ms": (lambda v: True,
                                           "zkwire samples metrics on its event loop"),
    "local_sessions_enabled": (lambda v: v, "zkwire has no local sessions: every session is global"),
    "local_sessions_upgrading_enabled": (lambda v: v, "zkwire has no local sessions"),
    "emulate_353_ttl": (lambda v: v, "zkwire does not emulate 3.5.3 TTL nodes"),
    "container_check_interval_ms": (lambda v: True, "zkwire does not reap containers or TTL nodes yet"),
    "close_session_txn": (lambda v: not v, "zkwire always logs closeSession with its ephemerals"),
    "digest_enabled": (lambda v: v, "zkwire neither writes nor checks txn digests"),
    "cnxn_factory": (lambda v: True, "zkwire has its own connection handling"),
    "allow_sasl_failed": (lambda v: True, "zkwire has no SASL yet"),
    "auth_provider": (lambda v: True, "zkwire has no pluggable auth providers"),
    "secure_client_port": (lambda v: True, "zkwire has no TLS yet: the secure port is not opened"),
    "secure_client_port_address": (lambda v: True, "zkwire has no TLS yet"),
    "ssl_quorum": (lambda v: v, "zkwire has no quorum TLS yet"),
}


def _apply(settings, table, key, value, where):
    attr, parse = table[key]
    try:
        parsed = parse(value)
    except ValueError as e:
        raise ConfigError("%s: invalid value %r for %s (%s)" % (where, value.strip(), key, e)) from None
    setattr(settings, attr, parsed)
    settings.given.add(attr)
    rule = NO_EFFECT.get(attr)
    if rule is not None and rule[0](parsed):
        settings.warnings.append("%s: %s has no effect: %s" % (where, key, rule[1]))
    if attr == "skip_acl" and not parsed and value.strip().lower() in ("true", "yes", "1"):
        settings.warnings.append(
            "%s: %s=%s does not turn ACL checks off: ZooKeeper skips them only for the "
            "exact value \"yes\"" % (where, key, value.strip()))


def load(cfg_path=None, props=None, overrides=None) -> Settings:
    s = Settings()
    if cfg_path is not None:
        try:
            with open(cfg_path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise ConfigError("cannot read %s: %s" % (cfg_path, e.strerror)) from None
        except UnicodeDecodeError:
            raise ConfigError("%s is not UTF-8 text" % cfg_path) from None
        for n, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = "%s line %d" % (cfg_path, n)
            if "=" not in text:
                raise ConfigError("%s: expected key=value, got %r" % (where, text))
            key, value = text.split("=", 1)
            key = key.strip()
            if key.startswith("authProvider."):
                # ZooKeeper loads a class per authProvider.N line; zkwire has
                # digest and ip built in and cannot load others.
                s.warnings.append("%s: %s=%s has no effect: zkwire has no pluggable auth "
                                  "providers (digest and ip are built in)" % (where, key, value.strip()))
            elif key in CFG_KEYS:
                _apply(s, CFG_KEYS, key, value, where)
            elif key.startswith("server.") or key.startswith("group.") or key.startswith("weight."):
                # Ensemble membership: accepted now, used once replication lands.
                try:
                    sid = int(key.split(".", 1)[1])
                except ValueError:
                    raise ConfigError("%s: invalid server id in %s" % (where, key)) from None
                if key.startswith("server."):
                    s.servers[sid] = value.strip()
                    s.server_lines = s.server_lines or where
                else:
                    # ZooKeeper then builds a hierarchical quorum verifier.
                    raise ConfigError("%s: %s: hierarchical quorums (group./weight.) are not "
                                      "supported; use majority quorums" % (where, key))
            elif "zookeeper." + key in PROP_KEYS:
                _apply(s, PROP_KEYS, "zookeeper." + key, value, where)
            else:
                s.warnings.append("%s: unknown key %s ignored" % (where, key))
    for key, value in (props or {}).items():
        if key in PROP_KEYS:
            _apply(s, PROP_KEYS, key, value, "-D%s" % key)
        elif key in CFG_KEYS:
            _apply(s, CFG_KEYS, key, value, "-D%s" % key)
        else:
            s.warnings.append("-D%s: unknown system property ignored" % key)
    for attr, value in (overrides or {}).items():
        if value is not None:
            setattr(s, attr, value)
            s.given.add(attr)
    _check(s)
    _check_security(s)
    return s


def _check(s):
    if s.tick_ms <= 0:
        raise ConfigError("tickTime must be positive, got %d" % s.tick_ms)
    if not 0 <= s.client_port <= 65535:
        raise ConfigError("clientPort %d is out of range" % s.client_port)
    if s.max_buffer <= 0:
        raise ConfigError("jute.maxbuffer must be positive, got %d" % s.max_buffer)
    if s.min_session_timeout_ms == -1:
        s.min_session_timeout_ms = 2 * s.tick_ms
    if s.max_session_timeout_ms == -1:
        s.max_session_timeout_ms = 20 * s.tick_ms
    if s.min_session_timeout_ms > s.max_session_timeout_ms:
        raise ConfigError("minSessionTimeout (%d) must not be larger than maxSessionTimeout (%d)"
                          % (s.min_session_timeout_ms, s.max_session_timeout_ms))
    if s.data_log_dir is None:
        s.data_log_dir = s.data_dir
    if s.metrics_provider_class not in (
            "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider",
            "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"):
        # ZooKeeper cannot start with a provider class it cannot load.
        raise ConfigError("metricsProvider.className=%s: zkwire has the default provider and "
                          "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
                          % s.metrics_provider_class)
    if not 0 <= s.metrics_http_port <= 65535:
        raise ConfigError("metricsProvider.httpPort %d is out of range" % s.metrics_http_port)
    if not 0 <= s.admin_server_port <= 65535:
        raise ConfigError("admin.serverPort %d is out of range" % s.admin_server_port)
    if s.admin_idle_timeout_ms <= 0:
        raise ConfigError("admin.idleTimeout must be positive, got %d" % s.admin_idle_timeout_ms)
    if "election_alg" in s.given and s.election_alg != 3:
        raise ConfigError("electionAlg=%d: only 3 (fast leader election) exists" % s.election_alg)
    if s.dynamic_config_file:
        raise ConfigError("dynamicConfigFile=%s configures an ensemble, and zkwire cannot "
                          "replicate yet" % s.dynamic_config_file)
    try:
        ms, notes = membership.build(s.servers, s.standalone_enabled)
    except membership.MembershipError as e:
        raise ConfigError("%s: %s" % (s.server_lines or "standaloneEnabled", e)) from None
    s.warnings.extend("%s: %s" % (s.server_lines, n) for n in notes)
    s.membership = ms
    if ms is not None:
        _check_member(s, ms)


def _check_member(s, ms):
    """An ensemble member: which one comes from ``dataDir/myid``, as in ZooKeeper."""
    import os

    if not s.data_dir:
        raise ConfigError("%s: an ensemble member needs dataDir (for myid and its log)"
                          % s.server_lines)
    path = os.path.join(s.data_dir, "myid")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError("%s file is missing: an ensemble member needs its server id there"
                          % path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("cannot read %s: %s" % (path, e)) from None
    try:
        s.myid = membership.parse_myid(text)
    except membership.MembershipError as e:
        raise ConfigError("%s: %s" % (path, e)) from None
    me = ms.members.get(s.myid)
    if me is None:
        raise ConfigError("%s: server %d (from %s) is not among the server.N lines"
                          % (s.server_lines, s.myid, path))
    if s.peer_type is not None and s.peer_type.lower() != me.role:
        raise ConfigError("peerType=%s but server.%d is a %s" % (s.peer_type, s.myid, me.role))
    if "client_port" not in s.given and me.client_port is not None:
        s.client_port = me.client_port
        if "client_port_address" not in s.given and me.client_host not in (None, "0.0.0.0"):
            s.client_port_address = me.client_host


#: Schemes a connection can authenticate with in zkwire.
AUTH_SCHEMES = ("digest", "ip")


def _check_security(s):
    """Refuse what would serve less securely than the configuration asks."""
    if s.secure_client_port is not None and "client_port" not in s.given:
        # ZooKeeper opens no plaintext port then; serving 2181 in the clear
        # would be exactly what the operator ruled out.
        raise ConfigError("secureClientPort=%d without clientPort asks for TLS only, and zkwire "
                          "has no TLS yet; refusing to serve in plaintext" % s.secure_client_port)
    if s.require_sasl:
        raise ConfigError("sessionRequireClientSASLAuth=true requires SASL, which zkwire does "
                          "not have yet; refusing to start")
    if s.enforce_auth:
        schemes = s.enforce_auth_schemes
        if not schemes:
            # ZooKeeper refuses this too: enforcement needs a scheme list.
            raise ConfigError("zookeeper.enforce.auth.enabled=true needs "
                              "zookeeper.enforce.auth.schemes")
        unknown = [x for x in schemes if x not in AUTH_SCHEMES]
        if unknown:
            # ZooKeeper refuses to start when a scheme names no registered
            # auth provider (case matters: "Digest" is not "digest"), and
            # zkwire has only digest and ip (ZOOKEEPER_FACTS.md §14).
            raise ConfigError("zookeeper.enforce.auth.schemes=%s: no auth provider for %s "
                              "(zkwire has %s); refusing to start"
                              % (",".join(schemes), ",".join(unknown), ", ".join(AUTH_SCHEMES)))
