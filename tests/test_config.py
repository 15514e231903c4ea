"""`[tool.shapecheck]`: discovery, validation (one clear line, exit 2), CLI overrides, selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli_support import BUGGY, fake_rules, invoke, project  # noqa: F401 - fixtures

from shapecheck.config import (
    DEFAULT_EXCLUDE,
    ConfigError,
    Layer,
    discover_settings,
    expand_selector,
    find_config,
    load_config,
    resolve_selection,
)
from shapecheck.diagnostics import RULES

DEFAULT = {c for c, i in RULES.items() if i.default}


def toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_default_on_rules() -> None:
    assert resolve_selection([]) == frozenset(DEFAULT)
    assert "SC602" not in DEFAULT and "SC902" not in DEFAULT


def test_prefixes_and_all() -> None:
    assert expand_selector("SC2") == {c for c in RULES if c.startswith("SC2")}
    assert expand_selector("SC6") == {"SC601"}  # SC602/SC603 are opt-in
    assert expand_selector("SC6", for_ignore=True) == {"SC601", "SC602", "SC603"}
    assert expand_selector("SC603") == {"SC603"}
    assert expand_selector("ALL") == set(RULES)
    assert expand_selector("all") == set(RULES)


def test_layers_replace_extend_and_ignore() -> None:
    tool = {"SC901", "SC903"}  # a select keeps "this file could not be checked"
    config = Layer(select=["SC2"], ignore=["SC21"])
    assert resolve_selection([config]) == {"SC201", "SC202", "SC203", "SC204"} | tool
    cli = Layer(extend_select=["SC210"])
    assert resolve_selection([config, cli]) == {"SC201", "SC202", "SC203", "SC204", "SC210"} | tool
    # a later select replaces everything before it, the config's ignore included
    assert resolve_selection([config, Layer(select=["SC21"])]) == {c for c in DEFAULT if c.startswith("SC21")} | tool
    # parse errors can be turned off explicitly
    assert "SC901" not in resolve_selection([Layer(select=["SC2"], ignore=["SC901"])])


@pytest.mark.parametrize("selector", ["SC999", "XX1", "", "E501"])
def test_unknown_selectors(selector: str) -> None:
    with pytest.raises(ConfigError):
        expand_selector(selector)


def test_find_config_walks_up_to_a_configured_pyproject(tmp_path: Path) -> None:
    toml(tmp_path / "pyproject.toml", "[tool.shapecheck]\nselect = ['SC1']\n")
    toml(tmp_path / "pkg" / "pyproject.toml", "[project]\nname = 'x'\n")  # no table: skipped
    (tmp_path / "pkg" / "sub").mkdir()
    assert find_config(tmp_path / "pkg" / "sub") == tmp_path / "pyproject.toml"
    settings = discover_settings([tmp_path / "pkg" / "sub"], None, tmp_path)
    assert settings.root == tmp_path.resolve() and settings.config.select == ("SC1",)


def test_load_every_key(tmp_path: Path) -> None:
    path = toml(tmp_path / "pyproject.toml", """
[tool.shapecheck]
select = ["SC1", "SC2"]
extend-select = ["SC602"]
ignore = ["SC103"]
exclude = ["generated"]
extend-exclude = ["scratch/*.py"]
respect-gitignore = false
cache-dir = ".cache/sc"

[tool.shapecheck.per-file-ignores]
"tests/**" = ["SC2"]
""")
    s = load_config(path)
    assert s.config == Layer(("SC1", "SC2"), ("SC602",), ("SC103",))
    assert s.exclude == ("generated",) and s.extend_exclude == ("scratch/*.py",)
    assert s.respect_gitignore is False
    assert s.per_file_ignores == [("tests/**", ("SC2",))]
    assert s.cache_dir == tmp_path.resolve() / ".cache/sc"


def test_standalone_config_file(tmp_path: Path) -> None:
    path = toml(tmp_path / "shapecheck.toml", 'select = ["SC2"]\n')
    assert load_config(path).config.select == ("SC2",)


def test_default_excludes_like_ruff() -> None:
    for name in (".git", ".venv", "venv", "build", "dist", "__pycache__", "node_modules", ".tox", ".mypy_cache"):
        assert name in DEFAULT_EXCLUDE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool.shapecheck\nselect = 1", "invalid TOML"),
        ("[tool.shapecheck]\nselekt = ['SC1']\n", "unknown key `selekt` in [tool.shapecheck]"),
        ("[tool.shapecheck]\nextend_select = ['SC1']\n", "(did you mean `extend-select`?)"),
        ("[tool.shapecheck]\nselect = 'SC1'\n", "`select` must be a list of codes, got 'SC1'"),
        ("[tool.shapecheck]\nselect = ['SC1', 3]\n", "`select` must be a list of codes"),
        ("[tool.shapecheck]\nignore = ['SC777']\n", "unknown rule selector 'SC777'"),
        ("[tool.shapecheck]\nrespect-gitignore = 'yes'\n", "`respect-gitignore` must be a boolean"),
        ("[tool.shapecheck]\nper-file-ignores = ['x']\n", "`per-file-ignores` must be a table"),
        ("[tool.shapecheck]\nper-file-ignores = { 'a/*' = ['SC0'] }\n", "unknown rule selector 'SC0'"),
        ("[tool.shapecheck]\nexclude = 'build'\n", "`exclude` must be a list of glob patterns"),
    ],
)
@pytest.mark.usefixtures("fake_rules")
def test_bad_config_is_one_line_exit_2(project: Path, text: str, message: str) -> None:
    toml(project / "pyproject.toml", text)
    (project / "m.py").write_text(BUGGY)
    code, out, err = invoke("check")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("shapecheck: error: ") and message in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("fake_rules")
def test_config_option_and_missing_config_file(project: Path) -> None:
    (project / "m.py").write_text(BUGGY)
    toml(project / "conf" / "pyproject.toml", "[tool.shapecheck]\nselect = ['SC6']\n")
    code, out, _ = invoke("check", "--no-cache", "--config", "conf/pyproject.toml", "--output-format", "json")
    assert [d["code"] for d in json.loads(out)] == ["SC601"]
    code, _, err = invoke("check", "--config", "nope.toml")
    assert code == 2 and err == "shapecheck: error: config file not found: nope.toml\n"


@pytest.mark.usefixtures("fake_rules")
def test_cli_overrides_config(project: Path) -> None:
    toml(project / "pyproject.toml", "[tool.shapecheck]\nselect = ['SC6']\nignore = ['SC601']\n")
    (project / "m.py").write_text(BUGGY)

    def codes(*args: str) -> list[str]:
        _, out, _ = invoke("check", "--no-cache", "--output-format", "json", *args)
        return [d["code"] for d in json.loads(out)]

    assert codes() == []
    assert codes("--extend-select", "SC602") == ["SC602"]
    assert codes("--select", "SC4") == ["SC405"]  # CLI select replaces the config's select and ignore


@pytest.mark.usefixtures("fake_rules")
def test_config_cache_dir(project: Path) -> None:
    toml(project / "pyproject.toml", "[tool.shapecheck]\ncache-dir = 'tmp/cache'\n")
    (project / "m.py").write_text(BUGGY)
    invoke("check")
    assert (project / "tmp" / "cache" / "v1").is_dir()
