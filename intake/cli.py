"""The `testimony` command, domain half: set up, serve the apps, report status, staff accounts,
the audit log.

The commands that need the worker code (`worker`, `transcribe`, `model`) are added by
`workers.cli`, which is the console entry point: the domain never imports the workers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from intake.config import Config

if TYPE_CHECKING:
    from intake.crypto import Keyring


def _config() -> Config:
    return Config.from_env()


class _Group(click.Group):
    """Runs a command; a database or instance that cannot be opened is one sentence, not a
    traceback (the usual cause: run from another folder, where ./instance does not exist)."""

    def invoke(self, ctx: click.Context) -> object:
        from sqlalchemy.exc import OperationalError

        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            cfg = _config()
            raise click.ClickException(
                f"cannot open the database {_redact(cfg.database_url)} "
                f"({str(exc.orig).strip() if exc.orig else 'no connection'}). Run the command "
                f"from the project folder, set TESTIMONY_INSTANCE_PATH (now "
                f"{cfg.instance_path}) or TESTIMONY_DATABASE_URL, or run `testimony init` first."
            ) from None


@click.group(cls=_Group)
def main() -> None:
    """Testimony intake, transcription and review."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@main.command()
@click.option(
    "--audience",
    type=click.Choice(["all", "public", "staff"]),
    default="all",
    show_default=True,
    help="What this host serves: both apps (one host), only the public intake, or the staff "
    "app and workers.",
)
def init(audience: str) -> None:
    """Create the instance folder, the secret keys this host needs (if missing) and the
    database schema.

    A public-only host gets the public app's session key and the receipt pepper, and reads the
    archive's public key (copied from the staff host): never a staff key or the archive's
    private key, which it would not use and which a seized host must not hold. The bundled
    model is assembled by `testimony model` (or by the first worker to need it)."""
    from intake import schema
    from intake.crypto import Keyring
    from intake.storage import Store

    cfg = _config()
    cfg.instance_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    public, staff = audience in ("all", "public"), audience in ("all", "staff")
    if not staff and not cfg.archive_public_key_file.exists():
        raise click.ClickException(
            f"no archive public key at {cfg.archive_public_key_file}: copy it from the staff "
            "host (made there by `testimony init --audience staff`)"
        )
    Keyring.load(
        archive=cfg.archive_keys if staff else None,
        session=cfg.secret_key_file if public else None,
        pepper=cfg.receipt_pepper_file if public else None,
        staff=cfg.staff_key_file if staff else None,
        search=cfg.search_key_file if staff else None,
        create=True,
    )
    Store(cfg.storage_path).ensure()
    # The key that signs the event log's checkpoints: a file on this host, never in the
    # database, so that whoever can write the database cannot sign a rewritten history.
    from intake.records.checkpoints import load_signing_key, public_key_file

    load_signing_key(cfg.checkpoint_key_file, create=True)
    click.echo(f"checkpoint public key (publish it): {public_key_file(cfg.checkpoint_key_file)}")
    schema.upgrade(cfg.database_url)
    click.echo(f"database ready: {_redact(cfg.database_url)}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: TESTIMONY_HOST).")
