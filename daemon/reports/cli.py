"""`curmail report quarterly|problems`, `curmail contacts check|notify|show`, `curmail retention [--dry-run]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_report_parser(subparsers: Any) -> None:
    report = subparsers.add_parser("report", help="quarterly statistics and the monthly problems report")
    sub = report.add_subparsers(dest="report_command", required=True)
    quarterly = sub.add_parser("quarterly", help="write the XLSX, CSV and text summary of a quarter")
    quarterly.add_argument("quarter", nargs="?", help="e.g. 2026Q4 (default: the last completed quarter)")
    quarterly.add_argument("--output", type=Path, default=Path("."), help="folder for the files (default: .)")
    problems = sub.add_parser("problems", help="top problems by topic and street, trend, outcomes")
    problems.add_argument("month", nargs="?", help="e.g. 2026-11 (default: the last completed month)")
    problems.add_argument("--output", type=Path, help="also write problemy-<month>.xlsx into this folder")


def add_contacts_parser(subparsers: Any) -> None:
    contacts = subparsers.add_parser("contacts", help="contact officials (п. 9): notices to the ЦУР")
    sub = contacts.add_subparsers(dest="contacts_command", required=True)
    sub.add_parser("check", help="notify the ЦУР if the contact officials changed since the last notice")
    sub.add_parser("notify", help="send the notice with the current contact officials again")
    sub.add_parser("show", help="the last recorded state")


def add_retention_parser(subparsers: Any) -> None:
    retention = subparsers.add_parser("retention", help="delete mail and personal data past the retention period")
    retention.add_argument("--dry-run", action="store_true", help="only list what would be deleted")


def _open(args: argparse.Namespace) -> Any:
    from daemon.cli import _open as open_app  # late: daemon.cli imports this module

    return open_app(args)


def cmd_report(args: argparse.Namespace) -> int:
    from daemon.reports import period as periods

    app = _open(args)
    try:
        now = app.clock()
        zone = app.settings.organization.timezone
        today = now.astimezone(app.settings.organization.zone).date()
        with app.sessions() as session:
            if args.report_command == "quarterly":
                from daemon.reports.files import quarterly_files, write_files
                from daemon.reports.quarterly import build

                figures = build(session, app.settings, periods.parse_quarter(args.quarter, today, zone), now,
                                tenant=app.tenant)
                for path in write_files(quarterly_files(figures), args.output):
                    print(path)
                print()
                from daemon.reports.summary import summary_text

                print(summary_text(figures), end="")
                return 0
            from daemon.reports.problems import build_problems, problems_filename, problems_text, problems_xlsx

            report = build_problems(session, app.settings, periods.parse_month(args.month, today, zone), now,
                                    tenant=app.tenant)
            print(problems_text(report), end="")
            if args.output is not None:
                args.output.mkdir(parents=True, exist_ok=True)
                path = args.output / problems_filename(report)
                path.write_bytes(problems_xlsx(report))
                print(path)
            return 0
    finally:
        app.close()


def cmd_contacts(args: argparse.Namespace) -> int:
    from daemon.reports import contacts

    app = _open(args)
    try:
        if args.contacts_command == "show":
            from daemon.db.models import KeyValue

            with app.sessions() as session:
                row = session.get(KeyValue, (contacts.KEY, app.tenant))
                print(json.dumps(row.value if row else None, ensure_ascii=False, indent=2))
            return 0
        result = contacts.notify(app) if args.contacts_command == "notify" else contacts.check_contacts(app)
        if result.notified_to:
            print(f"notice to the ЦУР enqueued for {', '.join(result.notified_to)}")
        elif result.first:
            print("contact officials recorded (first run): no notice sent; use `curmail contacts notify` to send one")
        elif args.contacts_command == "notify" or result.changed:
            print("no notice: [cur] addresses is empty")
            return 1
        else:
            print("contact officials unchanged: no notice")
        for line in result.changes:
            print(f"  {line}")
        return 0
    finally:
        app.close()


def cmd_retention(args: argparse.Namespace) -> int:
    from daemon.reports.retention import run_retention

    app = _open(args)
    try:
        report = run_retention(app, dry_run=args.dry_run, limit=10**9 if args.dry_run else 200)
        verb = "would delete" if args.dry_run else "deleted"
        print(f"cases closed before {report.cutoff:%Y-%m-%d}: {len(report.cases)} ({verb} mail and personal data)")
        for item in report.cases:
            print(f"  #{item.case_id} {item.kind} closed {item.closed_at:%Y-%m-%d}: {item.messages} messages"
                  f" ({item.message_bytes} bytes), {item.letters} letters")
        print(f"unthreaded messages stored before the cutoff: {report.loose_messages}")
        print(f"letters of no case created before the cutoff: {report.loose_letters}")
        print(f"automatic-answer counters per address last updated before the cutoff: {report.counters}")
        return 0
    finally:
        app.close()
