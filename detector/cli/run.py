"""``nce run --config FILE [--out DIR] [--until-eof] [--duration S] [--metrics-port P]``.

Runs the edge pipeline on the site config's cameras until SIGINT/SIGTERM, ``--duration`` or (with
``--until-eof``) the end of the files. Where hit events go is decided in one place,
:func:`build_sinks`: the hits file now; the evidence packager and the outbox add themselves there.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from detector.cli.site_config import CONFIG_PROBLEMS_EXIT, load_or_report
from detector.config import SiteConfig
from detector.errors import DetectorError
from detector.events import EventSink

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from detector.native_log import NativeLogCapture
    from detector.yolo import ModelInfo

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="run the edge pipeline on the site config's cameras",
        description=(
            "Run the edge pipeline on the site config's cameras until Ctrl-C/SIGTERM, --duration or "
            "(--until-eof) the end of the files. Hits go to --out, or without it through the uplink "
            "to the case service; with neither they are only logged."
        ),
    )
    parser.add_argument("--config", required=True, type=Path, help="site config YAML")
    parser.add_argument("--out", type=Path, help="write DIR/hits.jsonl (and evidence, where enabled)")
    parser.add_argument(
        "--until-eof",
        action="store_true",
        help="read files as fast as the model allows and stop at their end (tests, recordings)",
    )
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    parser.add_argument("--metrics-port", type=int, metavar="P", help="serve Prometheus metrics on this port")
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address the metrics are served on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)",
    )
    parser.set_defaults(func=_run)


def build_sinks(
    config: SiteConfig,
    args: argparse.Namespace,
    *,
    model_info: ModelInfo | None = None,
    registry: CollectorRegistry | None = None,
) -> list[EventSink]:
    """The event sinks for this run, in the order they receive events.

    The one place to add a sink: build it from ``config`` and ``args`` and append it here.
    ``--out DIR``: DIR/hits.jsonl and (with a device key) DIR/evidence/, nothing delivered.
    Without ``--out`` and with ``uplink``: the same under ``uplink.data_dir``, every event and
    package queued in the outbox and delivered (docs/delivery.md). ``mqtt``: live alerts.
    """
    from detector.hitlog import HitLog

    sinks: list[EventSink] = []
    if args.out is not None:
        sinks.append(HitLog(args.out))
        if config.device is not None:
            from detector.sinks import evidence_packager

            sinks.append(evidence_packager(config, args.out, model_info=model_info, registry=registry))
    elif config.uplink is not None:
        from detector.delivery.wiring import delivery_sinks

        sinks += delivery_sinks(config, model_info=model_info, registry=registry)
    if config.mqtt is not None:
        from detector.sinks import mqtt_alerts

        alerts = mqtt_alerts(config, config.mqtt, registry=registry)
        alerts.start()
        sinks.append(alerts)
    return sinks


def _capture_native_log() -> NativeLogCapture | None:
    """FFmpeg's and OpenCV's stderr lines as NCE log lines (:mod:`detector.native_log`), where
    stderr is the process's own (not a test's capture)."""
    import sys

    from detector.native_log import NativeLogCapture

    try:
        if sys.stderr.fileno() != 2:
            return None
    except (AttributeError, OSError, ValueError):
        return None
    native = NativeLogCapture()
    native.start()
    return native


def _run(args: argparse.Namespace) -> int:
    if args.duration is not None and args.duration <= 0:
        raise DetectorError(f"--duration must be > 0 seconds, got {args.duration:g}")
    config = load_or_report(args.config)
    if config is None:
        return CONFIG_PROBLEMS_EXIT

    from detector.metrics import PipelineMetrics
    from detector.model_setup import detector_from_config
    from detector.pipeline import Pipeline, PipelineOptions
    from detector.rollout import health_rules, start_poller

    detector = detector_from_config(config)
    metrics = PipelineMetrics()
    if args.metrics_port is not None:
        try:
            port = metrics.serve(args.metrics_port, addr=args.metrics_host)
        except OSError as exc:
            raise DetectorError(
                f"cannot serve metrics on {args.metrics_host} port {args.metrics_port}: {exc.strerror}"
            ) from exc
        log.info("metrics on http://%s:%d/metrics", args.metrics_host, port)
    if args.out is None and config.uplink is None:
        log.warning(
            "no --out and no uplink in %s: hits are only logged, nothing is kept or delivered "
            "(pass --out DIR, or add an uplink section)",
            args.config,
        )
    sinks = build_sinks(config, args, model_info=detector.info, registry=metrics.registry)
    pipeline = Pipeline(
        config,
        detector,
        sinks,
        options=PipelineOptions(
            until_eof=args.until_eof, duration_s=args.duration, health=health_rules(config)
        ),
        metrics=metrics,
    )
    poller = start_poller(config, pipeline)

    stop_heartbeat = None
    if args.out is None and config.uplink is not None:
        from detector.delivery.wiring import start_heartbeat

        readers = [rt.reader for rt in pipeline.cameras]
        stop_heartbeat = start_heartbeat(
            config, lambda: readers, sinks, model_info=detector.info, registry=metrics.registry
        )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        pipeline.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    log.info(
        "running %d camera(s) with %s (%s)",
        len(pipeline.cameras),
        detector.info.path.name,
        ", ".join(detector.info.providers),
    )
    native = _capture_native_log()
    try:
        summary = pipeline.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if stop_heartbeat is not None:
            stop_heartbeat()
        metrics.close()
        if poller is not None:
            poller.stop()
        if native is not None:
            native.stop()
    log.info("done: %s", summary.line())
    return 0
