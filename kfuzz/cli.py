"""The kfuzz command line. Thin: each command parses, calls one layer, shows."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource
from cryptography.exceptions import UnsupportedAlgorithm
from rich.console import Console

from .ci import CiError, CiFlags, ci_options
from .configcmd import ConfigCommand, command_config
from .dbcli import db as db_group
from .kernel import ModuleFileError, ModuleIndex, read_image
from .kernel.image import cached_image
from .kernel.index import module_files
from .kernel.signing import key_id, keygen, load_public, sign_file
from .prog import ProgramError, load_program, program_index
from .render import modinfo_table, outcome_view
from .replay import changed_modules, replay_json, replay_program, repro_file
from .report.lock import store_lock
from .stopping import exit_status, sigterm_as_interrupt, stop_signal
from .suppress import apply_suppressions, suppression_lines

if TYPE_CHECKING:
    from .fuzz import Events, FuzzOptions, FuzzResult


class BadInput(click.ClickException):
    """Bad usage or input: exit code 2, a message naming the file and line."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"kfuzz: error: {self.message}", err=True)


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


class _Main(click.Group):
    """The command group; Ctrl-C exits 130 and SIGTERM 143 (click's own handling
    would exit 1, "a bug was found")."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        try:
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except KeyboardInterrupt as stop:
            click.echo("kfuzz: interrupted", err=True)
            ctx.exit(exit_status(stop_signal(stop)))


def _public_key(path: Path, where: str) -> bytes:
    """The key of a keyring file, or bad input naming WHERE."""
    try:
        return load_public(path)
    except (OSError, ValueError):
        raise BadInput(f"{where}: {path} is not an Ed25519 public key "
                       f"(give the signing_key.pub that kfuzz keygen wrote)") from None


def _missing(path: Path, what: str) -> str:
    """Why a path given on the command line cannot be read: absent, or a link to nowhere."""
    if path.is_symlink():
        return (f"{path}: a symbolic link that leads nowhere (a loop, or its target is gone); "
                f"point it at a real file")
    return f"{path}: {what}"


def _check_writable(reports: Path) -> None:
    """Refuses a reports folder that cannot be written before an hour is spent fuzzing."""
    try:
        reports.mkdir(parents=True, exist_ok=True)
        with store_lock(reports):  # creates REPORTS/.lock: a write like any other
            pass
    except OSError as err:
        raise BadInput(f"--reports {reports}: cannot write there ({err.strerror or err}); give a folder "
                       f"you can write to (and a disk with room)") from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kfuzz")
def main() -> None:
    """kfuzz: find the bugs of kernel-module code in a simulated kernel.

    Module files are Python files written against kfuzz.kapi (see the module API);
    repro programs are .kfz files, one operation a line.
    """


@main.command(cls=ConfigCommand)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print each outcome as one JSON object a line: the finding's record, dmesg, "
                   "and `results`, each operation's line and what it returned.")
@click.option("--isolation", type=click.Choice(["fork", "inprocess"]), default="fork", show_default=True,
              help="Run the kernel in a worker subprocess (fork) or in this process.")
@click.option("--op-timeout", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Seconds an operation may run before it is a hang.")
@click.option("--module-path", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where to look for module files that are neither beside the repro nor in the "
                   "current directory.")
@click.option("--no-log", is_flag=True, help="Leave the kernel log out of the display.")
def replay(paths: tuple[Path, ...], as_json: bool, isolation: str, op_timeout: float,
           module_path: Path | None, no_log: bool) -> None:
    """Run repro programs (.kfz files or report folders) and show what they find.

    A module file named in a repro is looked for beside the repro, then in the
    current directory, then in --module-path. When a report folder records a
    module's sha256 and the file now differs, replay says so.

    Exit status: 0 when every program runs clean, 1 when one finds a bug,
    2 when a file cannot be read or parsed (then nothing runs).
    """
    if module_path is not None and not module_path.is_dir():
        raise BadInput(f"--module-path {module_path}: no such folder")
    console = _console()
    programs = []
    for path in paths:  # every file is read and checked before anything runs
        if not path.exists():
            raise BadInput(_missing(path, "no such file or report folder"))
        if not repro_file(path).exists():
            raise BadInput(f"{path}: a folder without repro.kfz (a report folder holds one)")
        try:
            prog = load_program(repro_file(path), module_path)
            programs.append((path, prog, program_index(prog)))
        except (ProgramError, ModuleFileError, ValueError) as err:
            raise BadInput(str(err)) from None
    found = False
    for path, prog, index in programs:
        changed = changed_modules(prog, repro_file(path))
        outcome = replay_program(prog, isolation, op_timeout, index)
        found |= outcome.finding is not None
        if as_json:
            click.echo(json.dumps(replay_json(path, prog, outcome, changed)))
            continue
        for change in changed:
            console.print(f"[yellow]note: {change.format()}[/yellow]")
        console.print(outcome_view(outcome, str(path), show_log=not no_log))
    sys.exit(1 if found else 0)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))  # read_image says what is wrong with it
@click.option("--module-path", type=click.Path(path_type=Path, exists=True), default=None,
              help="Folder of the other modules, to name the ones this one depends on "
                   "(default: the file's folder).")
@click.option("--keyring", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A public key (from kfuzz keygen) to check the signature against.")
def modinfo(file: Path, module_path: Path | None, keyring: Path | None) -> None:
    """Show a module file's licence, parameters, aliases, dependencies, exports and signature."""
    try:
        image = read_image(file)
    except (ModuleFileError, ValueError) as err:
        raise BadInput(str(err)) from None
    keys = (_public_key(keyring, "--keyring"),) if keyring else ()
    index = ModuleIndex()
    for other in module_files(module_path or file.parent):
        try:  # another module file's trouble (bad file, same name) is not this module's
            index.add(cached_image(other))
        except ModuleFileError:
            continue
    index.add(image, replace=True)
    if image.signature is None:
        sig = "unsigned"
    elif keys:
        sig = f"key {image.signature.key_id}: {image.signature_state(keys)}"
    else:
        sig = f"signed with key {image.signature.key_id} (give --keyring to check it)"
    console = _console()
    console.print(modinfo_table(image, sig))
    deps = [d for d in index.hard_deps(image.name)]
    missing = [s for s in image.imports if s not in index.exporters]
    console.print(f"[bold]depends[/bold]      {', '.join(deps) or '-'}")
    if missing:
        console.print(f"[yellow]unresolved symbols: {', '.join(missing)} (no module in "
                      f"{module_path or file.parent} exports them)[/yellow]")


