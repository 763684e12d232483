"""Configuration: a standard ``zoo.cfg`` plus ZooKeeper's Java system properties.

``load(cfg_path, props, overrides)`` returns a :class:`Settings`.  Rules, as in
ZooKeeper's QuorumPeerConfig where they apply:

* ``key=value`` lines; ``#`` comments and blank lines are skipped; whitespace
  around keys and values is trimmed.
* A key zoo.cfg does not define is tried as the system property
  ``zookeeper.<key>`` (that is what ZooKeeper does with it).
* Keys we do not know at all (metricsProvider...) produce one warning line
  each and are otherwise ignored.  The ``ssl.*`` keys and serverCnxnFactory
  are acted on with a secureClientPort (:func:`_check_tls`) and are a
  warning each without one.
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


def _java_true(v):
    """``"true".equals(System.getProperty(key))``: anything else is false."""
    return v.strip() == "true"


def _java_bool(v):
    """Java's ``Boolean.parseBoolean``: only "true" (any case) is true."""
    return v.strip().lower() == "true"


def _raw(v):
    """Passwords: exactly as written after the key's ``=``, trimmed as
    ZooKeeper trims every zoo.cfg value."""
    return v.strip()


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
    # Boolean.getBoolean: only "true" (any case) allows them.
    "zookeeper.allowSaslFailedClients": ("allow_sasl_failed", lambda v: v.strip().lower() == "true"),
    "java.security.auth.login.config": ("jaas_config", _str),
    "zookeeper.sasl.serverconfig": ("sasl_section", _str),
    "zookeeper.SASLAuthenticationProvider.superPassword": ("sasl_super_password", _str),
    "zookeeper.kerberos.removeHostFromPrincipal": ("sasl_remove_host", _java_true),
    "zookeeper.kerberos.removeRealmFromPrincipal": ("sasl_remove_realm", _java_true),
    "zookeeper.letAnySaslUserDoX": ("let_any_sasl_user", _str),
    "zookeeper.security.auth_to_local": ("auth_to_local", _str),
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
    "znode.container.checkIntervalMs": ("container_check_interval_ms", _int),
    "znode.container.maxPerMinute": ("container_max_per_minute", _int),
    "zookeeper.enforceQuota": ("enforce_quota", _bool),
    "znode.container.maxNeverUsedIntervalMs": ("container_max_never_used_ms", _int),
    "zookeeper.standaloneEnabled": ("standalone_enabled", _bool),
    "zookeeper.closeSessionTxn.enabled": ("close_session_txn", _bool),
    "zookeeper.digest.enabled": ("digest_enabled", _bool),
    # TLS on the client port (zoo.cfg's ssl.* keys land here, as in ZooKeeper).
    "zookeeper.ssl.keyStore.location": ("ssl_key_store", _str),
    "zookeeper.ssl.keyStore.password": ("ssl_key_store_password", _raw),
    "zookeeper.ssl.keyStore.passwordPath": ("ssl_key_store_password_path", _str),
    "zookeeper.ssl.keyStore.type": ("ssl_key_store_type", _str),
    "zookeeper.ssl.trustStore.location": ("ssl_trust_store", _str),
    "zookeeper.ssl.trustStore.password": ("ssl_trust_store_password", _raw),
    "zookeeper.ssl.trustStore.passwordPath": ("ssl_trust_store_password_path", _str),
    "zookeeper.ssl.trustStore.type": ("ssl_trust_store_type", _str),
    "zookeeper.ssl.clientAuth": ("ssl_client_auth", _str),
    "zookeeper.ssl.protocol": ("ssl_protocol", _str),
    "zookeeper.ssl.enabledProtocols": ("ssl_enabled_protocols", _str),
    "zookeeper.ssl.ciphersuites": ("ssl_ciphersuites", _str),
    "zookeeper.ssl.hostnameVerification": ("ssl_hostname_verification", _java_bool),
    "zookeeper.ssl.clientHostnameVerification": ("ssl_client_hostname_verification", _java_bool),
    "zookeeper.ssl.crl": ("ssl_crl", _java_bool),
    "zookeeper.ssl.ocsp": ("ssl_ocsp", _java_bool),
    "zookeeper.ssl.authProvider": ("ssl_auth_provider", _str),
    "zookeeper.ssl.context.supplier.class": ("ssl_context_supplier", _str),
    "zookeeper.ssl.sslProvider": ("ssl_provider", _str),
    "zookeeper.ssl.handshakeDetectionTimeoutMillis": ("ssl_handshake_detection_ms", _int),
    "zookeeper.X509AuthenticationProvider.superUser": ("x509_super_user", _raw),
    "zookeeper.client.portUnification": ("port_unification", _java_bool),
    "zookeeper.client.certReload": ("cert_reload", _java_bool),
    "zookeeper.fips-mode": ("fips_mode", _java_bool),
    "zookeeper.netty.server.outstandingHandshake.limit": ("outstanding_handshake_limit", _int),
}

