"""`[tool.kfuzz]` in pyproject.toml: checked values, the nearest file, flags that win, suppressions."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from kfuzz.cli import main
from kfuzz.config import KERNEL_KEYS, KEYS, ConfigError, Suppression, find_pyproject, load_config
from kfuzz.configcmd import ConfigCommand
from kfuzz.kernel import Finding
from kfuzz.suppress import apply_suppressions

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "target_modules"
BUGGY = TARGETS / "buggy"
OOB_TITLE = "KASAN: slab-out-of-bounds in oobwrite_write"


def kfuzz(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "250"}, catch_exceptions=False)


def project(folder: Path, toml: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(toml)
    return folder


def error_of(folder: Path, toml: str) -> str:
    project(folder, toml)
    with pytest.raises(ConfigError) as err:
        load_config(folder)
    return str(err.value)


# -- reading and checking ----------------------------------------------------------------------


def test_values_are_checked_and_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "a.py").write_text("")
    project(tmp_path, """
[tool.kfuzz]
module_path = "mods"
targets = ["mods/a.py"]
time_budget = 30
max_examples = 100
seed = 3
workers = 2
steps = 12
op_timeout = 0.25
isolation = "inprocess"
reports = "out/reports"

[tool.kfuzz.kernel]
sig_enforce = true
panic_on_warn = 0

[[tool.kfuzz.suppress]]
title = "WARNING: x"
reason = "upstream bug 123"
""")
    deeper = tmp_path / "src" / "deep"
    deeper.mkdir(parents=True)
    config = load_config(deeper)
    assert config.path == tmp_path / "pyproject.toml"
    assert config.values == {
        "module_path": tmp_path / "mods", "targets": [tmp_path / "mods" / "a.py"], "time_budget": 30.0,
        "max_examples": 100, "seed": 3, "workers": 2, "steps": 12, "op_timeout": 0.25,
        "isolation": "inprocess", "reports": tmp_path / "out" / "reports"}
    assert config.kernel == {"sig_enforce": "1", "panic_on_warn": "0"}
    assert config.suppress == [Suppression("WARNING: x", "upstream bug 123")]


def test_the_nearest_pyproject_is_used(tmp_path: Path) -> None:
    project(tmp_path, "[tool.kfuzz]\nseed = 1\n")
    inner = project(tmp_path / "sub", "[tool.kfuzz]\nseed = 2\n")
    (inner / "x").mkdir()
    assert find_pyproject(inner / "x") == inner / "pyproject.toml"
    assert load_config(inner).values == {"seed": 2}
    assert load_config(tmp_path).values == {"seed": 1}


def test_no_table_is_no_configuration(tmp_path: Path) -> None:
    project(tmp_path, "[project]\nname = 'x'\n")
    config = load_config(tmp_path)
    assert (config.values, config.kernel, config.suppress) == ({}, {}, [])


@pytest.mark.parametrize(("toml", "message"), [
    ('time_budget = "ten"', "[tool.kfuzz] time_budget: expected a number of seconds, got 'ten'"),
    ("time_budget = 0", "time_budget: expected a number of seconds of at least 0.1, got 0"),
    ("max_examples = 1.5", "max_examples: expected a whole number of test cases, got 1.5"),
    ("seed = true", "seed: expected a whole number, got True"),
    ('isolation = "thread"', "isolation: expected 'fork' or 'inprocess', got 'thread'"),
    ('module_path = "nowhere"', "module_path: expected an existing folder, and "),
    ('targets = "a.py"', "targets: expected a list of module files or folders, such as [\"modules/\"]"),
    ("time_budgte = 10", "[tool.kfuzz] time_budgte: unknown key; did you mean time_budget?"),
    ("colour = 1", "colour: unknown key; known keys: module_path, targets,"),
    ("kernel = 1", "[tool.kfuzz] kernel: expected a table ([tool.kfuzz.kernel]), got 1"),
    ("[tool.kfuzz.kernel]\nsig_enforse = 1", "[tool.kfuzz.kernel] sig_enforse: unknown key; did you mean "
                                             "sig_enforce?"),
    ('[tool.kfuzz.kernel]\nautoload = "yes"', "autoload: expected true or false, got 'yes'"),
    ('[tool.kfuzz.kernel]\nkeyring = "nokey.pub"', "keyring: expected an Ed25519 public key file, and "),
    ('[[tool.kfuzz.suppress]]\ntitle = "x"', "[[tool.kfuzz.suppress]] entry 1: no reason; give"),
    ('[[tool.kfuzz.suppress]]\ntitle = "x"\nreason = "y"\n[[tool.kfuzz.suppress]]\ntitel = "x"',
     "[[tool.kfuzz.suppress]] entry 2 titel: unknown key; did you mean title?"),
    ('[[tool.kfuzz.suppress]]\ntitle = ""\nreason = "y"', "entry 1 title: expected the finding's exact"),
    ("seed = ", "pyproject.toml: not valid TOML: "),
])
def test_a_bad_key_or_value_names_the_file_the_key_and_the_fix(tmp_path: Path, toml: str,
                                                               message: str) -> None:
    text = error_of(tmp_path, "[tool.kfuzz]\n" + toml + "\n")
    assert message in text
    assert text.startswith(str(tmp_path / "pyproject.toml")) and "\n" not in text


# -- the commands --------------------------------------------------------------------------------


def test_a_bad_config_is_exit_2_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, '[tool.kfuzz]\ntime_budget = "ten"\n')
    monkeypatch.chdir(tmp_path)
    for command in ("fuzz", "replay"):
        result = kfuzz(command, "x")
        assert result.exit_code == 2
        assert result.stderr == ("kfuzz: error: pyproject.toml: [tool.kfuzz] time_budget: expected a "
                                 "number of seconds, got 'ten'\n")
    assert kfuzz("fuzz", "--help").exit_code == 0  # help is still shown
    assert kfuzz("keygen", "--dir", "k").exit_code == 0  # commands without config ignore it


def test_help_documents_each_key() -> None:
    out = kfuzz("fuzz", "--help").stdout
    flat = " ".join(out.split())
    for key in KEYS:
        if key not in ("targets", "workers"):  # targets are the PATHS; --workers is another change's
            assert f"[config: {key}]" in flat, key
    for text in ("[tool.kfuzz.kernel]", "[[tool.kfuzz.suppress]]", 'targets = ["mods/"]', *KERNEL_KEYS):
        assert text in flat, text
    replay = " ".join(kfuzz("replay", "--help").stdout.split())
    assert "[config: module_path]" in replay and "[tool.kfuzz.kernel]" not in replay


def test_a_key_applies_only_where_the_command_has_its_flag(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, "[tool.kfuzz]\nworkers = 3\nseed = 4\ntargets = ['.']\n")
    monkeypatch.chdir(tmp_path)
    seen = {}

    @click.command(cls=ConfigCommand, targets="paths")
    @click.argument("paths", nargs=-1)
    @click.option("--seed", type=int, default=0)
    @click.option("--workers", type=int, default=1)
    def cmd(paths: tuple[str, ...], seed: int, workers: int) -> None:
        ctx = click.get_current_context()
        seen.update(paths=paths, seed=seed, workers=workers,
                    source=ctx.get_parameter_source("seed").name)

    @click.command(cls=ConfigCommand)
    @click.argument("paths", nargs=-1)
    def other(paths: tuple[str, ...]) -> None:
        seen.update(other=paths)

    assert CliRunner().invoke(cmd, []).exit_code == 0
    assert seen == {"paths": (str(tmp_path),), "seed": 4, "workers": 3, "source": "DEFAULT_MAP"}
    CliRunner().invoke(cmd, ["--seed", "9", "m.py"])
    assert (seen["seed"], seen["paths"], seen["source"]) == (9, ("m.py",), "COMMANDLINE")
    assert CliRunner().invoke(other, []).exit_code == 0 and seen["other"] == ()  # no targets there


def test_replay_takes_the_module_path_from_the_config(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, f'[tool.kfuzz]\nmodule_path = "{BUGGY}"\n')
    (tmp_path / "bug.kfz").write_text("# modules: oobwrite.py\ninsmod oobwrite\n")
    monkeypatch.chdir(tmp_path)
    result = kfuzz("replay", "--json", "bug.kfz")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"] == [{"op": "insmod oobwrite", "result": 0}]


def test_fuzz_takes_its_settings_from_the_config_and_flags_win(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, f"""
[tool.kfuzz]
module_path = "{TARGETS}"
targets = ["{BUGGY / 'oobwrite.py'}"]
max_examples = 60
seed = 7
reports = "ci/reports"

