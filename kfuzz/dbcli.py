"""`kfuzz db`: move an example corpus between the local folder and a shared Redis."""

from __future__ import annotations

from pathlib import Path

import click

from .fuzz.corpus import REDIS_SCHEME, CorpusError, export_to_redis, import_from_redis

DIR_OPTION = click.option("--dir", "db_dir", type=click.Path(path_type=Path, file_okay=False),
                          default=Path(".kfuzz"), show_default=True,
                          help="The local example database folder.")


def _redis_url(url: str) -> str:
    from .cli import BadInput

    if not url.startswith(REDIS_SCHEME):
        raise BadInput(f"{url}: not a Redis URL; write redis://HOST:PORT/N")
    return url


@click.group("db")
def db() -> None:
    """Move the example corpus between the folder .kfuzz/ and a Redis shared by a team.

    The corpus is what makes a bug found once the first thing tried next time;
    `kfuzz fuzz --db redis://HOST:PORT/N` fuzzes with the Redis one.
    """


@db.command("export")
@click.argument("url")
@DIR_OPTION
def export_cmd(url: str, db_dir: Path) -> None:
    """Copy the local corpus (--dir) into the Redis at URL (redis://HOST:PORT/N).

    Examples already there stay; nothing is deleted on either side.
    """
    from .cli import BadInput

    if not (db_dir / "examples").is_dir():
        raise BadInput(f"--dir {db_dir}: no example database there (a fuzz run writes {db_dir}/examples/)")
    try:
        count = export_to_redis(db_dir, _redis_url(url))
    except CorpusError as err:
        raise BadInput(str(err)) from None
    click.echo(f"{count} examples copied from {db_dir} to {url}")


@db.command("import")
@click.argument("url")
@DIR_OPTION
def import_cmd(url: str, db_dir: Path) -> None:
    """Copy the corpus in the Redis at URL (redis://HOST:PORT/N) into the local folder (--dir).

    Examples already there stay; nothing is deleted on either side.
    """
    from .cli import BadInput

    try:
        count = import_from_redis(_redis_url(url), db_dir)
    except CorpusError as err:
        raise BadInput(str(err)) from None
    click.echo(f"{count} examples copied from {url} to {db_dir}")
