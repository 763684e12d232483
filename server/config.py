"""Configuration: a standard ``zoo.cfg`` plus ZooKeeper's Java system properties.

``load(cfg_path, props, overrides)`` returns a :class:`Settings`.  Rules, as in
ZooKeeper's QuorumPeerConfig where they apply:

* ``key=value`` lines; ``#`` comments and blank lines are skipped; whitespace
  around keys and values is trimmed.
* A key zoo.cfg does not define is tried as the system property
  ``zookeeper.<key>`` (that is what ZooKeeper does with it).
* Keys we do not know at all (ssl.*, serverCnxnFactory, metricsProvider...)
  produce one warning line each and are otherwise ignored.
* A value that does not parse is a :class:`ConfigError` naming the key and the
  line: the caller prints it as one line and exits non-zero.
"""
from __future__ import annotations


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
    "jute.maxbuffer": ("max_buffer", _int),
    "skipACL": ("skip_acl", _bool),
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
    "zookeeper.extendedTypesEnabled": ("extended_types", _bool),
    "zookeeper.emulate353TTLNodes": ("emulate_353_ttl", _bool),
    "zookeeper.DigestAuthenticationProvider.superDigest": ("super_digest", _str),
    "zookeeper.skipACL": ("skip_acl", _bool),
    "zookeeper.4lw.commands.whitelist": ("four_letter_whitelist", _list),
    "zookeeper.snapCount": ("snap_count", _int),
    "zookeeper.preAllocSize": ("prealloc_kb", _int),
    "zookeeper.forceSync": ("force_sync", _bool),
    "zookeeper.admin.enableServer": ("admin_enable_server", _bool),
    "zookeeper.admin.serverPort": ("admin_server_port", _int),
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
        self.warnings = []

    def as_dict(self):
        return {k: v for k, v in vars(self).items() if k != "warnings"}


def _apply(settings, table, key, value, where):
    attr, parse = table[key]
    try:
        setattr(settings, attr, parse(value))
    except ValueError as e:
        raise ConfigError("%s: invalid value %r for %s (%s)" % (where, value.strip(), key, e)) from None


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
            if key in CFG_KEYS:
                _apply(s, CFG_KEYS, key, value, where)
            elif key.startswith("server.") or key.startswith("group.") or key.startswith("weight."):
                # Ensemble membership: accepted now, used once replication lands.
                try:
                    sid = int(key.split(".", 1)[1])
                except ValueError:
                    raise ConfigError("%s: invalid server id in %s" % (where, key)) from None
                if key.startswith("server."):
                    s.servers[sid] = value.strip()
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
    _check(s)
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
