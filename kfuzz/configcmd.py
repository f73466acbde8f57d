"""`[tool.kfuzz]` as the defaults of a command's flags.

A command made with `cls=ConfigCommand` reads the project's configuration before
its flags are parsed and hands the values to click as its `default_map`: a flag
given on the command line wins, and click's ParameterSource tells the two apart
(DEFAULT_MAP for a configured value). A key applies only where the command has
the flag it is named after, so a key whose flag another command lacks (or has not
got yet) is checked, then left alone. Each option's help names its key.
"""

from __future__ import annotations

from typing import Any

import click

from .config import KERNEL_KEYS, KEYS, Config, ConfigError, load_config

META = "kfuzz.config"

EPILOG = """\
Configuration: [tool.kfuzz] in the nearest pyproject.toml from the current
directory upwards gives the defaults of the options marked [config: KEY];
paths there are relative to its folder, and a flag given here wins. An
unknown key or a bad value is exit 2.
"""
TARGETS_DOC = """\
\b
  targets = ["mods/"]       the PATHS fuzzed when none are given"""
KERNEL_DOC = """\
\b
  [tool.kfuzz.kernel]       kernel settings, as a repro's `# kernel:` header
                            has them: sig_enforce, autoload, panic_on_warn,
                            modules_disabled, dyndbg, kcsan (the data-race
                            detector, on unless false) (true or false),
                            keyring (the public key file that kfuzz keygen
                            wrote)"""
SUPPRESS_DOC = """\
\b
  [[tool.kfuzz.suppress]]   title = "..." (a finding's exact title) and
                            reason = "...": that finding is listed as
                            suppressed and does not fail the run; one that
                            matched nothing is listed as stale"""


class ConfigInputError(click.ClickException):
    """A bad pyproject.toml: exit code 2, as kfuzz's other bad input."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"kfuzz: error: {self.message}", err=True)


class ConfigCommand(click.Command):
    """A command whose flags take their defaults from `[tool.kfuzz]`.

    `targets` names the parameter that takes the `targets` key (None: the command
    has none); `tables` the tables it applies (`kernel`, `suppress`), for its help.
    """

    def __init__(self, *args: Any, targets: str | None = None, tables: tuple[str, ...] = (),
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.param_keys: dict[str, str] = {}  # parameter name -> its key
        for param in self.params:
            key = "targets" if param.name == targets and targets else param.name
            if key in KEYS or key in KERNEL_KEYS:
                self.param_keys[str(param.name)] = str(key)
                if isinstance(param, click.Option):
                    param.help = f"{param.help or ''} [config: {key}]".strip()
        docs = [EPILOG]
        if targets:
            docs.append(TARGETS_DOC)
        if "kernel" in tables:
            docs.append(KERNEL_DOC)
        if "suppress" in tables:
            docs.append(SUPPRESS_DOC)
        self.epilog = "\n\n".join([*([self.epilog] if self.epilog else []), *docs])

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            config = load_config()
        except ConfigError as err:
            if not set(args) & {"-h", "--help"}:  # help is shown even beside a broken file
                raise ConfigInputError(str(err)) from None
            config = Config()
        defaults = self.defaults(config)
        if defaults and "default_map" not in extra:
            extra["default_map"] = defaults
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta[META] = config
        return ctx

    def defaults(self, config: Config) -> dict[str, Any]:
        """The configured values of this command's parameters, by parameter name."""
        out = {}
        for name, key in self.param_keys.items():
            if key in config.values:
                out[name] = config.values[key]
            elif key in config.kernel:
                out[name] = config.kernel[key]
        return out


def command_config() -> Config:
    """The configuration the running command was started with (empty outside a ConfigCommand)."""
    ctx = click.get_current_context(silent=True)
    config = ctx.meta.get(META) if ctx is not None else None
    return config if isinstance(config, Config) else Config()