@click.option(
    "--port",
    default=None,
    type=int,
    help="Port (default: TESTIMONY_PORT, or TESTIMONY_STAFF_PORT for the staff app).",
)
@click.option(
    "--audience",
    type=click.Choice(["public", "staff"]),
    default="public",
    show_default=True,
    help="The public intake, or the staff app.",
)
def serve(host: str | None, port: int | None, audience: str) -> None:
    """Serve one web app with gunicorn (gevent workers, no access log)."""
    from intake import serving

    cfg = _config()
    host = host or cfg.host
    port = port or (cfg.staff_port if audience == "staff" else cfg.port)
    what = "the staff app" if audience == "staff" else "the intake"
    path = "/staff/" if audience == "staff" else ""
    click.echo(f"Serving {what} on http://{host}:{port}{path}", err=True)
    serving.serve(cfg, host, port, "staff" if audience == "staff" else "public")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def status(as_json: bool) -> None:
    """Testimonies by state, jobs waiting, and what needs attention (for operators)."""
    from intake.records import operations

    report = operations.status_report(_config())
    if as_json:
        json.dump(report, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return
    click.echo(operations.format_report(report))


@main.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the bags and the catalogue.",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Records approved on or after this day (YYYY-MM-DD), exported before or not.",
)
@click.option(
    "--id",
    "pseudonyms",
    multiple=True,
    help="Export this record (a pseudonym); repeat for several. Never overrides consent.",
)
def export(out_dir: Path, since: datetime | None, pseudonyms: tuple[str, ...]) -> None:
    """Export approved records as BagIt bags with a catalogue (docs/export.md).

    Without --id or --since: every approved record not yet exported. Records that may not go
    (withdrawn, not approved, unconsented, under embargo) are held back and listed, whatever
    the command line names."""
    from tqdm import tqdm

    from intake import create_app
    from intake.events import Actor
    from intake.export import runs
    from intake.models import utcnow

    # bagit logs every file it hashes; the progress bars say enough.
    logging.getLogger("bagit").setLevel(logging.WARNING)
    cfg = _config()
    app = create_app(cfg, "worker")
    svc = app.extensions["testimony"]
    try:
        with svc.db.session() as session:
            run_id = runs.start(
                session,
                out_dir=out_dir.resolve(),
                requested_by=Actor.operator.value,
                since=since.date() if since else None,
                pseudonyms=list(pseudonyms) or None,
            ).id
        bars: dict[str, tqdm] = {}

        def progress(done: int, total: int, pseudonym: str, step: int) -> None:
            overall = bars.get("total")
            if overall is None:
                overall = bars["total"] = tqdm(total=total, unit="record", desc="export")
            overall.n = done
            overall.refresh()
            record = bars.get("record")
            if record is None or record.desc != pseudonym:
                if record is not None:
                    record.close()
                record = bars["record"] = tqdm(
                    total=len(runs.STEPS), desc=pseudonym, leave=False, position=1
                )
            record.n = min(step, len(runs.STEPS))
            record.set_postfix_str(runs.STEPS[min(step, len(runs.STEPS) - 1)])

        try:
            outcome = runs.perform(svc, run_id, utcnow().date(), progress)
        except runs.ExportFailed as exc:
            raise click.ClickException(f"export failed: {exc}") from exc
        finally:
            for bar in bars.values():
                bar.close()
    finally:
        svc.db.dispose()
    click.echo(f"exported {len(outcome['exported'])} record(s) to {out_dir}")
    for held in outcome["held_back"]:
        click.echo(f"held back: {held['message']}")
    if runs.NO_ARCHIVE_KEY in outcome["notes"]:
        click.echo(
            "note: no preservation bags were written: no archive public key at "
            f"{cfg.preservation_public_key_file} (docs/export.md)"
        )


@main.group()
def audit() -> None:
    """The tamper-evident event log: verify the chain, print its head."""


@audit.command("verify")
@click.option("--head", "expected_head", default=None, help="A SEQ:HASH written down earlier.")
def audit_verify(expected_head: str | None) -> None:
    """Recompute the whole chain and check it against the latest signed checkpoint; name what
    does not hold and exit 1."""
    from intake.db import Database
    from intake.records import audit as chain
    from intake.records import checkpoints

    cfg = _config()
    db = Database(cfg.database_url)
    try:
        with db.session() as session:
            verdict = chain.verify(session, expected_head)
            try:
                custody = checkpoints.verify(
                    session, cfg.checkpoint_key_file, cfg.checkpoint_log_file
                )
            except checkpoints.CheckpointError as exc:
                custody = str(exc)
    finally:
        db.dispose()
    if not verdict.ok:
        click.echo(f"BROKEN at entry {verdict.first_bad_seq}: {verdict.reason}", err=True)
        sys.exit(1)
    if custody is not None:
        click.echo(f"BROKEN against the signed checkpoints: {custody}", err=True)
        sys.exit(1)
    click.echo(f"ok: {verdict.entries} entries, head {verdict.head}")


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the log now (exports and the upkeep sweep also write them)."""
    from intake.db import Database
    from intake.records import checkpoints

    cfg = _config()
    db = Database(cfg.database_url)
    try:
        with db.session() as session:
            written = checkpoints.write(session, cfg.checkpoint_key_file, cfg.checkpoint_log_file)
    finally:
        db.dispose()
    if written is None:
        click.echo("the event log is behind its latest checkpoint", err=True)
        sys.exit(1)
    click.echo(json.dumps(written[0].as_json(), sort_keys=True))


@audit.command("head")
def audit_head() -> None:
    """Print the chain's head (SEQ:HASH) to write down or publish."""
    from intake.db import Database
    from intake.records import audit as chain

    db = Database(_config().database_url)
    try:
        with db.session() as session:
            click.echo(chain.head(session))
    finally:
        db.dispose()


