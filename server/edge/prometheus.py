"""ZooKeeper's PrometheusMetricsProvider: ``GET /metrics`` on its own port.

Configured as in ZooKeeper::

    metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
    metricsProvider.httpHost=127.0.0.1      # default 0.0.0.0
    metricsProvider.httpPort=7000           # the default

What it exposes is ZooKeeper 3.9.5's provider (read from its source; Debian's
3.8.0 package does not ship the provider's jars): every metric of the
registry (server/core/metrics.py) under its ZooKeeper name, with help text
equal to the name, as

* a counter: ``# TYPE <name> counter`` and one ``<name>`` sample (ZooKeeper
  3.9 uses Prometheus simpleclient 0.9, which does not add ``_total``);
* a summary: ``<name>{quantile="0.5"}`` (basic summaries), plus 0.9 and
  0.99 (advanced ones), ``<name>_count``, ``<name>_sum``; a summary set is the
  same with a ``key`` label (the namespace, the learner's sid);
* a gauge: ``<name>``, 0 when ZooKeeper's gauge would answer null.

zkwire's quantiles come from its own uniform reservoir of the last reset
(srst), where simpleclient keeps a ten-minute sliding window.  With
``metricsProvider.exportJvmInfo`` (default true) ZooKeeper adds the JVM's
``jvm_*`` and ``process_*`` series; zkwire adds ``process_*`` (from
prometheus_client's process collector: the same names) and no ``jvm_*``.

prometheus_client provides the metric model and value formatting; the text
is written here because prometheus_client's writer renames a counter family
to ``<name>_total``, which is not the name ZooKeeper's dashboards query.
The core never sees any of this: a scrape reads the registry and the gauges
(the same figures as mntr) when it comes.
"""
from __future__ import annotations

import logging

from twisted.web import resource, server as web_server

from ..core import metrics as M

log = logging.getLogger("zkwire.prometheus")

PROVIDER_CLASS = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
DEFAULT_PROVIDER_CLASS = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider"
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
BASIC_QUANTILES = (0.5,)
ADVANCED_QUANTILES = (0.5, 0.9, 0.99)


def available() -> bool:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class ZooKeeperCollector:
    """A prometheus_client collector over one server's registry and gauges."""

    def __init__(self, server):
        self.server = server

    def collect(self):
        from prometheus_client.core import Metric

        srv = self.server
        reg = srv.core.metrics
        gauges = srv.fourlw.gauges()
        for name, value in gauges.items():
            m = Metric(name, name, "gauge")
            m.add_sample(name, {}, float(value or 0))
            yield m
        for name, kind in reg.catalogue:
            if kind == M.COUNTER:
                m = Metric(name, name, "counter")
                m.add_sample(name, {}, float(reg.counters[name]))
                yield m
            elif kind in (M.BASIC, M.ADVANCED):
                m = Metric(name, name, "summary")
                _summary_samples(m, name, {}, reg.summaries[name], kind == M.ADVANCED)
                yield m
            else:
                m = Metric(name, name, "summary")
                s = reg.sets[name]
                for key, summ in list(s.by_key.items()):
                    _summary_samples(m, name, {"key": key}, summ, kind == M.ADVANCED_SET)
                yield m


def _summary_samples(m, name, labels, summ, advanced: bool) -> None:
    for q in (ADVANCED_QUANTILES if advanced else BASIC_QUANTILES):
        ql = dict(labels)
        ql["quantile"] = str(q)
        m.add_sample(name, ql, float(summ.quantile(q)) if summ.count else float("nan"))
    m.add_sample(name + "_count", dict(labels), float(summ.count))
    m.add_sample(name + "_sum", dict(labels), float(summ.total))


def _escape_help(s: str) -> str:
    return s.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(s: str) -> str:
    return s.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


def exposition(registry) -> bytes:
    """The Prometheus text format (0.0.4) of every family in ``registry``,
    family names as the collectors give them."""
    from prometheus_client.utils import floatToGoString

    out = []
    for family in registry.collect():
        out.append("# HELP %s %s\n# TYPE %s %s\n" % (family.name, _escape_help(family.documentation),
                                                   family.name, family.type))
        for s in family.samples:
            if s.labels:
                labels = "{%s}" % ",".join('%s="%s"' % (k, _escape_label(v))
                                           for k, v in sorted(s.labels.items(),
                                                              key=lambda kv: kv[0] == "quantile"))
            else:
                labels = ""
            out.append("%s%s %s\n" % (s.name, labels, floatToGoString(s.value)))
    return "".join(out).encode("utf-8")


class MetricsResource(resource.Resource):
    isLeaf = True

    def __init__(self, registry, process_registry=None):
        super().__init__()
        self.registry = registry
        self.process_registry = process_registry

    def render_GET(self, request):
        if request.path != b"/metrics":
            request.setResponseCode(404)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"Not Found\n"
        try:
            body = exposition(self.registry)
            if self.process_registry is not None:
                from prometheus_client import generate_latest

                body += generate_latest(self.process_registry)
        except Exception:
            log.exception("collecting metrics failed")
            request.setResponseCode(500)
            return b"metrics collection failed\n"
        request.setHeader(b"content-type", CONTENT_TYPE)
        return body


def listen(reactor, server, port: int = 7000, host: str = "0.0.0.0", export_process: bool = True):
    """Serve /metrics for ``server``; -> the listening port."""
    from prometheus_client import CollectorRegistry

    server.core.metrics.keep_samples()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ZooKeeperCollector(server))
    process_registry = None
    if export_process:
        from prometheus_client import ProcessCollector

        process_registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=process_registry)
    site = web_server.Site(MetricsResource(registry, process_registry), timeout=30)
    site.displayTracebacks = False
    site.noisy = False
    return reactor.listenTCP(port, site, interface=host)