@main.command("keygen")
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False), default=Path("keys"),
              show_default=True, help="Where to write signing_key.pem and signing_key.pub.")
@click.option("--force", is_flag=True, help="Overwrite an existing key pair.")
def keygen_cmd(directory: Path, force: bool) -> None:
    """Make an Ed25519 key pair for signing modules.

    signing_key.pem signs (kfuzz sign); signing_key.pub is the trusted keyring
    entry (`# kernel: sig_enforce=1 keyring=keys/signing_key.pub`).
    """
    for name in ("signing_key.pem", "signing_key.pub"):
        if (directory / name).exists() and not force:
            raise BadInput(f"{directory / name} exists: pass --force to replace it")
    priv, pub = keygen(directory)
    click.echo(f"private key: {priv}\npublic key:  {pub} (key id {key_id(load_public(pub))})")


@main.command("sign")
@click.argument("key", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("files", nargs=-1, required=True,
                type=click.Path(path_type=Path, exists=True, dir_okay=False))
def sign_cmd(key: Path, files: tuple[Path, ...]) -> None:
    """Sign module FILES in place with the private KEY (replacing any old signature)."""
    for file in files:  # every file is checked before any is signed
        try:
            read_image(file)
        except (ModuleFileError, ValueError) as err:
            raise BadInput(str(err)) from None
    for file in files:
        try:
            kid = sign_file(key, file)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise BadInput(f"{key}: not an Ed25519 private key without a password "
                           f"(give the signing_key.pem that kfuzz keygen wrote)") from None
        click.echo(f"{file}: signed with key {kid}")


def _check_module_paths(paths: list[Path], module_path: Path) -> None:
    """Refuses a --module-path given that is no folder, and PATHS that do not exist."""
    given = click.get_current_context().get_parameter_source("module_path") != ParameterSource.DEFAULT
    if given and not module_path.is_dir():
        raise BadInput(f"--module-path {module_path}: no such folder")
    for p in paths:
        if not p.exists():
            raise BadInput(_missing(p, "no such module file or folder"))


def _targets(paths: list[Path], module_path: Path) -> tuple[list[str], ModuleIndex]:
    """The target modules of PATHS and the index of what they may load, or bad input."""
    from .fuzz import resolve_targets

    try:
        targets, index = resolve_targets(paths, module_path)
    except ModuleFileError as err:
        raise BadInput(str(err)) from None
    if not targets:
        raise BadInput(f"no module files in {' '.join(map(str, paths))}")
    return targets, index


def _cluster_flags(cluster: str | None, db: str | None, isolation: str) -> None:
    """Refuses what a cluster run cannot honour, before anything runs."""
    if cluster is None:
        return
    ctx = click.get_current_context()
    if ctx.get_parameter_source("workers") == ParameterSource.COMMANDLINE:
        raise BadInput("--cluster and --workers: on a cluster, its worker processes are the campaigns "
                       "at once (kfuzz worker ADDRESS --nworkers N); leave out --workers")
    if db is not None and not db.startswith("redis://"):
        raise BadInput(f"--cluster with --db {db}: a folder stays on this machine, where no campaign "
                       f"runs; give --db redis://HOST:PORT/N, or leave --db out")
    if isolation != "fork":
        given = ctx.get_parameter_source("isolation") == ParameterSource.COMMANDLINE
        where = "--isolation inprocess" if given else f'isolation = "{isolation}" in {command_config().where}'
        raise BadInput(f"--cluster runs kernels in worker subprocesses: leave out {where}")


def _example_database(db: str | None, no_db: bool) -> tuple[Path | None, str | None]:
    """The folder for Hypothesis's files and the Redis URL, if any, of --db and --no-db."""
    from .fuzz.corpus import REDIS_SCHEME, CorpusError, connect

    if db is None:
        return (None if no_db else Path(".kfuzz")), None
    if no_db:
        raise BadInput("--db and --no-db: give one of them, not both")
    if not db.startswith(REDIS_SCHEME):
        if "://" in db:
            raise BadInput(f"--db {db}: only redis:// URLs are supported; or give a folder")
        if Path(db).exists() and not Path(db).is_dir():
            raise BadInput(f"--db {db}: a file, not a folder; give the example database's folder")
        return Path(db), None
    try:
        connect(db).close()  # a Redis that cannot be reached is bad input now, not in an hour
    except CorpusError as err:
        raise BadInput(str(err)) from None
    return Path(".kfuzz"), db


@main.command("fuzz", cls=ConfigCommand, targets="paths", tables=("kernel", "suppress"))
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--module-path", type=click.Path(path_type=Path, file_okay=False),
              default=Path("target_modules"), show_default=True,
              help="Where the modules the targets depend on are found.")
