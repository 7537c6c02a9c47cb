"""The `formwork` command: check and migrate app definitions, serve, demo, users, records.

A thin layer over the engine: options in, engine calls, results and errors out. Every
error a user can cause ends as a clear message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
import sqlalchemy as sa
from click.core import ParameterSource

from engine.appdef import ROLES, AppSet, check_apps, load_apps
from engine.errors import DefinitionErrors, FormworkError
from engine.i18n import _
from engine.permissions import Principal
from engine.recordio import ImportFailed
from engine.runtime import require_schema
from engine.storage import Database, database_url

BUNDLED_APPS = Path(__file__).resolve().parent.parent / "apps"
DEMO_DATABASE = "sqlite:///formwork-demo.db"
CLI = Principal.system("cli")  # the CLI acts on the operator's authority


# -- settings and errors --------------------------------------------------------------------------


@dataclass
class Settings:
    apps: tuple[Path, ...]
    database: str | None

    @property
    def app_paths(self) -> list[Path]:
        """--apps as given, else ./apps, else the apps shipped beside the engine."""
        if self.apps:
            return list(self.apps)
        return [Path("apps")] if Path("apps").is_dir() else [BUNDLED_APPS]

    @property
    def url(self) -> str:
        return database_url(self.database)


def safe_url(url: str) -> str:
    """The URL fit to print: the password replaced by ***."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(a URL that does not parse)"


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0].strip() if text else type(orig).__name__


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