@main.group()
def keys() -> None:
    """The archive key pair that every data key is sealed to."""


@keys.command("rotate")
@click.option(
    "--limit", type=click.IntRange(min=0), default=None, help="Re-seal at most this many rows."
)
@click.option(
    "--batch", type=click.IntRange(min=1), default=50, show_default=True, help="Rows per commit."
)
def keys_rotate(limit: int | None, batch: int) -> None:
    """Seal every data key to a new archive key pair, then retire the old private key.

    Re-encrypts no audio. Interrupted (or stopped by --limit), it resumes where it stopped when
    run again. Run it where the private key is (the workers' or the staff app's host), then
    give the new archive.pub to every public app."""
    from intake.db import Database
    from intake.records import key_rotation

    db = Database(_config().database_url)
    try:
        report = key_rotation.rotate(_config(), db, limit=limit, batch=batch)
    except key_rotation.RotationError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"archive key {report.fingerprint}: {report.resealed} sealed keys sealed again")
    if report.finished:
        retired = ", ".join(report.retired) or "none"
        click.echo(f"every row is sealed to the new key; old keys retired: {retired}")
    else:
        click.echo(f"{report.remaining} left: run `testimony keys rotate` again to finish")


@main.command()
def routes() -> None:
    """Every route of the public and the staff app with who may open it (the access matrix,
    read from the same rules the apps enforce)."""
    from intake import access, create_app

    cfg = _config()
    for audience in ("public", "staff"):
        app = create_app(cfg, audience)  # type: ignore[arg-type]
        click.echo(f"# {audience} app")
        for path, methods, endpoint, who in access.matrix(app):
            click.echo(f"{path:55} {methods:10} {endpoint:32} {who}")
        app.extensions["testimony"].db.dispose()


@main.group()
def user() -> None:
    """Staff accounts: add, list, disable."""


