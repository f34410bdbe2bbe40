"""``nce outbox status|retry-poisoned --config FILE``: what the edge still owes the service."""

from __future__ import annotations

import argparse
from typing import Any

from detector.config import load_site_config
from detector.delivery.outbox import Outbox


def register(sub: Any) -> None:
    parser = sub.add_parser("outbox", help="the edge outbox (store-and-forward to the service)")
    inner = parser.add_subparsers(dest="outbox_command", metavar="ACTION")
    inner.required = True
    status = inner.add_parser("status", help="pending, delivered and poisoned items")
    status.add_argument("--config", required=True, help="site config YAML")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=_status)
    retry = inner.add_parser("retry-poisoned", help="queue poisoned items again")
    retry.add_argument("--config", required=True, help="site config YAML")
    retry.set_defaults(func=_retry)
    deliver = inner.add_parser(
        "deliver", help="deliver what is pending to uplink.service_url now, without running cameras"
    )
    deliver.add_argument("--config", required=True, help="site config YAML")
    deliver.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="give up after S seconds (default 300)"
    )
    deliver.set_defaults(func=_deliver)


def _open(config_file: str) -> Outbox:
    """The config's outbox; one that does not exist is an error, never a new empty one (a command run
    with the wrong config or from the wrong folder would otherwise report zeros)."""
    from detector.errors import DetectorError

    config = load_site_config(config_file)
    path = config.outbox_path()
    if not path.is_file():
        where = "uplink.outbox_file" if config.uplink and config.uplink.outbox_file else "the default"
        raise DetectorError(
            f"no outbox at {path} ({where}, relative to {config_file}'s folder): nothing was queued "
            "there yet; is this the config `nce run` used?"
        )
    return Outbox(path)


def _status(args: argparse.Namespace) -> int:
    box = _open(args.config)
    st = box.status()
    if args.json:
        print(st.model_dump_json())
        return 0
    oldest = "—" if st.oldest_pending_s is None else f"{st.oldest_pending_s:.0f} s"
    print(f"outbox {box.path}")
    print(f"  pending:   {st.pending} (oldest {oldest})")
    print(f"  delivered: {st.delivered}")
    print(f"  poisoned:  {st.poisoned}")
    head = box.head()
    if head is not None and head.attempts:
        print(
            f"  head: seq {head.seq} {head.kind} {head.hit_id} {head.event}, {head.attempts} attempt(s): {head.last_error}"
        )
    for item in box.items("poisoned"):
        print(f"    seq {item.seq} {item.kind} {item.hit_id} {item.event}: {item.last_error}")
    return 0


def _retry(args: argparse.Namespace) -> int:
    count = _open(args.config).retry_poisoned()
    print(f"{count} poisoned item(s) queued again")
    return 0


def _deliver(args: argparse.Namespace) -> int:
    """Recover and deliver the outbox; exit 0 when nothing is pending, 3 when some is left."""
    from detector.delivery import DeliveryMetrics, OutboxSink
    from detector.delivery.wiring import make_relay
    from detector.errors import DetectorError

    config = load_site_config(args.config)
    if config.uplink is None or config.device is None:
        raise DetectorError(f"{args.config}: no uplink (or no device) section: nowhere to deliver to")
    box = _open(args.config)
    metrics = DeliveryMetrics()
    relay, release = make_relay(config, box, metrics)
    sink = OutboxSink(
        box,
        config.device.id,
        config.edge_data_dir() / "evidence",
        relay=relay,
        metrics=metrics,
        drain_s=0.0,
        on_close=release,
    )
    sink.start()
    print(f"delivering {box.status().pending} pending item(s) to {config.uplink.service_url}", flush=True)
    empty = sink.wait_empty(args.timeout)
    st = box.status()
    sink.close()
    print(f"delivered {st.delivered}, pending {st.pending}, poisoned {st.poisoned}", flush=True)
    return 0 if empty else 3