class FormworkGroup(click.Group):
    """Turns the errors people can cause into messages and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DefinitionErrors as exc:
            for error in exc.errors:
                click.echo(str(error), err=True)
            _fail(f"{_plural(len(exc.errors), 'error')} in the app definitions")
        except ImportFailed as exc:
            for line in exc.lines():
                click.echo(line, err=True)
            _fail(f"nothing imported: {_plural(len(exc.errors), 'problem')} in the file")
        except FormworkError as exc:
            _fail(str(exc))
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            _fail(f"cannot use the database {safe_url(_url(ctx))}: {_first_line(exc)}")
        except sa.exc.SQLAlchemyError as exc:
            _fail(f"database error on {safe_url(_url(ctx))}: {_first_line(exc)}")
        except BrokenPipeError:
            raise  # the reader went away (`| head`): main() ends quietly
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}")


def _url(ctx: click.Context) -> str:
    found = ctx.meta.get("formwork.url")
    if found:
        return found
    settings = ctx.find_object(Settings)
    return settings.url if settings else database_url()


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def _settings() -> Settings:
    return click.get_current_context().ensure_object(Settings)


def _check_url(url: str) -> None:
    """Fail with a message on a URL SQLAlchemy cannot read or whose driver is not installed."""
    click.get_current_context().meta["formwork.url"] = url
    try:
        sa.create_engine(url).dispose()
    except sa.exc.ArgumentError as exc:
        _fail(f"cannot use the database URL {safe_url(url)}: {_first_line(exc)}")
    except ModuleNotFoundError as exc:
        hint = " (pip install 'formwork[postgres]')" if "psycopg" in str(exc.name) else ""
        _fail(f"cannot use the database {safe_url(url)}: {exc}{hint}")


def _open(url: str, appset: AppSet) -> Database:
    _check_url(url)
    return Database(appset, url)


@contextlib.contextmanager
def _database(ready: bool = True) -> Iterator[Database]:
    """The database of --database with the apps of --apps; `ready` insists it is migrated."""
    settings = _settings()
    appset = load_apps(settings.app_paths)
    db = _open(settings.url, appset)
    try:
        if ready:
            require_schema(db)
        yield db
    finally:
        db.dispose()


# -- the group ------------------------------------------------------------------------------------


@click.group(
    cls=FormworkGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--apps",
    "apps",
    multiple=True,
    type=click.Path(path_type=Path),
    envvar="FORMWORK_APPS",
    show_envvar=True,
    metavar="PATH",
    help="App definitions: a folder of *.yaml files or one file; repeat for more. "
    "[default: ./apps, else the apps shipped with Formwork]",
)
@click.option(
    "--database",
    metavar="URL",
    envvar="FORMWORK_DATABASE_URL",
    show_envvar=True,
    help="SQLAlchemy database URL, e.g. postgresql://user@host/db. "
    "[default: sqlite:///formwork.db]",
)
@click.version_option(package_name="formwork", prog_name="formwork")
@click.pass_context
def cli(ctx: click.Context, apps: tuple[Path, ...], database: str | None) -> None:
    """Formwork: accounts receivable apps from YAML definitions.

    \b
    Start here:
      formwork demo              build a demo database and serve it
      formwork check             check the app definitions (apps/*.yaml)
      formwork migrate           bring the database in line with them
      formwork user add NAME --role admin
      formwork serve             run the web UI and JSON API
    """
    ctx.obj = Settings(apps, database)


def main() -> None:
    """Console script entry point."""
    try:
        cli(prog_name="formwork")
    except BrokenPipeError:  # `formwork records export ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


# -- check and migrate ----------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def check(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check the app definitions and report every error.

    PATHS are folders of *.yaml files, or files (default: --apps). Errors go to
    stderr as FILE:LINE:COL: PATH: message, one per line, and the exit status is 1.
    The database is not touched.
    """
    where = list(paths) or _settings().app_paths
    appset, errors = check_apps(where)
    if errors or appset is None:
        for error in errors:
            click.echo(str(error), err=True)
        click.echo(f"formwork check: {_plural(len(errors), 'error')}", err=True)
        ctx.exit(1)
    entities = appset.entities()
    fields = sum(len(e.fields) for e in entities)
    click.echo(
        f"OK: {_plural(len(appset.apps), 'app')} ({', '.join(appset.apps)}), "
        f"{_plural(len(entities), 'entity')}, "
        f"{_plural(fields, 'field')} in {', '.join(str(p) for p in where)}"
    )


@cli.command()
@click.option("--write", is_flag=True, help="Rewrite the schema file shipped with the engine.")
def schema(write: bool) -> None:
    """Print the JSON Schema of an app file (point an editor's YAML plug-in at it).

    It is assembled from the registered sections and field types; --write updates
    engine/appdef/formwork-app.schema.json after one of them changed.
    """
    from engine.appdef.schema import published_text, write_published

    if write:
        click.echo(f"wrote {write_published()}")
    else:
        click.echo(published_text(), nl=False)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@click.option(
    "--allow-destructive",
    is_flag=True,
    help="Also apply steps that drop columns or tables, or narrow their types (data is lost).",
)
def migrate(dry_run: bool, allow_destructive: bool) -> None:
    """Bring the database in line with the app definitions.

    Prints the plan first. Additive steps (new tables, columns, indexes) are applied;
    destructive ones are refused, naming each column, unless --allow-destructive.
    """
    from engine.storage.migrate import apply

    with _database(ready=False) as db:
        plan = db.plan_migration()
        click.echo(f"Database {safe_url(db.url)}:")
        click.echo(plan.describe())
        if plan.empty:
            return
        if dry_run:
            note = " (the destructive steps need --allow-destructive)" if plan.destructive else ""
            click.echo(f"Dry run: nothing changed{note}.")
            return
        apply(db, plan, allow_destructive=allow_destructive)
        click.echo(
            f"Applied {_plural(len(plan.steps), 'step')}. "
            "Running servers switch to these definitions at their next look at the files."
        )


@cli.command()
def refresh() -> None:
    """Compute again the values that follow the date (`refresh: daily`: overdue).

    Run it once a day, shortly after midnight (cron, or the scheduler): an invoice whose
    due date passed yesterday becomes overdue in lists, filters and reports.
    """
    from engine.storage.daily import refresh_daily

    with _database() as db:
        counts = refresh_daily(db)
    for entity, changed in counts.items():
        click.echo(_("%(entity)s: %(count)s changed", entity=entity, count=changed))


# -- serve and demo -------------------------------------------------------------------------------


def _web_app(url: str, apps: list[Path], **config: Any) -> Any:
    from web import create_app

    _check_url(url)
    return create_app(
        {
            "DATABASE_URL": url,
            "APPS_PATH": str(apps[0]) if len(apps) == 1 else list(apps),
            **config,
        }
    )


host_option = click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to listen on."
)
port_option = click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on.",
)


@cli.command()
@host_option
@port_option
@click.option("--debug", is_flag=True, help="Reload on code changes; show tracebacks in pages.")
def serve(host: str, port: int, debug: bool) -> None:
    """Run the web UI and JSON API (Flask's built-in server).

    Never migrates: it refuses to start while the database is behind the app definitions
    (run `formwork migrate`). Edits to the app files are picked up while it runs, once
    they are valid and migrated. The built-in server is for one user on one machine; in
    production run gunicorn (each worker reloads on its own), configured by environment
    variables:

    \b
      FORMWORK_DATABASE_URL=postgresql://formwork@db/formwork \\
      FORMWORK_APPS=/srv/formwork/apps FORMWORK_SECRET_KEY=<random> \\
      gunicorn --workers 4 --bind 0.0.0.0:8000 'web:create_app()'

    FORMWORK_RELOAD_INTERVAL sets how often (seconds, default 2) a process looks at the files.
    """
    settings = _settings()
    app = _web_app(settings.url, settings.app_paths)
    click.echo(f"Serving {safe_url(settings.url)} on http://{host}:{port} (Ctrl+C stops)")
    app.run(host=host, port=port, debug=debug, use_reloader=debug)


@cli.command()
@host_option
@port_option
@click.option(
    "--database",
    "demo_database",
    metavar="URL",
    help=f"Where to build the demo. [default: {DEMO_DATABASE}, in this folder]",
)
@click.option("--reset", is_flag=True, help="Drop the demo's tables and build it afresh.")
@click.option("--no-serve", is_flag=True, help="Build the database, then stop.")
@click.pass_context
def demo(
    ctx: click.Context,
    host: str,
    port: int,
    demo_database: str | None,
    reset: bool,
    no_serve: bool,
) -> None:
    """Build a demo database with realistic data, then serve it.

    Forty customers in five currencies, eight months of invoices, bank lines and
    payment allocations, exchange rates, and collection tasks with contact logs and
    promises to pay, all dated relative to today. Running it again reuses the data
    (--reset starts over). Your FORMWORK_DATABASE_URL is never touched unless you name
    it with --database.
    """
    from engine import demo as demo_data
    from engine.demo_statement import story_text

    settings = _settings()
    parent = ctx.parent
    explicit = parent is not None and (
        parent.get_parameter_source("database") == ParameterSource.COMMANDLINE
    )
    url = database_url(demo_database or (settings.database if explicit else None) or DEMO_DATABASE)
    appset = load_apps(settings.app_paths)
    demo_data.check_apps(appset)
    db = _open(url, appset)
    try:
        if reset:
            if url != DEMO_DATABASE and not click.confirm(
                f"Drop every Formwork table in {safe_url(url)} and its data?", default=False
            ):
                _fail("nothing dropped")
            db.metadata.drop_all(db.engine)
            click.echo(f"Dropped the tables in {safe_url(url)}.")
        plan = db.plan_migration()
        if plan.destructive:
            _fail(
                f"{safe_url(url)} has tables the apps no longer match:\n{plan.describe()}\n"
                "Run `formwork demo --reset` to start over."
            )
        db.migrate()
        story = demo_data.build(db)
        if story is not None:
            click.echo(f"Built the demo data in {safe_url(url)}:")
        else:
            click.echo(f"{safe_url(url)} already has data; using it as it is (--reset rebuilds):")
        for qualname, n in demo_data.counts(db).items():
            click.echo(f"  {n:5d}  {appset.entity(qualname).plural.lower()}")
        if story is not None:
            click.echo(story_text(story))
        users = demo_data.add_users(db)
    finally:
        db.dispose()
    click.echo("")
    address = f"http://{host}:{port}"
    for username, password, _role in users:
        if password is None:
            click.echo(f"  {username}: an existing user, left as it is (password unchanged)")
        else:
            click.secho(f"  Log in at {address} as {username} / {password}", bold=True)
    click.echo("")
    if no_serve:
        click.echo(f"Serve it later with: formwork --database {url} serve")
        return
    # One process on one machine: a fresh secret per run is all the demo needs.
    app = _web_app(url, settings.app_paths, SECRET_KEY=secrets.token_hex(32))
    app.run(host=host, port=port)


# -- users ----------------------------------------------------------------------------------------


@cli.group()
def user() -> None:
    """Add, list, disable and enable users, and change their passwords."""


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _read_password(password: str | None) -> str:
    """--password, else asked twice hidden on a terminal, else the first line of stdin."""
    if password is not None:
        return password
    if _stdin_is_tty():
        return str(
            click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
        )
    return sys.stdin.readline().rstrip("\r\n")


def password_option(what: str) -> Any:
    return click.option(
        "--password",
        help=f"{what} (8+ characters). Without it, you are asked twice, hidden; "
        "when stdin is not a terminal, its first line is the password.",
    )


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@password_option("The password")
def user_add(name: str, role: str, password: str | None) -> None:
    """Add user NAME, or change the role and password of an existing one."""
    from engine.auth import add_user

    password = _read_password(password)
    with _database() as db:
        user = add_user(db, name, password, role)
    click.echo(f"user {user.username} ({user.role}) saved")


@user.command("list")
def user_list() -> None:
    """List users with their roles."""
    from engine.auth import list_users

    with _database() as db:
        users = list_users(db)
    if not users:
        click.echo("no users yet: add one with `formwork user add NAME --role admin`")
    width = max((len(u.username) for u in users), default=0)
    for u in users:
        state = "" if u.active else "  (inactive)"
        click.echo(f"{u.username:<{width}}  {u.role}{state}")


@user.command("passwd")
@click.argument("name")
@password_option("The new password")
def user_passwd(name: str, password: str | None) -> None:
    """Give user NAME a new password; every session of the user ends."""
    from engine.auth import set_password

    password = _read_password(password)
    with _database() as db:
        saved = set_password(db, name, password)
    click.echo(f"password of {saved.username} changed; its sessions have ended")


@user.command("disable")
@click.argument("name")
def user_disable(name: str) -> None:
    """Stop user NAME from logging in: its sessions end and its API tokens stop working."""
    from engine.auth import set_active

    with _database() as db:
        saved = set_active(db, name, False)
    click.echo(f"user {saved.username} disabled: it cannot log in or use the API")


@user.command("enable")
@click.argument("name")
def user_enable(name: str) -> None:
    """Let a disabled user NAME log in again (with its old password)."""
    from engine.auth import set_active

    with _database() as db:
        saved = set_active(db, name, True)
    click.echo(f"user {saved.username} enabled")


# -- API tokens -----------------------------------------------------------------------------------


@cli.group()
def token() -> None:
    """Personal API tokens (Authorization: Bearer) for programs that use the JSON API."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="", help="What the token is for, to tell tokens apart.")
def token_create(username: str, name: str) -> None:
    """Make an API token for USERNAME; it acts with the user's role. Shown once only."""
    from engine.tokens import create_token

    with _database() as db:
        made, secret = create_token(db, username, name)
    click.echo(secret)
    click.echo(
        f"API token #{made.id} of {made.username}{f' ({made.name})' if made.name else ''}: "
        "copy it now, it is not shown again",
        err=True,
    )


@token.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
def token_list(username: str | None) -> None:
    """List API tokens: id, user, name, start of the token, created, last used."""
    from engine.tokens import list_tokens

    with _database() as db:
        tokens = list_tokens(db, username)
    if not tokens:
        click.echo("no API tokens: make one with `formwork token create USER`")
    for t in tokens:
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        click.echo(
            f"#{t.id}  {t.username}  {t.name or '-'}  {t.hint}…  "
            f"created {t.created_at:%Y-%m-%d %H:%M}  {used}"
        )


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(1, 2**63 - 1))
def token_revoke(token_id: int) -> None:
    """Revoke API token ID (see `formwork token list`): it stops working at once."""
    from engine.tokens import revoke_token

    with _database() as db:
        gone = revoke_token(db, token_id)
    click.echo(f"API token #{gone.id} of {gone.username} revoked")


# -- records --------------------------------------------------------------------------------------


@cli.group()
def records() -> None:
    """Export and import the records of one entity (CSV, XLSX or JSON)."""


def _entity_name(db: Database, qualname: str) -> str:
    try:
        return db.appset.entity(qualname).qualname
    except FormworkError:
        known = ", ".join(e.qualname for e in db.appset.entities())
        _fail(f"no entity {qualname!r}; the entities are: {known}")


@records.command("export")
@click.argument("entity", metavar="APP.ENTITY")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "xlsx"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="[default: stdout]"
)
@click.option(
    "--raw",
    is_flag=True,
    help="Write CSV cells exactly as stored, even text a spreadsheet would run as a formula.",
)
def records_export(entity: str, fmt: str, output: Path | None, raw: bool) -> None:
    """Write every record of APP.ENTITY, e.g. receivables.invoice.

    A reference is written as the target's unique name where it has one (an invoice's
    customer by name), else as its id. Money is exact text; computed fields are included.
    A CSV cell starting with = + - @ (a formula to a spreadsheet, unless it is a plain
    number like -12.50) gets a leading ' so that opening the file runs nothing; --raw
    keeps the exact text for a round trip. XLSX cells are typed, and text is never a
    formula there.
    """
    from engine.recordio import export_records

    if fmt == "xlsx" and output is None and sys.stdout.isatty():
        _fail(_("an XLSX workbook is binary: give --output FILE.xlsx (or redirect stdout)"))
    with _database() as db:
        qualname = _entity_name(db, entity)
        repo = db.repository(CLI)
        if output is None:
            out = sys.stdout.buffer if fmt == "xlsx" else sys.stdout
            count = export_records(repo, qualname, fmt, out, raw=raw)
        elif fmt == "xlsx":
            with output.open("wb") as binary:
                count = export_records(repo, qualname, fmt, binary, raw=raw)
        else:
            with output.open("w", encoding="utf-8", newline="") as text:
                count = export_records(repo, qualname, fmt, text, raw=raw)
    where = f" to {output}" if output else ""
    click.echo(f"exported {_plural(count, 'record')} of {qualname}{where}", err=True)


@records.command("import")
@click.argument("entity", metavar="APP.ENTITY")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "xlsx"]),
    help="[default: by extension]",
)
@click.option(
    "--encoding",
    help="Of a CSV file, e.g. utf-8, gb18030, gbk, cp1252, iso-8859-1. [default: detected]",
)
@click.option("--sheet", help="Of an XLSX workbook. [default: the first]")
@click.option("--chunk-size", type=click.IntRange(min=1), default=None, hidden=True)
def records_import(
    entity: str,
    file: Path,
    fmt: str | None,
    encoding: str | None,
    sheet: str | None,
    chunk_size: int | None,
) -> None:
    """Create records of APP.ENTITY from FILE: all of them, or none.

    Columns (CSV header, first row of the sheet, JSON keys) are field names. A reference
    holds the target's unique name (an invoice's customer column holds customer names)
    or its id. Empty cells are blanks. id and computed columns, as exported, are ignored.
    CSV files may be UTF-8 (with or without BOM), GB18030/GBK or cp1252/ISO-8859-1:
    the encoding is detected unless --encoding names it; commas, semicolons or tabs
    separate the cells. Big files are read in chunks, with a progress bar on a terminal.
    Every problem is listed with its line (or sheet row); then nothing is imported.
    """
    from engine.recordio import CHUNK, format_of, import_records
    from engine.recordio.progress import ImportProgress

    kind = format_of(file, fmt)
    with _database() as db:
        qualname = _entity_name(db, entity)
        with ImportProgress(_("importing %(file)s", file=file.name)) as progress:
            count = import_records(
                db.repository(CLI),
                qualname,
                file,
                kind,
                name=str(file),
                encoding=encoding,
                sheet=sheet,
                chunk_size=chunk_size or CHUNK,
                progress=progress,
            )
    click.echo(f"imported {_plural(count, 'record')} into {qualname}")


from engine.imports.cli import import_command  # noqa: E402 - it uses the helpers above

cli.add_command(import_command)
import engine.cli_reconcile  # noqa: E402, F401  (registers `formwork reconcile`)
