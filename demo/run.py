"""``nce demo``: the whole chain on one machine, camera to reviewable case, in one command.

1. a scenario clip on real footage (``nce data scenario``: vtest.avi with violations composited in),
2. a signing key for the demo edge box and one for the service's log checkpoints (``nce keys generate``),
3. the case service on SQLite under ``var/demo`` (``nce serve --demo``), a demo operator account
   and the edge box enrolled (``nce admin``),
4. the edge pipeline on the scenario with the shipped model (``nce run``), hits delivered through the
   outbox, with ``learning`` on: sample packages (frames to learn from) go to the service's frame
   pool the same way,
5. a summary (hits, cases filed, packages verified) and the console URL; then it serves until
   Ctrl-C, or with ``--exit --json`` prints the summary as one JSON object and stops.

Each step runs the real command as a child process, exactly as an operator would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from nce.errors import NceError

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-operator-2026"
DEFAULT_MODEL = Path("models/street-v1.onnx")
DEMO_DEVICE = "edge-demo-01"


class DemoError(NceError):
    """A demo step failed; the message names the step and what it printed."""


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help="run the whole chain on a demo scenario and serve the console")
    parser.add_argument(
        "--dir", type=Path, default=Path("var/demo"), help="working folder (default var/demo)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="service port (default 8000; 0: any free port)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX model for the edge")
    parser.add_argument("--seed", type=int, default=7, help="scenario seed")
    parser.add_argument("--exit", action="store_true", help="stop after the summary instead of serving")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.set_defaults(func=_demo)


def _say(args: argparse.Namespace, message: str) -> None:
    # progress goes to stderr so that --json leaves stdout with exactly one object
    print(f"[demo] {message}", file=sys.stderr, flush=True)


def _nce(*argv: str, stdin: str | None = None, step: str, timeout: float = 1800) -> str:
    cmd = [sys.executable, "-m", "nce", *argv]
    try:
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DemoError(f"{step}: `nce {' '.join(argv)}` did not finish in {timeout:.0f} s") from exc
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise DemoError(f"{step}: `nce {' '.join(argv)}` exited {res.returncode}: {last}")
    return res.stdout


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the service exited with {proc.returncode} during start (see {log})")
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise DemoError(f"the service did not answer {url}/healthz within {timeout:.0f} s")


def _scenario(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    scen = root / "scenario"
    truth = scen / "ground_truth.json"
    if not truth.exists():
        _say(args, f"rendering the scenario clip on vtest.avi (once; cached in {scen})")
        _nce(
            "data",
            "scenario",
            "--out",
            str(scen),
            "--seed",
            str(args.seed),
            "--model",
            str(args.model),
            step="scenario",
        )
    doc: dict[str, Any] = json.loads(truth.read_text(encoding="utf-8"))
    return doc


def learning_section() -> dict[str, Any]:
    """The demo's ``learning`` section: on, so that the frame pool has samples to label (one
    ordinary frame per camera and minute, low-confidence and near-miss frames at most every 10 s)."""
    return {"enabled": True, "periodic_every_s": 60, "min_gap_s": 10}


def _site_config(args: argparse.Namespace, root: Path, url: str, token_file: Path, key_file: Path) -> Path:
    data: dict[str, Any] = yaml.safe_load((root / "scenario" / "site.yaml").read_text(encoding="utf-8"))
    data["model"]["path"] = str(args.model.resolve())
    data["device"] = {"id": DEMO_DEVICE, "key_file": str(key_file.resolve())}
    from modeling.synth.scenario import CAMERA_LOCATION, CAMERA_NAME

    for camera in data["cameras"]:
        camera["source"] = str(Path(camera["source"]).resolve())
        # a scenario rendered before cameras had a name and place for people (cached in var/demo)
        if camera.get("name", "").endswith("(vtest.avi)"):
            camera["name"] = CAMERA_NAME
        camera.setdefault("location", dict(CAMERA_LOCATION))
    data["uplink"] = {
        "service_url": url,
        "token_file": str(token_file.resolve()),
        "outbox_file": str((root / "edge" / "outbox.sqlite").resolve()),
        "data_dir": str((root / "edge").resolve()),
        "drain_s": 60.0,
    }
    data["learning"] = learning_section()
    path = root / "site.demo.yaml"
    path.write_text(
        "# Written by `nce demo`: the scenario's site config with the demo key, uplink and learning on.\n"
        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return path


def _api(url: str, token: str, path: str) -> Any:
    import httpx

    res = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    res.raise_for_status()
    return res.json()


def _parties(url: str, token: str) -> list[str]:
    """The parties (shop id and name) the cases name, from each case's detail as the console shows it."""
    found: set[str] = set()
    cursor = None
    while True:
        page = _api(url, token, "/api/v1/cases?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        for case in page.get("items", []):
            if case.get("shop_id"):
                party = _api(url, token, f"/api/v1/cases/{case['id']}").get("party")
                found.add(f"{party['shop_id']} {party['name']}" if party else f"{case['shop_id']} (no party)")
        cursor = page.get("next_cursor")
        if not cursor:
            return sorted(found)


def _count_cases(url: str, token: str) -> int:
    total, cursor = 0, None
    while True:
        page = _api(url, token, "/api/v1/cases?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        total += len(page.get("items", []))
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def _demo(args: argparse.Namespace) -> int:
    import httpx

    root: Path = args.dir
    if not args.model.is_file():
        raise DemoError(f"model {args.model} not found: the shipped model is models/street-v1.onnx")
    from nce.ports import check_port_free

    check_port_free(args.host, args.port)  # before minutes of rendering
    root.mkdir(parents=True, exist_ok=True)
    truth = _scenario(args, root)

    # a fresh service and edge state each run (the scenario and the key are kept)
    for stale in ("service", "edge", "site.demo.yaml"):
        target = root / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    device_id = DEMO_DEVICE
    keys = root / "keys"
    key_file = keys / f"{device_id}.key"
    if not key_file.exists():
        _say(args, f"generating the signing key of {device_id}")
        _nce("keys", "generate", "--out", str(keys), "--device-id", device_id, step="keys")
    service_key = keys / "service.key"  # the service's checkpoint signing key (NCE_SERVICE_KEY_FILE)
    if not service_key.exists():
        _nce("keys", "generate", "--out", str(keys), "--device-id", "service", step="service key")

    service_dir = root / "service"
    service_dir.mkdir(parents=True)
    db = f"sqlite:///{(service_dir / 'nce.sqlite3').resolve()}"
    evidence_dir = service_dir / "evidence"
    _nce("db", "upgrade", "--db", db, step="database")
    # the shop registry from the site config, so that a 出店经营 case names its party
    _nce("admin", "import-shops", "--db", db, str(root / "scenario" / "site.yaml"), step="shops")
    _nce(
        "admin",
        "add-user",
        "--db",
        db,
        "--username",
        DEMO_USER,
        "--role",
        "operator",
        "--password-stdin",
        stdin=DEMO_PASSWORD + "\n",
        step="operator account",
    )
    token_out = _nce(
        "admin",
        "add-device",
        "--db",
        db,
        "--device-id",
        device_id,
        "--pubkey",
        str(keys / f"{device_id}.pub"),
        step="enrol device",
    )
    token = token_out.strip()
    token_file = keys / f"{device_id}.token"
    token_file.write_text(token + "\n", encoding="utf-8")
    os.chmod(token_file, 0o600)

    port = args.port or _free_port(args.host)
    url = f"http://{args.host}:{port}"
    log = (root / "service.log").open("wb")
    env = {**os.environ, "NCE_DEMO": "1", "NCE_SERVICE_KEY_FILE": str(service_key.resolve())}
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nce",
            "serve",
            "--demo",
            "--host",
            args.host,
            "--port",
            str(port),
            "--db",
            db,
            "--evidence-dir",
            str(evidence_dir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        _wait_healthy(url, serve, root / "service.log")
        _say(args, f"service up at {url}; running the edge pipeline on the scenario (this takes a minute)")
        config = _site_config(args, root, url, token_file, key_file)
        edge_out = _nce("run", "--config", str(config), "--until-eof", step="edge pipeline")
        del edge_out
        status = json.loads(_nce("outbox", "status", "--config", str(config), "--json", step="outbox status"))
        verified = _verify_packages(root, device_id)
        ledger_entries = _verify_ledger(db)
        login = httpx.post(
            f"{url}/api/v1/auth/login", json={"username": DEMO_USER, "password": DEMO_PASSWORD}, timeout=30
        )
        login.raise_for_status()
        op_token = login.json()["access_token"]
        summary = {
            "hits": _confirmed_hits(root / "edge" / "hits.jsonl"),
            "samples": sum(1 for _ in (root / "edge" / "evidence").glob("*-sample/manifest.json")),
            "delivered": status["delivered"],
            "cases": _count_cases(url, op_token),
            "verified": verified,
            "ledger_entries": ledger_entries,
            "url": f"{url}/",
            "pending": status["pending"],
            "poisoned": status["poisoned"],
            "violations_in_scenario": len(truth.get("violations", [])),
            "operator": {"username": DEMO_USER, "password": DEMO_PASSWORD},
            "parties": _parties(url, op_token),
            "dir": str(root.resolve()),
        }
        if args.json:
            print(json.dumps(summary, ensure_ascii=False))
        else:
            print(
                f"NCE demo: {summary['hits']} confirmed hit(s) ({summary['delivered']} outbox item(s) delivered), "
                f"{summary['cases']} case(s) filed, {summary['samples']} learning sample(s) sent, "
                f"{verified} evidence package(s) verified offline (device key, hash chain), "
                f"ledger of {ledger_entries} entries intact.\n"
                f"The scenario has {summary['violations_in_scenario']} violation(s) composited in; a hit is "
                "the edge confirming one in a zone (one violation may give several hits, a missed one "
                "none), and hits of the same shop or zone and kind join one case.\n"
                f"Parties of the cases: {', '.join(summary['parties']) or 'none (no shop_frontage case)'}\n"
                f"Files: {summary['dir']} (service.log, site.demo.yaml, edge/, service/)\n"
                f"Console: {url}/  — sign in as {DEMO_USER} / {DEMO_PASSWORD}\n"
                "Serving until Ctrl-C."
            )
        if args.exit:
            return 0
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            serve.wait()
        return 0
    finally:
        if serve.poll() is None:
            serve.terminate()
            try:
                serve.wait(10)
            except subprocess.TimeoutExpired:
                serve.kill()
        log.close()


def _confirmed_hits(hits_file: Path) -> int:
    """Distinct hits that reached `confirmed` in the edge's hits.jsonl."""
    if not hits_file.exists():
        return 0
    confirmed = set()
    for line in hits_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            event = json.loads(line)
            if event.get("event") == "confirmed":
                confirmed.add(event["hit_id"])
    return len(confirmed)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _verify_packages(root: Path, device_id: str) -> int:
    """Verify every package the edge wrote, offline, as an auditor would: `nce evidence verify` against
    the device's enrolled public key (not the key a manifest names) with the hash chain checked."""
    manifests = sorted((root / "edge").rglob("manifest.json"))
    folders = {m.parent.parent for m in manifests}
    for folder in sorted(folders):
        _nce(
            "evidence",
            "verify",
            str(folder),
            "--pubkey",
            str(root / "keys" / f"{device_id}.pub"),
            "--chain",
            step=f"verify the packages in {folder}",
        )
    return len(manifests)


def _verify_ledger(db: str) -> int:
    """Recompute the service's hash-chained ledger; returns its number of entries."""
    result = json.loads(_nce("ledger", "verify", "--db", db, "--json", step="ledger verify"))
    return int(result["entries"])