#: Settings that a secure client port acts on; without one each is a warning.
TLS_ATTRS = frozenset(["cnxn_factory"] + [a for a, _ in PROP_KEYS.values()
                                          if a.startswith("ssl_") or a == "x509_super_user"])

#: ZooKeeper's Netty connection factory: the one that serves secureClientPort.
NETTY_FACTORY = "org.apache.zookeeper.server.NettyServerCnxnFactory"
X509_PROVIDER = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"


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
        self.secure_client_port_address = None
        self.cnxn_factory = None
        self.ssl_key_store = None
        self.ssl_key_store_password = ""
        self.ssl_key_store_password_path = None
        self.ssl_key_store_type = None
        self.ssl_trust_store = None
        self.ssl_trust_store_password = ""
        self.ssl_trust_store_password_path = None
        self.ssl_trust_store_type = None
        self.ssl_client_auth = None
        self.ssl_protocol = None
        self.ssl_enabled_protocols = None
        self.ssl_ciphersuites = None
        self.ssl_hostname_verification = True
        self.ssl_client_hostname_verification = False
        self.ssl_crl = False
        self.ssl_ocsp = False
        self.ssl_auth_provider = None
        self.ssl_context_supplier = None
        self.x509_super_user = None
        #: An authProvider names ZooKeeper's X509AuthenticationProvider.
        self.x509_provider = False
        self.enforce_auth = False
        self.enforce_auth_schemes = ()
        self.require_sasl = False
        self.allow_sasl_failed = False
        self.jaas_config = None      # java.security.auth.login.config
        self.sasl_section = None     # zookeeper.sasl.serverconfig (default Server)
        self.sasl_users = None       # the section's DIGEST-MD5 users; None: no SASL
        self.sasl_super_password = None
        self.sasl_remove_host = False
        self.sasl_remove_realm = False
        self.let_any_sasl_user = None
        self.sasl_super_users = []   # zookeeper.superUser[.*]
        self.auth_providers = []     # (where, class name) of authProvider.N
        self.sasl_scheme = False     # SASLAuthenticationProvider among them
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
        self.container_check_interval_ms = 60000
        self.container_max_per_minute = 10000
        self.container_max_never_used_ms = 0
        self.enforce_quota = False
        self.config_path = None      # the static config file (dynamic files go next to it)
        self.warnings = []
        #: (attr, key, where) of the TLS settings given, for _check_tls.
        self.tls_given = []
        #: Keys set by the file, a property or an override (for _check).
        self.given = set()

    def as_dict(self):
        # Never the SASL passwords.
        return {k: v for k, v in vars(self).items()
                if k not in ("warnings", "sasl_users", "sasl_super_password")}


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
    "close_session_txn": (lambda v: not v, "zkwire always logs closeSession with its ephemerals"),
    "digest_enabled": (lambda v: v, "zkwire neither writes nor checks txn digests"),
    "cnxn_factory": (lambda v: True, "zkwire has its own connection handling"),
    "auth_to_local": (lambda v: v.strip() != "DEFAULT",
                      "zkwire maps SASL names with the DEFAULT rule only"),
    "ssl_provider": (lambda v: True, "zkwire's TLS is OpenSSL's, through pyOpenSSL"),
    "ssl_handshake_detection_ms": (lambda v: True, "zkwire has no port unification"),
    "port_unification": (lambda v: v, "zkwire serves TLS on secureClientPort only; a TLS "
                                      "client on clientPort is refused"),
    "cert_reload": (lambda v: v, "zkwire reads the key and trust stores once, at start"),
    "fips_mode": (lambda v: True, "zkwire's TLS is OpenSSL's (client hostname verification "
                                  "is not built, so this changes nothing)"),
    "outstanding_handshake_limit": (lambda v: True, "zkwire does not limit TLS handshakes "
                                                    "apart from maxClientCnxns/maxCnxns"),
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
    if attr in TLS_ATTRS:
        # Acted on with a secure client port only: decided in _check_tls.
        settings.tls_given.append((attr, key, where))
        return
    rule = NO_EFFECT.get(attr)
    if rule is not None and rule[0](parsed):
        settings.warnings.append("%s: %s has no effect: %s" % (where, key, rule[1]))
    if attr == "skip_acl" and not parsed and value.strip().lower() in ("true", "yes", "1"):
        settings.warnings.append(
            "%s: %s=%s does not turn ACL checks off: ZooKeeper skips them only for the "
            "exact value \"yes\"" % (where, key, value.strip()))


