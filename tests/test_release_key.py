"""A site trusts one release key: ``model.release_pubkey`` checks the shipped model and every release
the rollout poller takes; ``rollout.release_pubkey`` only stands in where the model section names
none, and naming a different file there is a config error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.config import parse_site_config
from detector.config.site import release_key
from detector.errors import ConfigError

EXAMPLE = Path("configs/site.example.yaml")


def _site(model_key: str | None, rollout_key: str | None) -> dict[str, Any]:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["model"]["release_pubkey"] = model_key
    doc["device"] = {"id": "edge-01", "key_file": "keys/edge-01.key"}
    doc["uplink"] = {"service_url": "http://127.0.0.1:8000", "token_file": "keys/edge-01.token"}
    doc["rollout"] = {"enabled": True, "release_pubkey": rollout_key}
    return doc


@pytest.mark.parametrize(
    ("model_key", "rollout_key", "expected"),
    [
        ("keys/release.pub", None, "keys/release.pub"),
        (None, "keys/release.pub", "keys/release.pub"),
        ("keys/release.pub", "keys/release.pub", "keys/release.pub"),
    ],
)
def test_the_site_has_one_release_key(model_key: str | None, rollout_key: str | None, expected: str) -> None:
    config = parse_site_config(_site(model_key, rollout_key), str(EXAMPLE))
    key = release_key(config)
    assert key is not None and key.name == Path(expected).name


@pytest.mark.parametrize(
    ("model_key", "rollout_key", "words"),
    [
        ("keys/release.pub", "keys/other.pub", "a site trusts one release key"),
        (None, None, "set uplink and model.release_pubkey"),
    ],
)
def test_a_second_or_missing_release_key_is_refused(
    model_key: str | None, rollout_key: str | None, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_site_config(_site(model_key, rollout_key), str(EXAMPLE))