@user.command("add")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["reviewer", "translator", "indexer", "archivist", "custodian", "admin"]),
    help="A role of the account; repeat for several.",
)
def user_add(email: str, roles: tuple[str, ...]) -> None:
    """Create a staff account and print its one-time password (changed at first sign-in)."""
    from intake.db import Database
    from intake.records import accounts

    db = Database(_config().database_url)
    try:
        with db.session() as session:
            account, password = accounts.create(session, email, roles)
            email = account.email
    except accounts.AccountError as exc:
        raise click.ClickException(f"cannot create {email!r}: {exc.reason}") from exc
    finally:
        db.dispose()
    click.echo(f"created {email} ({', '.join(sorted(roles))})")
    click.echo(f"one-time password: {password}")
    hours = int(accounts.ONE_TIME_VALID.total_seconds() // 3600)
    click.echo(
        f"shown this once and stored only as a hash; it opens the first sign-in for {hours} "
        "hours; after that an admin makes a new one (reset on the accounts page)"
    )


@user.command("list")
def user_list() -> None:
    """Every staff account with its roles and whether it is disabled."""
    from sqlalchemy import select

    from intake.db import Database
    from intake.models import StaffAccount

    db = Database(_config().database_url)
    try:
        with db.session() as session:
            for account in session.scalars(select(StaffAccount).order_by(StaffAccount.email)):
                roles = ",".join(r.role.value for r in account.roles) or "-"
                flags = ["disabled" if account.disabled else "active"]
                if not account.totp_confirmed:
                    flags.append("second factor not set up")
                click.echo(f"{account.email}\t{roles}\t{', '.join(flags)}")
    finally:
        db.dispose()


@user.command("disable")
@click.argument("email")
def user_disable(email: str) -> None:
    """Disable a staff account and end its sessions."""
    from intake.db import Database
    from intake.records import accounts

    db = Database(_config().database_url)
    try:
        with db.session() as session:
            account = accounts.find(session, email)
            if account is None:
                raise click.ClickException(f"no account {email!r}")
            accounts.set_disabled(session, account, True, accounts.Actor.operator)
    finally:
        db.dispose()
    click.echo(f"disabled {email}")


@main.group()
def custodian() -> None:
    """Custodians: the staff members whose passphrase-locked keys open identities."""


_CUSTODIAN_MESSAGES = {
    "no_account": "no staff account with that email: create it with `testimony user add`",
    "exists": "that account already has a custodian key",
    "short_passphrase": "the passphrase needs at least 12 characters",
    "existing_passphrase_needed": "custodians exist: an existing custodian's passphrase is needed",
    "wrong_existing_passphrase": "that passphrase opens no existing custodian's key",
}


def _custodian_keyring() -> Keyring:
    from intake.crypto import Keyring

    cfg = _config()
    # The archive's private side: identities waiting for a first custodian open with it.
    return Keyring.load(archive=cfg.archive_keys, private=True, create=False)


@custodian.command("add")
@click.argument("email")
@click.option(
    "--passphrase-stdin",
    is_flag=True,
    help="Read the new passphrase from the first line of standard input (and an existing "
    "custodian's from the second), for scripts.",
)
def custodian_add(email: str, passphrase_stdin: bool) -> None:
    """Make a custodian key pair for a staff account, locked by a passphrase it asks for.

    The first custodian receives every identity waiting for the archive; a further one needs
    an existing custodian's passphrase. Run it where the archive's private key is."""
    from intake.db import Database
    from intake.public import custodians

    cfg = _config()
    keyring = _custodian_keyring()
    lines = sys.stdin.read().splitlines() if passphrase_stdin else []
    db = Database(cfg.database_url)
    try:
        with db.session() as session:
            if passphrase_stdin:
                passphrase = lines[0] if lines else ""
            else:
                passphrase = click.prompt(
                    "New custodian's passphrase", hide_input=True, confirmation_prompt=True
                )
            existing = None
            if custodians.exist(session):
                if passphrase_stdin:
                    existing = lines[1] if len(lines) > 1 else None
                else:
                    existing = click.prompt("An existing custodian's passphrase", hide_input=True)
            added = custodians.add(session, keyring, cfg, email, passphrase, existing)
    except custodians.CustodianError as exc:
        raise click.ClickException(_CUSTODIAN_MESSAGES.get(exc.reason, exc.reason)) from exc
    finally:
        db.dispose()
    click.echo(f"custodian key made for {email}; {added.sealed} identities sealed to it")


@custodian.command("reseal")
def custodian_reseal() -> None:
    """Seal any identity still waiting for the archive to every custodian (for one sealed
    while the first custodian was being added)."""
    from intake.db import Database
    from intake.public import identity

    keyring = _custodian_keyring()
    db = Database(_config().database_url)
    try:
        with db.session() as session:
            count = identity.seal_waiting(session, keyring)
    finally:
        db.dispose()
    click.echo(f"{count} waiting identities sealed to the custodians")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()


@main.group()
def search() -> None:
    """The blind search index of approved transcripts and translations."""


@search.command("reindex")
def search_reindex() -> None:
    """Rebuild the search index of every approved record under the current search key.

    Run it on the staff app's (or a worker's) host after a new search key
    (instance/secrets/search.key): entries made under the old key match no query any more.
    Each record is committed on its own; run it again if it was interrupted."""
    from intake.crypto import Keyring
    from intake.db import Database
    from intake.review import search_index

    cfg = _config()
    keyring = Keyring.load(
        archive=cfg.archive_keys, private=True, search=cfg.search_key_file, create=False
    )
    db = Database(cfg.database_url)
    try:
        with db.session() as session:
            records, entries = search_index.reindex(session, keyring)
    finally:
        db.dispose()
    click.echo(f"search index rebuilt: {records} records, {entries} segments")
