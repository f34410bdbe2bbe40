"""Site config: the shipped example loads; broken configs name file, field and reason."""

from __future__ import annotations

import copy
import datetime as dt
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.config import (
    WEEKDAYS,
    ZONE_KINDS,
    Exemption,
    TimeWindow,
    Weekday,
    ZoneKind,
    load_site_config,
    parse_site_config,
)
from detector.errors import ConfigError, DetectorError, UnknownCameraError
from tests.support.cli import nce as _nce

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "configs" / "site.example.yaml"
DESIGN_EXAMPLE = ROOT.parent / "shared" / "design" / "site-config.example.yaml"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def test_example_loads() -> None:
    config = load_site_config(EXAMPLE)
    assert config.site.id == "baoshan-demo"
    assert config.cameras[0].zones[0].shop_id == "S-0001"
    assert config.rules[0].active_hours is not None
    assert config.rules[0].active_hours.start == dt.time(7, 0)
    assert config.cameras[0].zones[0].exemptions[0].days == ["sat", "sun"]


def test_full_reference_config_loads() -> None:
    config = load_site_config(ROOT / "configs" / "site.full.yaml")
    assert config.mqtt is not None and config.mqtt.topic_prefix == "nce"
    assert config.evidence.clip_codec == "h264"


@pytest.mark.skipif(not DESIGN_EXAMPLE.exists(), reason="shared design folder not beside the checkout")
@pytest.mark.optional("shared design folder not beside the checkout")  # not part of the repository
def test_design_contract_example_loads_as_it_is() -> None:
    load_site_config(DESIGN_EXAMPLE)


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    target: Any = data
    for k in keys[:-1]:
        target = target[k]
    if value is DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


DELETE = object()

BROKEN: list[tuple[str, Any, str, str]] = [
    # (dotted path to change, new value, expected problem path, expected reason fragment)
    ("cameras.0.zones.1.polygon", [[0.1, 0.1], [0.2, 0.2]], "cameras[0].zones[1].polygon", "at least 3"),
    (
        "cameras.0.zones.1.polygon",
        [[0.1, 0.1], [1.5, 0.2], [0.3, 0.9]],
        "cameras[0].zones[1].polygon",
        "0..1",
    ),
    (
        "cameras.0.zones.1.polygon",
        [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]],
        "cameras[0].zones[1].polygon",
        "no area",
    ),
    ("cameras.0.zones.1.polygon", [[0.1, 0.1], [0.2], [0.3, 0.3]], "cameras[0].zones[1].polygon", "[x, y]"),
    ("cameras.0.zones.0.shop_id", "S-9999", "cameras[0].zones[0].shop_id", "unknown shop 'S-9999'"),
    ("cameras.0.zones.0.shop_id", DELETE, "cameras[0].zones[0].shop_id", "must name its shop"),
    ("cameras.0.zones.0.kind", "plaza", "cameras[0].zones[0].kind", "'shop_frontage'"),
    ("cameras.0.zones.1.id", "z-frontage-0001", "cameras[0].zones[1].id", "duplicate zone id"),
    ("cameras.0.zones.0.exemptions.0.from", "25:00", "cameras[0].zones[0].exemptions[0].from", "HH:MM"),
    (
        "cameras.0.zones.0.exemptions.0.days",
        ["sat", "funday"],
        "cameras[0].zones[0].exemptions[0].days",
        "weekdays",
    ),
    ("cameras.0.detect_fps", 0, "cameras[0].detect_fps", "greater than 0"),
    ("cameras.0.id", "cam 01/../x", "cameras[0].id", "expected an id"),
    ("cameras.0.colour", "red", "cameras[0].colour", "unknown key"),
    ("cameras.0.name", DELETE, "cameras[0].name", "required field is missing"),
    ("rules.0.zone_kinds", ["plaza"], "rules[0].zone_kinds[0]", "'shop_frontage'"),
    ("rules.0.violation", "parking", "rules[0].violation", "out_of_shop_trading"),
    ("rules.0.active_hours.to", "7pm", "rules[0].active_hours.to", "HH:MM"),
    ("rules.0.min_dwell_s", -5, "rules[0].min_dwell_s", "greater than or equal to 0"),
    ("rules.0.classes", [], "rules[0].classes", "at least 1"),
    ("site.timezone", "Mars/Olympus", "site.timezone", "IANA time zone"),
    ("model.conf", 1.5, "model.conf", "less than or equal to 1"),
    ("shops.0.code", DELETE, "shops[0].code", "required field is missing"),
    ("uplink.service_url", "ftp://x", "uplink.service_url", "http:// or https://"),
    ("uplink.poison_after_5xx", 0, "uplink.poison_after_5xx", "greater than or equal to 1"),
    ("uplink.poison_after_5xx", "often", "uplink.poison_after_5xx", "valid integer"),
    ("cameras", [], "cameras", "at least 1"),
]


