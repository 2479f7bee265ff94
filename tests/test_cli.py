"""The m2mclient command, run as a user runs it: a real process, real stdout and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from m2mclient import __version__

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "m2mclient.cli", *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )


def test_version_and_help_teach() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"m2mclient {__version__}"
    top = run("--help").stdout
    assert "lwm2m" in top and "examples:" in top
    decode_help = run("lwm2m", "decode", "--help").stdout
    for word in ("--format", "--path", "--hex", "--file", "--object-file", "senml-cbor", "11542"):
        assert word in decode_help


def test_decode_prints_one_json_object_of_full_paths() -> None:
    tlv = "c800144f70656e204d6f62696c6520416c6c69616e6365" "8306410001"  # /3/0/0 and /3/0/6 = [1]
    result = run("lwm2m", "decode", "--format", "tlv", "--path", "/3/0", "--hex", tlv)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"/3/0/0": "Open Mobile Alliance", "/3/0/6/0": 1}


@pytest.mark.parametrize(
    "fmt", ["text", "cbor", "tlv", "senml-json", "senml-cbor", "lwm2m-cbor", "oma-json", "11542", "112"]
)
def test_encode_then_decode_round_trips_every_json_value_kind(fmt: str) -> None:
    values = {
        "/1/0/0": 101,
        "/1/0/1": 86400,
        "/1/0/6": True,
        "/1/0/7": "U",
        "/0/0/3": {"hex": "00ff10"},
        "/3/0/13": 1367491215,
        "/6/0/0": 52.5,
        "/2/0/0": 1,
    }
    if fmt in ("text", "cbor"):
        values = {"/6/0/0": 52.5}
    base = "/" if fmt in ("senml-json", "senml-cbor", "lwm2m-cbor", "112") else None
    per_object: dict[str, dict[str, object]] = {}
    for path, value in values.items():
        target = base or (path if fmt in ("text", "cbor") else "/" + path.split("/")[1])
        per_object.setdefault(target, {})[path] = value
    for target, chunk in per_object.items():
        encoded = run("lwm2m", "encode", "--format", fmt, "--path", target, "--json", json.dumps(chunk))
        assert encoded.returncode == 0, encoded.stderr
        assert re.fullmatch(r"[0-9a-f]+\n", encoded.stdout)
        decoded = run("lwm2m", "decode", "--format", fmt, "--path", target, "--hex", encoded.stdout.strip())
        assert decoded.returncode == 0, decoded.stderr
        assert json.loads(decoded.stdout) == chunk


def test_objlnk_values_round_trip_through_json() -> None:
    objlnk = {"/9100/0/0": {"objlnk": "3:0"}}
    xml = REPO / "tests" / "lwm2m" / "data" / "objlnk-9100.xml"
    encoded = run("lwm2m", "encode", "--format", "tlv", "--path", "/9100/0/0", "--json", json.dumps(objlnk),
                  "--object-file", str(xml))
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout.strip() == "c40000030000"
    decoded = run("lwm2m", "decode", "--format", "tlv", "--path", "/9100/0/0", "--hex", encoded.stdout.strip(),
                  "--object-file", str(xml))
    assert json.loads(decoded.stdout) == objlnk
    untyped = run("lwm2m", "decode", "--format", "tlv", "--path", "/9100/0/0", "--hex", encoded.stdout.strip())
    assert json.loads(untyped.stdout) == {"/9100/0/0": {"hex": "00030000"}}


def test_decode_reads_a_file_and_stdin(tmp_path: Path) -> None:
    payload = tmp_path / "battery.txt"
    payload.write_bytes(b"95")
    from_file = run("lwm2m", "decode", "--format", "0", "--path", "/3/0/9", "--file", str(payload))
    assert json.loads(from_file.stdout) == {"/3/0/9": 95}
    from_stdin = run("lwm2m", "decode", "--format", "text", "--path", "/3/0/9", "--file", "-", stdin=b"42")
    assert json.loads(from_stdin.stdout) == {"/3/0/9": 42}


def test_composite_paths_and_links() -> None:
    paths = run("lwm2m", "encode", "--format", "senml-etch-json", "--path", "/", "--json",
                '{"/3/0/0": null, "/1/0": null}')
    assert paths.returncode == 0, paths.stderr
    assert json.loads(bytes.fromhex(paths.stdout.strip())) == [{"n": "/3/0/0"}, {"n": "/1/0"}]
    back = run("lwm2m", "decode", "--format", "320", "--path", "/", "--hex", paths.stdout.strip())
    assert json.loads(back.stdout) == {"/3/0/0": None, "/1/0": None}
    links = run("lwm2m", "decode", "--format", "link", "--path", "/", "--hex",
                b'</>;rt="oma.lwm2m",</3/0>;ver=1.2,</3/0/6>;dim=2'.hex())
    assert json.loads(links.stdout) == {"/": {"rt": "oma.lwm2m"}, "/3/0": {"ver": "1.2"}, "/3/0/6": {"dim": "2"}}


def test_formats_and_objects_listings() -> None:
    listing = run("lwm2m", "formats").stdout
    assert "11544  lwm2m-cbor" in listing and "application/senml+cbor" in listing
    objects = run("lwm2m", "objects").stdout
    assert "     3  Device" in objects and "  3303  Temperature" in objects


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "tlv", "--path", "/3/0", "--hex", "c8"], "content-format 11542"),
        (["--format", "xml", "--path", "/3/0", "--hex", "00"], "unknown content format 'xml'"),
        (["--format", "tlv", "--path", "/3/x", "--hex", "00"], "not a decimal id"),
        (["--format", "tlv", "--path", "/3/0", "--hex", "zz"], "not a hex string"),
        (["--format", "tlv", "--path", "/3/0", "--file", "/nonexistent/payload"], "No such file"),
        (["--format", "tlv", "--path", "/3/0", "--hex", "00", "--object-file", "/nonexistent.xml"], "nonexistent"),
    ],
)
def test_errors_are_one_line_on_stderr_with_failure_status(args: list[str], message: str) -> None:
    result = run("lwm2m", "decode", *args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("m2mclient: error: ")
    assert message in result.stderr


def test_encode_errors_name_the_problem() -> None:
    result = run("lwm2m", "encode", "--format", "tlv", "--path", "/3/0", "--json", '{"/3/0/9": "full"}')
    assert result.returncode == 1
    assert "integer expected" in result.stderr
    result = run("lwm2m", "encode", "--format", "tlv", "--path", "/3/0", "--json", "[1]")
    assert result.returncode == 1 and "must be an object" in result.stderr


def test_examples_run() -> None:
    for example in sorted((REPO / "examples").glob("*.py")):
        result = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, check=False, cwd=REPO)
        assert result.returncode == 0, f"{example.name}: {result.stderr}"
        assert "CHANGED" not in result.stdout


def test_readme_commands_are_the_ones_ci_and_users_run() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    commands = re.findall(r"```sh\n(python3 -m venv .+)\n```", readme)
    assert len(commands) == 2, "README must give exactly two set-up commands"
    assert commands[0].endswith("pip install . && m2mclient demo")
    assert "python -m pytest" in commands[1] and "python -m pytest" in ci
    assert "ruff check" in ci and "mypy m2mclient" in ci