[tool.kfuzz.kernel]
panic_on_warn = false

[[tool.kfuzz.suppress]]
title = "{OOB_TITLE}"
reason = "fixed in the next release"

[[tool.kfuzz.suppress]]
title = "WARNING: gone long ago"
reason = "was a bug once"
""")
    monkeypatch.chdir(tmp_path)
    result = kfuzz("fuzz", "--seed", "1", "--no-db")
    assert result.exit_code == 0, result.output  # the only finding is suppressed
    [folder] = [p for p in (tmp_path / "ci" / "reports").iterdir() if p.is_dir()]
    data = json.loads((folder / "report.json").read_text())
    assert data["title"] == OOB_TITLE and data["seed"] == 1  # --seed won over seed = 7
    assert "# kernel: autoload=1 panic_on_warn=0" in data["repro"]
    out = " ".join(result.stdout.split())
    assert f"suppressed: oobwrite: out-of-bounds: {OOB_TITLE}" in out
    assert "(pyproject.toml: fixed in the next release)" in out
    assert ("stale suppression: 'WARNING: gone long ago' in pyproject.toml matched no finding of this run"
            in out)


def test_suppressions_part_findings_by_exact_title() -> None:
    def finding(title: str) -> Finding:
        return Finding(kind="warning", title=title, module="m", function="f", message="")

    found = [(n, finding(t)) for n, t in enumerate(["WARNING: a", "WARNING: a b", "WARNING: a"])]
    rules = [Suppression("WARNING: a", "known"), Suppression("WARNING: c", "old")]
    parted = apply_suppressions(found, rules)
    assert parted.active == [1]
    assert parted.suppressed == [(0, rules[0]), (2, rules[0])]
    assert parted.stale == [rules[1]]