def load(cfg_path=None, props=None, overrides=None) -> Settings:
    s = Settings()
    s.config_path = cfg_path
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
                s.auth_providers.append((where, key, value.strip()))
            elif key == "superUser" or key.startswith("superUser."):
                s.sasl_super_users.append(value.strip())
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
        if key.startswith("zookeeper.authProvider."):
            s.auth_providers.append(("-D%s" % key, key, value.strip()))
        elif key == "zookeeper.superUser" or key.startswith("zookeeper.superUser."):
            s.sasl_super_users.append(value)
        elif key in PROP_KEYS:
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
    _check_auth_providers(s)
    _check_security(s)
    _load_jaas(s, props or {})
    return s


def _check(s):
    if s.tick_ms <= 0:
        raise ConfigError("tickTime must be positive, got %d" % s.tick_ms)
    if not 0 <= s.client_port <= 65535:
        raise ConfigError("clientPort %d is out of range" % s.client_port)
    if s.max_buffer <= 0:
        raise ConfigError("jute.maxbuffer must be positive, got %d" % s.max_buffer)
    # Java's Timer refuses a period <= 0 at start-up; a maxPerMinute of 0
    # would divide by zero at the first check.
    if s.container_check_interval_ms <= 0:
        raise ConfigError("znode.container.checkIntervalMs must be positive, got %d"
                          % s.container_check_interval_ms)
    if s.container_max_per_minute <= 0:
        raise ConfigError("znode.container.maxPerMinute must be positive, got %d"
                          % s.container_max_per_minute)
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
    version = 0
    if s.dynamic_config_file:
        if s.servers:
            raise ConfigError("%s: server.N lines must be in the dynamic config file %s"
                              % (s.server_lines, s.dynamic_config_file))
        version = _load_dynamic(s)
    try:
        ms, notes = membership.build(s.servers, s.standalone_enabled, version)
    except membership.MembershipError as e:
        raise ConfigError("%s: %s" % (s.server_lines or "standaloneEnabled", e)) from None
    s.warnings.extend("%s: %s" % (s.server_lines, n) for n in notes)
    s.membership = ms
    if ms is not None:
        _check_member(s, ms)


def _load_dynamic(s) -> int:
    """The server lines of ``dynamicConfigFile``; its version is in its name
    (``zoo.cfg.dynamic.<hex>``; none: 0), never inside (QuorumPeerConfig)."""
    from .dynconfig import version_from_file_name

    path = s.dynamic_config_file
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ConfigError("dynamicConfigFile=%s: cannot read it: %s" % (path, e.strerror)) from None
    except UnicodeDecodeError:
        raise ConfigError("dynamicConfigFile=%s is not UTF-8 text" % path) from None
    for n, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = "%s line %d" % (path, n)
        key, eq, value = text.partition("=")
        key = key.strip()
        if not eq:
            raise ConfigError("%s: expected key=value, got %r" % (where, text))
        if key == "version":
            raise ConfigError("%s: a dynamic config file has no version inside (it is in "
                              "the file name)" % where)
        if not key.startswith("server."):
            raise ConfigError("%s: %s does not belong in a dynamic config file (server.N "
                              "lines only)" % (where, key))
        try:
            sid = int(key[7:])
        except ValueError:
            raise ConfigError("%s: invalid server id in %s" % (where, key)) from None
        s.servers[sid] = value.strip()
        s.server_lines = s.server_lines or where
    version = version_from_file_name(path)
    return 0 if version is None else version


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