@pytest.mark.parametrize(("path", "value", "where", "why"), BROKEN)
def test_broken_configs(tmp_path: Path, path: str, value: Any, where: str, why: str) -> None:
    data = copy.deepcopy(example())
    _set(data, path, value)
    file = tmp_path / "site.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_site_config(file)
    matching = [p for p in info.value.problems if p.path == where]
    assert matching, f"no problem at {where}: {info.value.problems}"
    assert why in matching[0].message
    assert str(matching[0]).startswith(f"{file}: {where}: ")


def test_duplicate_shop_and_camera_ids_all_reported() -> None:
    data = example()
    data["shops"].append(dict(data["shops"][0]))
    cam = copy.deepcopy(data["cameras"][0])
    for z in cam["zones"]:
        z["id"] += "-b"
    data["cameras"].append(cam)
    with pytest.raises(ConfigError) as info:
        parse_site_config(data, "x.yaml")
    paths = {p.path for p in info.value.problems}
    assert {"shops[1].id", "cameras[1].id"} <= paths


@pytest.mark.parametrize(
    "text,why",
    [
        ("site: [unclosed", "not valid YAML: line"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_unparseable_files(tmp_path: Path, text: str, why: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=why):
        load_site_config(f)


def test_unquoted_yaml_times_still_parse() -> None:
    data = example()
    data["rules"][0]["active_hours"] = yaml.safe_load("{from: 07:00, to: 22:30}")
    config = parse_site_config(data)
    assert config.rules[0].active_hours == TimeWindow.model_validate({"from": "07:00", "to": "22:30"})


@pytest.mark.parametrize(
    ("window", "t", "inside"),
    [
        (("07:00", "22:00"), "06:59", False),
        (("07:00", "22:00"), "07:00", True),
        (("07:00", "22:00"), "22:00", False),
        (("22:00", "06:00"), "23:30", True),
        (("22:00", "06:00"), "05:59", True),
        (("22:00", "06:00"), "12:00", False),
    ],
)
def test_time_window_across_midnight(window: tuple[str, str], t: str, inside: bool) -> None:
    w = TimeWindow.model_validate({"from": window[0], "to": window[1]})
    assert w.contains(dt.time.fromisoformat(t)) is inside


@pytest.mark.parametrize(
    ("when", "applies"),
    [
        ("2026-11-28T19:00", True),  # Saturday evening
        ("2026-11-27T19:00", False),  # Friday evening
        ("2026-11-29T01:00", True),  # after midnight, window began Saturday
        ("2026-11-30T01:00", True),  # after midnight, window began Sunday
        ("2026-12-01T01:00", False),  # after midnight, window began Monday
    ],
)
def test_exemption_days_with_window_across_midnight(when: str, applies: bool) -> None:
    ex = Exemption.model_validate({"days": ["sat", "sun"], "from": "18:00", "to": "02:00"})
    assert ex.applies(dt.datetime.fromisoformat(when)) is applies


def test_cli_check_ok() -> None:
    res = _nce("config", "check", "--no-files", str(EXAMPLE))
    assert res.returncode == 0, res.stderr
    assert "1 camera(s), 2 zone(s), 2 rule(s)" in res.stdout


def test_cli_check_lists_every_problem_without_traceback(tmp_path: Path) -> None:
    data = example()
    data["cameras"][0]["zones"][0]["polygon"] = [[0, 0], [2, 0], [1, 1]]
    data["rules"][1]["violation"] = "parking"
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    res = _nce("config", "check", str(f))
    assert res.returncode == 2
    assert f"{f}: cameras[0].zones[0].polygon: " in res.stderr
    assert f"{f}: rules[1].violation: " in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_check_missing_file() -> None:
    res = _nce("config", "check", "/nonexistent/site.yaml")
    assert res.returncode == 2
    assert "/nonexistent/site.yaml: no such file" in res.stderr


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (-1, "greater than or equal to 0"),
        (-0.5, "greater than or equal to 0"),
        (".inf", "finite number"),
        (".nan", "finite number"),
        ("often", "valid number"),
        (True, "expected seconds"),
        (None, "valid number"),
        ([600], "valid number"),
    ],
)
def test_still_present_package_s_rejects_bad_values(tmp_path: Path, value: Any, why: str) -> None:
    data = copy.deepcopy(example())
    file = tmp_path / "site.yaml"
    text = yaml.safe_dump({**data, "evidence": {"still_present_package_s": value}}, allow_unicode=True)
    if isinstance(value, str) and value.startswith("."):
        text = text.replace(f"'{value}'", value)  # YAML's own infinity and NaN, not strings
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_site_config(file)
    [problem] = info.value.problems
    assert problem.path == "evidence.still_present_package_s"
    assert why in problem.message and str(problem).startswith(f"{file}: evidence.still_present_package_s: ")


@pytest.mark.parametrize(("value", "seconds"), [(None, 600.0), (0, 0.0), (900, 900.0), (2.5, 2.5)])
def test_still_present_package_s_default_and_values(value: Any, seconds: float) -> None:
    data = copy.deepcopy(example())
    data["evidence"] = {} if value is None else {"still_present_package_s": value}
    assert parse_site_config(data).evidence.still_present_package_s == seconds


@pytest.mark.parametrize(
    ("field_break", "field_where"),
    [
        (("cameras", 0, "detect_fps", 0), "cameras[0].detect_fps"),
        (("cameras", 0, "zones", 0, "color", "red"), "cameras[0].zones[0].color"),  # unknown key
        (("uplink_typo", {"x": 1}), "uplink_typo"),  # unknown top-level section
    ],
)
def test_field_and_cross_section_problems_are_listed_together(
    field_break: tuple[Any, ...], field_where: str
) -> None:
    data = example()
    *where, value = field_break
    target: Any = data
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    data["cameras"][0]["zones"][0]["shop_id"] = "S-9999"  # a shop the registry does not have
    with pytest.raises(ConfigError) as info:
        parse_site_config(data, "x.yaml")
    paths = [p.path for p in info.value.problems]
    assert field_where in paths
    assert "cameras[0].zones[0].shop_id" in paths, paths
    assert len(paths) == len(set(paths))


def test_a_missing_required_key_reports_the_field_problem_only() -> None:
    data = example()
    del data["cameras"][0]["zones"][0]["polygon"]
    data["shops"].append(dict(data["shops"][0]))  # duplicate: cannot be checked without a valid rest
    with pytest.raises(ConfigError) as info:
        parse_site_config(data, "x.yaml")
    assert [p.path for p in info.value.problems] == ["cameras[0].zones[0].polygon"]


@pytest.mark.parametrize(
    ("user", "probe", "expected"),
    [
        ("", 32768, "rtsp_transport;tcp|probesize;32768"),
        ("", 0, "rtsp_transport;tcp"),
        ("rtsp_transport;udp", 32768, "rtsp_transport;udp|probesize;32768"),
        ("probesize;500000|stimeout;1000", 32768, "probesize;500000|stimeout;1000|rtsp_transport;tcp"),
    ],
)
def test_ffmpeg_capture_options_keep_the_operators_own(
    monkeypatch: pytest.MonkeyPatch, user: str, probe: int, expected: str
) -> None:
    import detector.video.opencv_source as opencv_source

    monkeypatch.setattr(opencv_source, "_USER_CAPTURE_OPTIONS", user)
    assert opencv_source.capture_options(probe) == expected


def test_camera_lookup_names_the_unknown_and_the_known() -> None:
    data = example()
    data["cameras"].append({**copy.deepcopy(data["cameras"][0]), "id": "cam-02", "zones": []})
    config = parse_site_config(data)
    assert config.camera("cam-02").id == "cam-02"
    with pytest.raises(UnknownCameraError) as info:
        config.camera("cam-x")
    assert str(info.value) == "unknown camera 'cam-x'; known: cam-01, cam-02"
    assert isinstance(info.value, DetectorError) and isinstance(info.value, LookupError)


@pytest.mark.parametrize(
    ("vocabulary", "literal", "values"),
    [
        (ZONE_KINDS, ZoneKind, ("shop_frontage", "sidewalk", "road", "no_ads")),
        (WEEKDAYS, Weekday, ("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
    ],
)
def test_vocabulary_is_its_literal_type(
    vocabulary: tuple[str, ...], literal: Any, values: tuple[str, ...]
) -> None:
    assert vocabulary == typing.get_args(literal) == values


@pytest.mark.parametrize(
    "spelled_out",
    ['"shop_frontage", "sidewalk", "road", "no_ads"', '"mon", "tue", "wed", "thu", "fri", "sat", "sun"'],
)
def test_vocabulary_is_spelled_out_once(spelled_out: str) -> None:
    places = [
        str(path.relative_to(ROOT))
        for package in ("detector", "service", "nce")
        for path in sorted((ROOT / package).rglob("*.py"))
        if spelled_out in path.read_text(encoding="utf-8")
    ]
    assert len(places) == 1, places


# -- paths: relative to the config file's folder, resolved once at load ----------------------------

RELATIVE_PATHS: list[tuple[str, str]] = [
    # (dotted path in the file, relative value written there)
    ("model.path", "models/m.onnx"),
    ("cameras.0.source", "clips/cam-01.mp4"),
    ("device.key_file", "keys/edge.key"),
    ("uplink.token_file", "keys/edge.token"),
    ("uplink.outbox_file", "state/outbox.sqlite"),
    ("uplink.data_dir", "state/edge"),
    ("mqtt.password_file", "keys/mqtt.password"),
    ("evidence.font_file", "fonts/cjk.ttc"),
]


def _get(config: Any, path: str) -> Any:
    value = config
    for key in path.split("."):
        value = value[int(key)] if key.isdigit() else getattr(value, key)
    return value


def _with_relative_paths() -> dict[str, Any]:
    data = example()
    data["mqtt"] = {"host": "127.0.0.1", "username": "edge"}
    data.setdefault("evidence", {})
    for path, value in RELATIVE_PATHS:
        _set(data, path, value)
    return data


@pytest.mark.parametrize(("path", "value"), RELATIVE_PATHS)
def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, value: str
) -> None:
    folder = tmp_path / "etc" / "nce"
    folder.mkdir(parents=True)
    file = folder / "site.yaml"
    file.write_text(yaml.safe_dump(_with_relative_paths(), allow_unicode=True), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the working directory plays no part
    config = load_site_config(Path("etc/nce/site.yaml"))
    resolved = Path(_get(config, path))
    assert resolved.is_absolute() and resolved == folder / value
    assert config.base_dir == folder


def test_absolute_paths_and_streams_stay_and_defaults_follow_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = example()
    data["model"]["path"] = "/opt/nce/models/m.onnx"
    data["cameras"][0]["source"] = "rtsp://user:pw@10.0.0.1/cam-01"  # a stream is not a path
    data["uplink"].pop("outbox_file", None)
    data["uplink"].pop("data_dir", None)
    file = tmp_path / "site.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.chdir(ROOT)
    config = load_site_config(file)
    assert config.model.path == Path("/opt/nce/models/m.onnx")
    assert config.cameras[0].source == "rtsp://user:pw@10.0.0.1/cam-01"
    assert config.device is not None
    assert config.outbox_path() == tmp_path / "var" / "outbox" / f"{config.device.id}.sqlite"
    assert config.edge_data_dir() == tmp_path / "var" / "edge" / config.device.id
    # a config from no file: the working directory, at load time
    parsed = parse_site_config(_with_relative_paths())
    assert parsed.model.path == ROOT / "models" / "m.onnx" and parsed.base_dir == ROOT
