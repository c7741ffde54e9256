"""Configuration: the example is complete and valid; bad files are rejected naming the key."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from agent import config, desired
from agent.cli import main
from agent.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_example_config_loads_with_the_defaults() -> None:
    loaded = config.load(EXAMPLE)
    defaults = config.Config(device=config.DeviceConfig(id="pole-0001", site="samutsakhon"))
    assert loaded == defaults


def test_example_config_documents_every_option() -> None:
    text = EXAMPLE.read_text()
    # [section], and [[array]] tables, which the example shows commented out (none by default).
    heading = r"^(?:# )?\[\[?(\w+)\]\]?\n(.*?)(?=^(?:# )?\[|\Z)"
    sections = dict(re.findall(heading, text, re.M | re.S))
    for name, field in config.Config.model_fields.items():
        assert name in sections, f"[{name}] missing from config.example.toml"
        model = field.annotation
        if typing.get_origin(model) is tuple:
            model = typing.get_args(model)[0]
        assert isinstance(model, type)
        for key in model.model_fields:  # type: ignore[attr-defined]
            assert re.search(rf"^#? ?{key} = ", sections[name], re.M), f"{name}.{key} undocumented"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            "[mqtt]\nport = 70000\n",
            "mqtt.port: Input should be less than or equal to 65535 (got 70000)",
        ),
        ("[mqtt]\nprot = 1883\n", "mqtt.prot: Extra inputs are not permitted"),
        ("[sos]\nresend_s = 90\n", "sos.resend_s"),
        ("[sos]\npin = 'seventeen'\n", "sos.pin"),
        ("[sos]\npin = 22\n", "sos: pin, registered_led_pin and acknowledged_led_pin must differ"),
        ("[device]\nid = 'pole/1'\n", "device.id"),
        ("[gpio]\npin_factory = 'wiringpi'\n", "gpio.pin_factory"),
        ("[cameras]\nx = 1\n", "cameras: Input should be a valid tuple"),
        ("[[cameras]]\nname = 'a'\nsource = 'x'\nx = 1\n", "cameras.0.x: Extra inputs"),
        ("[[cameras]]\nname = 'a'\nsource = 'picamera2:x'\n", "cameras.0.source: a Pi camera"),
        ("[[cameras]]\nname = 'a'\nsource = 'ftp://cam'\n", "cameras.0.source: a stream URL"),
        (
            "[[cameras]]\nname = 'a'\nsource = 'x'\ninclude = [[[0, 0], [1.5, 0], [1, 1]]]\n",
            "cameras.0.include: polygon 0.1: coordinates are fractions of the frame",
        ),
        (
            "[[cameras]]\nname = 'a'\nsource = 'x'\nexclude = [[[0, 0], [1, 1], [1, 0], [0, 1]]]\n",
            "cameras.0.exclude: polygon 0: edges 0 and 2 cross",
        ),
        (
            "[[cameras]]\nname = 'a'\nsource = 'x'\nmain_size = [640, 480]\n",
            "cameras.0: main_size and lores_size apply to picamera2 sources only",
        ),
        (
            "[[cameras]]\nname = 'a'\nsource = 'x'\n[[cameras]]\nname = 'a'\nsource = 'y'\n",
            "cameras: camera 1: the name 'a' is already used",
        ),
        ("[vision]\nfaces = 'all'\n", "vision.faces"),
        ("[vision]\nnice = 20\n", "vision.nice"),
        ("[vision]\nplate_scales = []\n", "vision.plate_scales"),
        ("[vision]\nplate_scales = [1.0, 3.5]\n", "vision.plate_scales.1"),
        ("[vision]\nplate_ocr_views = 4\n", "vision.plate_ocr_views"),
        ("[vision]\nplate_look_score = 0\n", "vision.plate_look_score"),
        ("[vision]\nplate_track_score = 1.5\n", "vision.plate_track_score"),
        ("[mqtt]\ntopic_prefix = 'ssz/{device}'\n", "topic_prefix must contain {site}"),
        ("[mqtt\nport = 1\n", "not valid TOML"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert named in str(caught.value)
    assert str(path) in str(caught.value)


def test_unreadable_config_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read"):
        config.load(tmp_path / "missing.toml")


def test_password_never_appears_in_errors_or_show(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\npassword = 'hunter2'\npassword_file = '/x'\n")
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert "hunter2" not in str(caught.value)
    shown = config.masked(config.validate({"mqtt": {"password": "hunter2"}}))
    assert shown["mqtt"]["password"] == config.MASK


def test_password_comes_from_file_or_systemd_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    assert config.password(config.MqttConfig(password_file=secret)) == "from-file"
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert config.password(config.MqttConfig()) is None
    (tmp_path / "mqtt-password").write_text("from-credentials")
    assert config.password(config.MqttConfig()) == "from-credentials"


def test_config_path_prefers_flag_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_AGENT_CONFIG", raising=False)
    assert config.resolve_path(None) == config.DEFAULT_PATH
    monkeypatch.setenv("EDGE_AGENT_CONFIG", "/from/env.toml")
    assert config.resolve_path(None) == Path("/from/env.toml")
    assert config.resolve_path("/from/flag.toml") == Path("/from/flag.toml")


def test_config_check_command_reports_ok_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", str(EXAMPLE)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = write(tmp_path, "[storage]\nmax_bytes = 5\n")
    assert main(["config", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "storage.max_bytes" in err


def test_config_show_masks_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[mqtt]\npassword = 'hunter2'\n")
    assert main(["config", "show", "--json", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert config.MASK in out


CAMERA = '[[cameras]]\nname = "gate"\nsource = "rtsp://viewer:secret@10.0.0.9/1"\n'


def test_default_remote_allow_list_takes_detection_tuning_but_not_paths_or_sources(
    tmp_path: Path,
) -> None:
    local = config.read_document(write(tmp_path, CAMERA))
    allow = config.validate(local).remote.allow
    camera = dict(local["cameras"][0])
    tuned = {
        "vision": {"min_face_quality": 0.4, "face_event_s": 10.0},
        "cameras": [{**camera, "max_fps": 2.0, "motion": True}],
    }
    assert desired.disallowed(tuned, allow, local) == []
    config.validate(desired.merge_patch(local, tuned))  # and the result is a valid config
    moved = {
        "vision": {"models_dir": "/tmp/models"},
        "cameras": [{**camera, "source": "rtsp://attacker/1"}],
    }
    rejected = desired.disallowed(moved, allow, local)
    assert [line.split(":")[0] for line in rejected] == ["vision.models_dir", "cameras.source"]
    assert all("not changeable remotely" in line for line in rejected)
    added = {"cameras": [camera, {"name": "yard", "source": "picamera2"}]}
    assert [line.split(":")[0] for line in desired.disallowed(added, allow, local)] == ["cameras"]