#: Schemes a connection can authenticate with in zkwire (and "sasl" with
#: SASLAuthenticationProvider configured).
AUTH_SCHEMES = ("digest", "ip")

#: authProvider.N classes zkwire has: class -> scheme.
AUTH_PROVIDER_CLASSES = {
    "org.apache.zookeeper.server.auth.SASLAuthenticationProvider": "sasl",
    "org.apache.zookeeper.server.auth.DigestAuthenticationProvider": "digest",
    "org.apache.zookeeper.server.auth.IPAuthenticationProvider": "ip",
    X509_PROVIDER: "x509",
}


def _check_auth_providers(s):
    """authProvider.N / zookeeper.authProvider.N name classes ZooKeeper loads;
    zkwire has digest and ip built in and SASL's, and cannot load others
    (ZooKeeper logs a warning for a class it cannot load, and starts)."""
    for where, key, cls in s.auth_providers:
        scheme = AUTH_PROVIDER_CLASSES.get(cls)
        if scheme == "sasl":
            s.sasl_scheme = True
        elif scheme == "x509":
            # ZooKeeper registers the x509 scheme; zkwire has it built in.
            s.x509_provider = True
            s.given.add("x509_provider")
        elif scheme is None:
            s.warnings.append("%s: %s=%s has no effect: zkwire cannot load auth providers "
                              "(it has digest, ip, %s)" % (where, key, cls,
                                                           "SASLAuthenticationProvider and "
                                                           "X509AuthenticationProvider"))