@click.option("--time-budget", type=click.FloatRange(min=0.1), default=None,
              help="Seconds for the whole run, shared among the target modules "
                   "(default: 15 per module unless --max-examples is given).")
@click.option("--max-examples", type=click.IntRange(min=1), default=None,
              help="Test cases per target module (shrinking included).")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed, the same run.")
@click.option("--reports", type=click.Path(path_type=Path, file_okay=False), default=Path("reports"),
              show_default=True, help="Where report folders are written.")
@click.option("--isolation", type=click.Choice(["fork", "inprocess"]), default="fork", show_default=True,
              help="Kernels in a worker subprocess, or in this process (for measuring and debugging).")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="Operations per test case at most.")
@click.option("--op-timeout", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
              help="Seconds an operation may run before it is a hang.")
@click.option("--no-db", is_flag=True, help="Do not read or write the example database in .kfuzz/.")
@click.option("--groups/--no-groups", default=True, show_default=True,
              help="Draw concurrent groups in part of the test cases: 2 or 3 operations at once "
                   "under drawn preemptions, to find races (--no-groups: serial programs only).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Campaign processes at once, each on a CPU of its own (default: the CPUs this "
                   "process may use); 1 runs the campaigns one after another in this process.")
@click.option("--db", "db", default=None, metavar="URL|DIR",
              help="The example database: a folder (default .kfuzz/) or a Redis shared by several "
                   "machines, redis://HOST:PORT/N (needs kfuzz[cluster]).")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="Run the campaigns as tasks on the Dask cluster whose scheduler is at ADDRESS "
                   "(tcp://HOST:8786; workers: kfuzz worker ADDRESS). Reports are written here.")
