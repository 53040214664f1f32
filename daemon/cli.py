"""The `curmail` command line: run, check-config, db, cases, replay, outbox and demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from daemon.app import App
from daemon.clock import Clock, parse_now
from daemon.config import Settings, load_settings
from daemon.dbcopy import add_db_copy_parser, cmd_db_copy
from daemon.errors import ConfigError, CurmailError
from daemon.reports.cli import (
    add_contacts_parser,
    add_report_parser,
    add_retention_parser,
    cmd_contacts,
    cmd_report,
    cmd_retention,
)
from daemon.status import add_status_parser, cmd_status

log = logging.getLogger("curmail.cli")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curmail", description="E-mail case daemon for work with the ЦУР")
    parser.add_argument("--config", help="configuration file (default: $CURMAIL_CONFIG)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon until SIGTERM")
    run.add_argument("--once", action="store_true", help="do all pending work once and exit")
    run.add_argument("--now", help="act as if the clock read this ISO 8601 time (with --once)")

    sub.add_parser("check-config", help="validate the configuration: exit 0 if valid, 2 if not")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations")
    db_sub.add_parser("current", help="show the schema revision")
    add_db_copy_parser(db_sub)

    cases = sub.add_parser("cases", help="list and show cases")
    cases_sub = cases.add_subparsers(dest="cases_command", required=True)
    listing = cases_sub.add_parser("list")
    listing.add_argument("--open", action="store_true", help="only open cases")
    listing.add_argument("--json", action="store_true")
    show = cases_sub.add_parser("show")
    show.add_argument("number", type=int)
    show.add_argument("--json", action="store_true")

    replay = sub.add_parser("replay", help="process an .eml file, or re-run parked messages")
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("file", nargs="?", type=Path)
    target.add_argument("--parked", action="store_true")
    replay.add_argument("--now", help="receipt time for a replayed file (ISO 8601)")

    outbox = sub.add_parser("outbox", help="outgoing mail: list, show, confirm or resend")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    outbox_sub.add_parser("list").add_argument("--all", action="store_true", help="include sent rows")
    for name in ("show", "confirm", "resend"):
        outbox_sub.add_parser(name).add_argument("number", type=int)

    demo = sub.add_parser("demo", help="run the whole workflow on local servers; no configuration needed")
    demo.add_argument("--keep", type=Path, help="keep the demo's files in this folder")
    add_status_parser(sub)
    add_report_parser(sub)
    add_contacts_parser(sub)
    add_retention_parser(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    # Only `run` logs in (it loads its own settings); the other commands must work with the service stopped.
    return load_settings(args.config, check_secrets=args.command == "check-config")


def _open(args: argparse.Namespace, now: str | None = None) -> App:
    settings = _settings(args)
    clock = Clock(fixed=parse_now(now, settings.organization.timezone)) if now else Clock()
    return App.open(settings, clock)


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"{settings.source}: OK ({len(settings.staff)} staff, database {settings.database.url.split(':', 1)[0]})")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    if args.db_command == "copy":
        return cmd_db_copy(args)
    from daemon.db.engine import make_engine
    from daemon.db.migrate import current_revision, head_revision, upgrade

    db = _settings(args).database
    engine = make_engine(db.url, db.busy_timeout_seconds, db.db_schema)
    if args.db_command == "upgrade":
        upgrade(engine)
    print(f"schema revision: {current_revision(engine)} (latest: {head_revision(engine)})")
    engine.dispose()
    return EXIT_OK


def cmd_cases(args: argparse.Namespace) -> int:
    from daemon.casesview import case_detail, case_list, print_case, print_cases

    app = _open(args)
    try:
        if args.cases_command == "list":
            rows = case_list(app, open_only=args.open)
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            else:
                print_cases(rows)
            return EXIT_OK
        detail = case_detail(app, args.number)
        if detail is None:
            print(f"curmail: no case {args.number}", file=sys.stderr)
            return EXIT_ERROR
        if args.json:
            print(json.dumps(detail, ensure_ascii=False, indent=2))
        else:
            print_case(detail)
        return EXIT_OK
    finally:
        app.close()


def cmd_replay(args: argparse.Namespace) -> int:
    from daemon.replay import replay_file, replay_parked

    app = _open(args)
    try:
        if args.parked:
            report = replay_parked(app)
        else:
            received = parse_now(args.now, app.settings.organization.timezone) if args.now else datetime.now(UTC)
            report = replay_file(app, args.file, received)
        print(f"processed {report.processed}, parked {report.parked}, failed {report.failed}")
        return EXIT_OK if not report.parked and not report.failed else EXIT_ERROR
    finally:
        app.close()


def cmd_outbox(args: argparse.Namespace) -> int:
    from daemon.outboxview import outbox_command

    app = _open(args)
    try:
        return outbox_command(app, args)
    finally:
        app.close()


def cmd_demo(args: argparse.Namespace) -> int:
    from daemon.demo import run_demo

    return run_demo(keep=args.keep)


def _cmd_run_daemon(args: argparse.Namespace) -> int:
    from daemon.runner import cmd_run as run  # the daemon with sd_notify, signals, reload and the lease

    return run(args)


COMMANDS = {
    "run": _cmd_run_daemon,
    "status": cmd_status,
    "check-config": cmd_check_config,
    "db": cmd_db,
    "cases": cmd_cases,
    "replay": cmd_replay,
    "outbox": cmd_outbox,
    "demo": cmd_demo,
    "report": cmd_report,
    "contacts": cmd_contacts,
    "retention": cmd_retention,
}


def main(argv: Sequence[str] | None = None) -> int:
    from daemon.logs import setup_logging

    args = _parser().parse_args(argv)
    setup_logging(args.log_format, logging.DEBUG if args.verbose else logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"curmail: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CurmailError as exc:
        print(f"curmail: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