def _load_jaas(s, props):
    """The JAAS file's server section, as ZooKeeper's configureSaslLogin
    finds it (tests/ZOOKEEPER_FACTS.md §15 jaas-start-up): no file, no SASL;
    a file that cannot be read or does not parse, or names a login module
    zkwire cannot run, refuses to start; a readable file without the section
    starts without SASL (with a warning here)."""
    from ..core.sasl import JaasError, parse_jaas, server_credentials

    section = s.sasl_section or "Server"
    if s.jaas_config is None:
        if s.sasl_section is not None:
            # ZooKeeper starts without SASL then (ZOOKEEPER_FACTS.md §15 jaas-start-up).
            s.warnings.append("zookeeper.sasl.serverconfig=%s has no effect without a JAAS file "
                              "(-Djava.security.auth.login.config=FILE): SASL is off, as in "
                              "ZooKeeper" % s.sasl_section)
        return
    where = "-Djava.security.auth.login.config=%s" % s.jaas_config
    try:
        with open(s.jaas_config, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError("%s: cannot read it: %s" % (where, e.strerror)) from None
    except UnicodeDecodeError:
        raise ConfigError("%s: not UTF-8 text" % where) from None
    try:
        entries = parse_jaas(text, props).get(section)
        if entries is None:
            s.warnings.append("%s: no section %s: SASL is off, as in ZooKeeper" % (where, section))
            return
        s.sasl_users = server_credentials(entries)
    except JaasError as e:
        raise ConfigError("%s: %s" % (where, e)) from None


def _check_security(s):
    """Refuse what would serve less securely than the configuration asks."""
    _check_tls(s)
    if s.require_sasl:
        # ZooKeeper's AuthenticationHelper: this replaces enforce.auth.*.
        s.enforce_auth = True
        s.enforce_auth_schemes = ("sasl",)
    if s.enforce_auth:
        schemes = s.enforce_auth_schemes
        if not schemes:
            # ZooKeeper refuses this too: enforcement needs a scheme list.
            raise ConfigError("zookeeper.enforce.auth.enabled=true needs "
                              "zookeeper.enforce.auth.schemes")
        known = AUTH_SCHEMES + (("sasl",) if s.sasl_scheme else ()) + (
            ("x509",) if s.x509_provider or s.secure_client_port is not None else ())
        unknown = [x for x in schemes if x not in known]
        if unknown:
            # ZooKeeper refuses to start when a scheme names no registered
            # auth provider (case matters: "Digest" is not "digest"), and
            # zkwire has only digest and ip (ZOOKEEPER_FACTS.md §14).
            hint = ""
            if "sasl" in unknown:
                hint = (" (sasl needs authProvider.1=org.apache.zookeeper.server.auth."
                        "SASLAuthenticationProvider)")
            raise ConfigError("%s: no auth provider for %s (zkwire has %s)%s; refusing to start"
                              % ("zookeeper.sessionRequireClientSASLAuth=true" if s.require_sasl
                                 else "zookeeper.enforce.auth.schemes=" + ",".join(schemes),
                                 ",".join(unknown), ", ".join(known), hint))


def _check_tls(s):
    """secureClientPort and the ssl.* keys, as ZooKeeper 3.9 reads them
    (tests/ZOOKEEPER_FACTS.md, "TLS on the client port")."""
    if s.secure_client_port is None:
        if s.secure_client_port_address is not None:
            # QuorumPeerConfig throws IllegalArgumentException for this.
            raise ConfigError("secureClientPortAddress is set but secureClientPort is not set")
        for attr, key, where in s.tls_given:
            if attr == "x509_super_user" and s.x509_provider:
                continue   # the x509 scheme exists: its super user counts
            why = ("zkwire has its own connection handling" if attr == "cnxn_factory" else
                   "zkwire reads it for secureClientPort only (quorum TLS is not built)")
            s.warnings.append("%s: %s has no effect: %s" % (where, key, why))
        return
    for attr, key, where in s.tls_given:
        rule = NO_EFFECT.get(attr)
        if rule is not None and rule[0](getattr(s, attr)) and attr != "cnxn_factory":
            s.warnings.append("%s: %s has no effect: %s" % (where, key, rule[1]))
    port = s.secure_client_port
    if not 0 <= port <= 65535:
        raise ConfigError("secureClientPort %d is out of range" % port)
    if "client_port" not in s.given:
        # ZooKeeper opens no plaintext port then.
        s.client_port = None
    if s.cnxn_factory != NETTY_FACTORY:
        # ZooKeeper's NIO factory throws "SSL isn't supported in NIOServerCnxn"
        # and the server exits 1; say what to set instead.
        raise ConfigError("secureClientPort=%d needs serverCnxnFactory=%s, as in ZooKeeper "
                          "(its NIO factory cannot serve TLS and it refuses to start)"
                          % (port, NETTY_FACTORY))
    if s.ssl_auth_provider not in (None, "x509"):
        raise ConfigError("ssl.authProvider=%s: zkwire has the x509 provider only"
                          % s.ssl_auth_provider)
    if s.ssl_context_supplier:
        raise ConfigError("ssl.context.supplier.class=%s: zkwire cannot load Java classes; "
                          "configure the key and trust stores instead" % s.ssl_context_supplier)
    for attr, key in (("ssl_crl", "ssl.crl"), ("ssl_ocsp", "ssl.ocsp")):
        if getattr(s, attr):
            raise ConfigError("%s=true: zkwire does not check certificate revocation yet; "
                              "refusing to start" % key)
    if s.ssl_hostname_verification and s.ssl_client_hostname_verification:
        raise ConfigError("ssl.clientHostnameVerification=true: zkwire does not verify client "
                          "host names yet; refusing to start")
    for attr, path_attr, key in (
            ("ssl_key_store_password", "ssl_key_store_password_path", "ssl.keyStore.passwordPath"),
            ("ssl_trust_store_password", "ssl_trust_store_password_path",
             "ssl.trustStore.passwordPath")):
        path = getattr(s, path_attr)
        if path:
            # ZooKeeper's SecretUtils.readSecret: the file, less one line end.
            try:
                with open(path, encoding="utf-8") as f:
                    secret = f.read()
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError("%s=%s: cannot read it: %s" % (key, path, e)) from None
            if secret.endswith("\n"):
                secret = secret[:-1]
            setattr(s, attr, secret)
    from .tls import available

    why = available()
    if why is not None:
        raise ConfigError("secureClientPort=%d: %s" % (port, why))


def tls_options(s):
    """The TlsOptions of ``s`` (a secure client port configured)."""
    from .tls import TlsOptions

    return TlsOptions(
        key_store=s.ssl_key_store, key_store_password=s.ssl_key_store_password,
        key_store_type=s.ssl_key_store_type, trust_store=s.ssl_trust_store,
        trust_store_password=s.ssl_trust_store_password,
        trust_store_type=s.ssl_trust_store_type, client_auth=s.ssl_client_auth,
        protocol=s.ssl_protocol, enabled_protocols=s.ssl_enabled_protocols,
        ciphersuites=s.ssl_ciphersuites, super_user=s.x509_super_user)