@ci_options
def fuzz_cmd(paths: tuple[Path, ...], module_path: Path, time_budget: float | None, max_examples: int | None,
             seed: int, reports: Path, isolation: str, steps: int, op_timeout: float, no_db: bool,
             groups: bool, workers: int | None, db: str | None, cluster: str | None, ci: CiFlags) -> None:
    """Fuzz module files or folders (PATHS, default target_modules/) and write a report per bug.

    Each target module gets its own campaign: random sequences of load, unload,
    plug, unplug, file I/O, interrupts, ticks, suspend and injected faults, with
    groups of 2 or 3 of them run at once under drawn preemptions (races), each
    in a fresh simulated kernel. Every distinct bug is shrunk to a minimal repro,
    replayed three times and written to REPORTS/KIND-TITLE/.

    Each bug's report folder is written the moment it is found (the program as
    found), then updated once minimized and replayed. Ctrl-C or SIGTERM stops the
    run within seconds, leaving every report complete.

    For CI: --junit, --sarif, --summary and --stats write what CI systems read;
    with --baseline (main's reports folder) only a finding whose title is not
    there fails the run.

    Exit status: 0 no finding (or only known ones), 1 findings, 2 bad usage or
    input, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
    """
    from .fuzz import Events, FuzzOptions
    from .fuzz.parallel import default_workers
    from .fuzz.progress import make_progress
    from .render import finding_line, findings_lines, findings_table

    targets_in = list(paths) or [module_path]
    _check_module_paths(targets_in, module_path)
    targets, index = _targets(targets_in, module_path)
    _check_writable(reports)
    _cluster_flags(cluster, db, isolation)
    config = command_config()
    client = _cluster_client(cluster)  # connected now: its worker processes are the run's workers
    n_workers = _cluster_slots(client) if client is not None else workers or default_workers()
    try:  # a suppressed finding is a known one to the CI outputs, as one in the baseline is
        outputs, baseline = ci.open("fuzz", workers=n_workers, known=[s.title for s in config.suppress])
    except CiError as err:
        raise BadInput(str(err)) from None
    if time_budget is None and max_examples is None:
        time_budget = 15.0 * len(targets)
    db_dir, db_url = _example_database(db, no_db)
    opts = FuzzOptions(seed=seed, max_examples=max_examples, time_budget=time_budget, steps=steps,
                       db_dir=db_dir, db_url=db_url, reports=reports, op_timeout=op_timeout,
                       settings={"autoload": "1", **config.kernel}, groups=groups)
    console = _console()
    progress = make_progress(console)
    try:
        result = _run_fuzz(targets, index, opts, Events(progress, *outputs), isolation, client, n_workers)
    finally:
        progress.close()
    for failure in result.failures:
        console.print(f"[red]campaign failed:[/red] {failure}", soft_wrap=True)
    suppressed = apply_suppressions([(tr, tr[1].finding) for tr in result.records], config.suppress)
    result.records = suppressed.active  # a suppressed finding does not fail the run
    if console.is_terminal:
        console.print(findings_table(result))
    else:
        console.print(findings_lines(result), soft_wrap=True)
    for line in suppression_lines([(finding_line(*tr), s) for tr, s in suppressed.suppressed],
                                  [] if result.interrupted else suppressed.stale, config.where):
        console.print(line, soft_wrap=True, markup=False)
    if result.interrupted:
        console.print("[yellow]interrupted: the reports above are complete[/yellow]")
        sys.exit(exit_status(result.stopped_by or signal.SIGINT))
    known = [rec.finding.title for _, rec in result.records if rec.finding.title in baseline]
    for title in known:
        console.print(f"known (in --baseline {baseline.folder}): {title}", soft_wrap=True, markup=False)
    sys.exit(1 if len(known) < len(result.records) or result.failures else 0)


@main.command("check", cls=ConfigCommand, targets="paths", tables=("suppress",))
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--module-path", type=click.Path(path_type=Path, file_okay=False),
              default=Path("target_modules"), show_default=True,
              help="Where the modules the checked ones depend on are found.")
@click.option("--reports", type=click.Path(path_type=Path, file_okay=False), default=Path("reports"),
              show_default=True, help="Where a report folder is written for each bug a check meets.")
@click.option("--keyring", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="A public key (from kfuzz keygen): the module's signature must verify against it.")
@click.option("--require-signature", is_flag=True, help="An unsigned module fails the signature check.")
@click.option("--fuzz-examples", type=click.IntRange(min=0), default=200, show_default=True,
              help="Test cases of the fuzz part (seed 0, no example database); 0 leaves it out.")
@click.option("--isolation", type=click.Choice(["fork", "inprocess"]), default="fork", show_default=True,
              help="Kernels in a worker subprocess, or in this process.")
@click.option("--op-timeout", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
              help="Seconds an operation may run before it is a hang.")
