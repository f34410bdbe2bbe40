"""The site-config files generated from the models: in sync, complete, and loadable."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

import detector.config as config
from detector.config import SiteConfig, load_site_config
from detector.config.generate import generated_files, main, reference_yaml, schema_text

ROOT = Path(__file__).resolve().parents[1]


def _types(tp: Any) -> list[Any]:
    """``tp`` and every type inside it (``list[A | Annotated[B, ...]]`` → A, B, …)."""
    return [tp, *(t for arg in typing.get_args(tp) for t in _types(arg))]


def all_models(model: type[BaseModel] = SiteConfig) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        for inner in _types(field.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in found:
                found += [m for m in all_models(inner) if m not in found]
    return found


@pytest.mark.parametrize("rel", sorted(str(p) for p in generated_files()))
def test_committed_file_is_what_the_generator_writes(rel: str) -> None:
    text = generated_files()[Path(rel)]
    assert (ROOT / rel).read_text(encoding="utf-8") == text, (
        f"{rel} is stale: run `python -m detector.config.generate`"
    )


def test_check_flag_finds_a_stale_file_and_the_generator_mends_it(tmp_path: Path) -> None:
    assert main(["--root", str(tmp_path), "--check"]) == 1  # nothing there yet
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--root", str(tmp_path), "--check"]) == 0
    full = tmp_path / "configs" / "site.full.yaml"
    full.write_text(full.read_text(encoding="utf-8").replace("conf: 0.35", "conf: 0.4"), encoding="utf-8")
    assert main(["--root", str(tmp_path), "--check"]) == 1


def test_every_field_and_section_is_described() -> None:
    models = all_models()
    assert (
        len(models) == 21
    )  # + learning (LearningSettings, SampleBudget), cameras[].masks (Mask), rollout, cameras[].decode and
    # model.providers' TensorRT and CUDA entries
    undescribed = [
        f"{m.__name__}.{name}"
        for m in models
        for name, field in m.model_fields.items()
        if not field.title or not field.description
    ]
    assert not undescribed
    assert all(m.__doc__ and m.__doc__.strip() for m in models)
    assert sum(len(m.model_fields) for m in models) >= 86


def test_reference_config_has_every_key_with_its_default() -> None:
    loaded = load_site_config(ROOT / "configs" / "site.full.yaml")

    def walk(value: BaseModel, where: str) -> None:
        for name, field in type(value).model_fields.items():
            got = getattr(value, name)
            if isinstance(got, BaseModel):
                walk(got, f"{where}.{name}")
            elif isinstance(got, list) and any(isinstance(g, BaseModel) for g in got):
                # one example item, or an example list of names and sections (model.providers)
                assert len(got) == 1 or field.examples, f"{where}.{name}: one example item"
                for i, g in enumerate(got):
                    if isinstance(g, BaseModel):
                        walk(g, f"{where}.{name}[{i}]")
            elif not field.examples:
                default = field.get_default(call_default_factory=True)
                assert got == default, f"{where}.{name} shows {got!r}, not its default {default!r}"

    walk(loaded, "")
    text = reference_yaml()
    for model in all_models():
        for name, field in model.model_fields.items():
            key = re.escape(field.alias or name)
            assert re.search(rf"^ *(- )?{key}:", text, re.M), f"{model.__name__}.{name} missing"


def test_schema_describes_the_contract() -> None:
    schema = json.loads(schema_text())
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) == {"site", "model", "cameras", "rules"}
    zone = schema["$defs"]["Zone"]
    assert zone["properties"]["kind"]["enum"] == list(config.ZONE_KINDS)
    assert zone["additionalProperties"] is False
    window = schema["$defs"]["TimeWindow"]["properties"]
    assert set(window) == {"from", "to"} and window["from"]["pattern"].startswith("^")
    assert schema["$defs"]["Exemption"]["properties"]["days"]["items"]["enum"] == list(config.WEEKDAYS)


def test_schema_examples_are_valid_values() -> None:
    """The examples the schema advertises load: the reference config is built from them."""
    data: Any = yaml.safe_load(reference_yaml())
    assert SiteConfig.model_validate(data).cameras[0].zones[0].shop_id == "S-0001"


def test_cli_prints_the_schema() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "nce", "config", "schema"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == (ROOT / "docs" / "site-config.schema.json").read_text(encoding="utf-8")


def test_module_check_passes_on_the_checkout() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "detector.config.generate", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