@ci_options
def check_cmd(paths: tuple[Path, ...], module_path: Path, reports: Path, keyring: Path | None,
              require_signature: bool, fuzz_examples: int, isolation: str, op_timeout: float,
              ci: CiFlags) -> None:
    """The pre-release check of module files or folders: a checklist line per check.

    Load and unload cycles (and the Python heap across them); fail_nth sweeps over
    init, probe (each id of the device table), open (each node) and the other file
    operations; plug/unplug and bind/unbind cycles with I/O; an open /dev node pins
    the module; licence, signature and taint; a short fuzz run (fixed seed, a fixed
    number of test cases, no example database). The same module gets the same
    verdict every time. Each bug a check meets gets a report folder in REPORTS.

    Exit status: 0 every check passes, 1 a check found a bug, 2 bad usage or input.
    """
    import uuid

    from .check import CheckOptions, check_module, checklist
    from .check.events import emit_check
    from .fuzz import Events
    from .fuzz.events import Counts, RunFinished

    _check_module_paths(list(paths), module_path)
    if keyring is not None and not keyring.is_file():
        raise BadInput(_missing(keyring, "--keyring: no such file (give kfuzz keygen's signing_key.pub)"))
    keys = (_public_key(keyring, "--keyring"),) if keyring is not None else ()
    targets, index = _targets(list(paths), module_path)
    _check_writable(reports)
    suppressed = {s.title for s in command_config().suppress}
    try:  # a suppressed finding is known, as one in the baseline is
        outputs, baseline = ci.open("check", known=suppressed)
    except CiError as err:
        raise BadInput(str(err)) from None
    events = Events(*outputs)
    opts = CheckOptions(reports=reports, keyring=keyring, keys=keys, require_signature=require_signature,
                        fuzz_examples=fuzz_examples, isolation=isolation, op_timeout=op_timeout)
    console = _console()
    failed = False
    run = uuid.uuid4().hex  # a bug met by several modules' checks counts once in its report
    seconds = 0.0
    for target in targets:  # each module's checklist as soon as it is done
        done = check_module(target, index, opts, run)
        console.print(checklist(done), soft_wrap=True)
        emit_check(events, done)
        seconds += done.seconds
        # with --baseline, a module fails only on a line whose findings are all new, or that
        # failed without a finding (a signature, a node that does not pin)
        failed |= any(r.failed and (not r.findings or any(f.title not in baseline for f in r.findings))
                      for r in done.results)
    events.emit(RunFinished(Counts(0, 0, seconds, 0), False))
    sys.exit(1 if failed else 0)


def _run_fuzz(targets: list[str], index: ModuleIndex, opts: FuzzOptions, events: Events, isolation: str,
              client: Any, workers: int) -> FuzzResult:
    """The campaigns, here (on WORKERS processes) or through a Dask cluster's client."""
    from .fuzz import fuzz

    if client is None:
        return fuzz(targets, index, opts, events, isolation, workers)
    from .cluster.client import ClusterError, fuzz_on_cluster

    try:
        return fuzz_on_cluster(client, targets, index, opts, events)
    except ClusterError as err:
        raise BadInput(str(err)) from None


def _cluster_client(cluster: str | None) -> Any:
    """A client of the cluster at CLUSTER with workers ready, or None without --cluster."""
    if cluster is None:
        return None
    from .cluster.client import ClusterError, connect_cluster

    try:
        return connect_cluster(cluster)
    except ClusterError as err:
        raise BadInput(str(err)) from None


def _cluster_slots(client: Any) -> int:
    from .cluster.client import slots

    return slots(client)


@main.command("worker")
@click.argument("address")
@click.option("--nworkers", type=click.IntRange(min=1), default=None,
              help="Worker processes, one campaign each (default: the CPUs this process may use).")
@click.option("--name", default=None, help="The worker's name on the scheduler's dashboard.")
def worker_cmd(address: str, nworkers: int | None, name: str | None) -> None:
    """Serve the Dask scheduler at ADDRESS (tcp://HOST:8786) as a kfuzz cluster worker.

    Campaigns of `kfuzz fuzz --cluster ADDRESS` then run here, one a process; the
    module files come with each task, so this machine needs kfuzz (pip install
    'kfuzz[cluster]') and no checkout. The same as
    `DASK_DISTRIBUTED__WORKER__DAEMON=False dask worker ADDRESS --nthreads 1 --nworkers N`.
    """
    import os

    try:
        from .cluster.worker import address_problem, run_worker
    except ImportError:
        raise BadInput("kfuzz worker needs the distributed package: pip install 'kfuzz[cluster]'") from None
    problem = address_problem(address)
    if problem is not None:
        raise BadInput(problem)
    run_worker(address, nworkers or len(os.sched_getaffinity(0)), name)


main.add_command(db_group)

if __name__ == "__main__":
    main()
