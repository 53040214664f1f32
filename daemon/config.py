"""The TOML configuration: a pydantic model of every key, loading, and one clear error per bad file."""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from daemon.durations import Duration
from daemon.errors import ConfigError

T = TypeVar("T")
ENV_CONFIG = "CURMAIL_CONFIG"
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}$")


def _email(value: str) -> str:
    value = value.strip()
    if not _EMAIL.match(value) or ".." in value:
        raise ValueError(f"«{value}» is not an e-mail address (expected name@domain)")
    return value.lower()


def _domain(value: str) -> str:
    value = value.strip().lower().lstrip("@")
    if not re.match(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$", value):
        raise ValueError(f"«{value}» is not a domain name")
    return value


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    return Duration.parse(str(value))


Email = Annotated[str, AfterValidator(_email)]
Domain = Annotated[str, AfterValidator(_domain)]


class _Section(BaseModel):
    """Base for every section: unknown keys are an error, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class _Secret(_Section):
    """A password given inline, in a file (systemd LoadCredential) or in an environment variable."""

    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    password_file: Path | None = None
    password_env: str | None = None

    def resolve_password(self) -> str | None:
        """Read the password now; file and environment are read late so rotation needs only a reload."""
        if self.password is not None:
            return self.password
        if self.password_file is not None:
            path = self.password_file
            # A bare name is a systemd credential: LoadCredential=imap:… puts it in $CREDENTIALS_DIRECTORY.
            credentials = os.environ.get("CREDENTIALS_DIRECTORY")
            if not path.is_absolute() and credentials:
                path = Path(credentials) / path
            try:
                return path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(f"cannot read password_file {path}: {exc.strerror}") from exc
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(f"environment variable {self.password_env} (password_env) is not set")
            return value
        return None

    def _count_sources(self) -> int:
        return sum(x is not None for x in (self.password, self.password_file, self.password_env))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OrganizationSettings(_Section):
    name: str
    address: Email
    timezone: str = "Europe/Moscow"
    case_tag: str = "CUR"
    old_case_tags: tuple[str, ...] = ()
    short_name: str | None = None  # used in subjects such as «Официальный комментарий администрации …»
    # Right-hand side of our Message-IDs. It must differ from the staff's own mail domain, or staff mail
    # would look like ours and loop protection would swallow it; default: "curmail." + the address domain.
    message_id_domain: str | None = None
    staff_domains: tuple[Domain, ...] | None = None  # default: the domain of `address`

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone «{value}» (expected an IANA name such as Europe/Moscow)") from exc
        return value

    @field_validator("case_tag")
    @classmethod
    def _ascii_tag(cls, value: str) -> str:
        if not _TAG.match(value):
            raise ValueError(f"case_tag «{value}» must be 1-16 ASCII letters/digits, starting with a letter")
        return value.upper()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def id_domain(self) -> str:
        return self.message_id_domain or "curmail." + self.address.split("@", 1)[1]

    @property
    def own_domain(self) -> str:
        return self.address.split("@", 1)[1]


class MailboxSettings(_Secret):
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str
    folder: str = "INBOX"
    timeout_seconds: float = Field(default=60, gt=0)
    processed_action: Literal["keyword", "seen", "move"] = "keyword"
    processed_keyword: str = "$Curmail"
    processed_folder: str = "Curmail/Обработано"
    sent_folder: str | None = None  # None: discover the \Sent special-use folder, else "Sent"
    idle: bool = True
    idle_renew_seconds: int = Field(default=300, ge=10, le=1740)  # RFC 2177: re-issue within 29 minutes
    poll_interval_seconds: int = Field(default=60, ge=1)
    batch_size: int = Field(default=100, ge=1, le=5000)  # two are in memory at once: see the example config
    max_message_bytes: int = Field(default=35 * 1024 * 1024, ge=1024)
    # Several instances: only the holder of this mailbox's lease reads it; another takes over this long
    # after the holder stops renewing (keep it well above timeout_seconds).
    lease_seconds: float = Field(default=120, ge=0.1)

    @model_validator(mode="after")
    def _checks(self) -> MailboxSettings:
        if self._count_sources() == 0:
            raise ValueError("a password is required: set password, password_file or password_env")
        if self._count_sources() > 1:
            raise ValueError("set only one of password, password_file, password_env")
        if self.security == "none" and not _is_loopback(self.host):
            raise ValueError(
                f"security = \"none\" sends the password in clear; it is refused for {self.host}, "
                "which is not a loopback address (use ssl or starttls)"
            )
        return self


class SmtpSettings(_Secret):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["ssl", "starttls", "none"] = "starttls"
    timeout_seconds: float = Field(default=60, gt=0)
    # Retries of a 4xx reply or a dropped connection: Postfix's defaults (minimal/maximal backoff, lifetime).
    retry_min_seconds: int = Field(default=300, ge=1)
    retry_max_seconds: int = Field(default=4000, ge=1)
    retry_lifetime_hours: float = Field(default=120, gt=0)
    batch_size: int = Field(default=100, ge=1, le=10000)  # letters sent over one connection
    claim_lease_seconds: int = Field(default=900, ge=30)  # after this a claim of a silent sender is taken over
    durable_every: int = Field(default=20, ge=1)  # fsync the "sent" marks at least every N letters

    @model_validator(mode="after")
    def _checks(self) -> SmtpSettings:
        if self.username is not None and self._count_sources() == 0:
            raise ValueError("username is set, so a password is required: password, password_file or password_env")
        if self._count_sources() > 1:
            raise ValueError("set only one of password, password_file, password_env")
        if self.security == "none" and self.username is not None and not _is_loopback(self.host):
            raise ValueError(f"security = \"none\" with a password is refused for non-loopback host {self.host}")
        return self


class DatabaseSettings(_Section):
    url: str = "sqlite:////var/lib/curmail/curmail.db"
    auto_migrate: bool = True
    busy_timeout_seconds: float = Field(default=15, gt=0)  # SQLite: how long to wait for a lock
    # PostgreSQL: this installation's own schema, so several organisations share one database server
    # with their cases, staff and mail kept apart (each runs its own curmail with its own config).
    db_schema: str | None = Field(default=None, alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if not (value.startswith("sqlite") or value.startswith("postgresql")):
            raise ValueError("url must start with sqlite:/// or postgresql+psycopg://")
        return value

    @model_validator(mode="after")
    def _schema_needs_postgresql(self) -> DatabaseSettings:
        if self.db_schema and not self.url.startswith("postgresql"):
            raise ValueError("schema applies to PostgreSQL only; with SQLite give each organisation its own file")
        return self


class CurSettings(_Section):
    addresses: tuple[Email, ...] = ()
    domains: tuple[Domain, ...] = ()
    name: str = "ЦУР"


class PressSettings(_Section):
    address: Email = "prpress@gov.mari.ru"


Role = Literal["contact", "responsible", "supervisor", "web_editor"]


class StaffMember(_Section):
    name: str
    email: Email
    position: str = ""
    phone: str = ""
    roles: tuple[Role, ...] = ()
    topics: tuple[str, ...] = ()


class StateSettings(_Section):
    directory: Path = Path("/var/lib/curmail")


class MailSettings(_Section):
    dry_run: bool = False
    dry_run_dir: Path | None = None  # default: <state directory>/outbox-dry-run
    templates_dir: Path | None = None  # operator's templates, searched before the built-in ones


class IntakeSettings(_Section):
    max_attempts: int = Field(default=3, ge=1, le=20)  # Mailman's MAX_BAK_COUNT: then park
    # A poll that finds at least this many new messages parses them in a worker process on another
    # core while the daemon stores and threads (daemon/parseahead.py); 0 turns the worker off.
    parse_worker_from: int = Field(default=100, ge=0)


class CalendarSettingsModel(_Section):
    work_start: time = time(9, 0)
    work_end: time = time(18, 0)
    extra_days_off: tuple[date, ...] = ()  # decrees newer than the installed `holidays`, regional days off
    extra_working_days: tuple[date, ...] = ()
    roll_forward_non_working: bool = True  # a term ending on a day off moves to the next working day


def _durations(values: list[Any]) -> tuple[Duration, ...]:
    return tuple(_duration(v) for v in values)


class DeadlineSettings(_Section):
    refutation_draft: Duration = Duration.parse("3h")
    request_default: Duration = Duration.parse("2wd")
    generic: Duration = Duration.parse("1wd")
    immediate: Duration = Duration.parse("1h")  # «незамедлительно» in a ЦУР request
    appeal: dict[str, Duration] = Field(
        default_factory=lambda: {
            "59fz": Duration.parse("30d"),
            "pos": Duration.parse("8wh"),
            "incident": Duration.parse("24h"),
            "voice": Duration.parse("3wd"),
            "survey": Duration.parse("30d"),
            "internet": Duration.parse("1wd"),
            "other": Duration.parse("30d"),
        }
    )
    max_extension_days: int = Field(default=30, ge=0)

    @field_validator("refutation_draft", "request_default", "generic", "immediate", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Duration:
        return _duration(value)

    @field_validator("appeal", mode="before")
    @classmethod
    def _per_channel(cls, value: Any) -> dict[str, Duration]:
        if not isinstance(value, dict):
            raise ValueError("expected a table of channel = duration")
        return {str(k): _duration(v) for k, v in value.items()}


class ReminderSettings(_Section):
    refutation: tuple[Duration, ...] = _durations(["-60m", "-15m"])
    request: tuple[Duration, ...] = _durations(["-1wd", "-2h"])
    appeal: tuple[Duration, ...] = _durations(["-7wd", "-3wd", "-1wd"])
    generic: tuple[Duration, ...] = _durations(["-2h"])

    @field_validator("*", mode="before")
    @classmethod
    def _offsets(cls, value: Any) -> tuple[Duration, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError("expected a list of offsets such as [\"-60m\", \"-15m\"]")
        return _durations(list(value))


class SecuritySettings(_Section):
    authserv_id: str | None = None  # trust Authentication-Results only with this authserv-id (RFC 8601 §5)
    require_dkim_for_cur: bool = True
    verify_dkim: bool = False  # also verify DKIM signatures of ЦУР approvals directly (dkimpy, live DNS)
    auto_mail_per_address_per_day: int = Field(default=20, ge=1)


CaseKindName = Literal["refutation", "request", "appeal", "generic", "report"]


class DigestSettings(_Section):
    enabled: bool = True
    time: _dt.time = _dt.time(9, 0)  # each working day, in the organisation's time zone


class AckSettings(_Section):
    enabled: bool = True
    kinds: tuple[CaseKindName, ...] = ("refutation", "request", "appeal", "generic")
    cur_appeals: bool = False  # appeals forwarded by the ЦУР: the citizen is not our correspondent


class CalendarInviteSettings(_Section):
    enabled: bool = True


class MetricsSettingsModel(_Section):
    enabled: bool = False  # a Prometheus endpoint; bind it to loopback and scrape through your proxy
    listen: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)


class WorkflowSettings(_Section):
    new_case_for_closed: bool = False  # mail for a closed case opens a new case (else it is attached)


class ReportSettings(_Section):
    repeat_window_days: int = Field(default=365, ge=1)  # an earlier appeal within this makes a repeat (п. 6.3.2)
    problems_top: int = Field(default=10, ge=1)  # rows in the «top problems» tables
    problems_monthly: bool = True  # mail the problems report to supervisors and contact officials each month


class RetentionSettings(_Section):
    years: int = Field(default=5, ge=1)  # 152-ФЗ: mail and personal data are erased this long after closing


class PatternRule(_Section):
    """One classification rule for ЦУР mail; keywords match any word form (lemmas)."""

    kind: Literal["cur_signal", "cur_proposal", "cur_approval", "cur_remarks", "cur_request", "appeal"]
    name: str
    keywords: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    reply_only: bool = False
    ignore: tuple[str, ...] = ()  # regexes blanked out first: «без замечаний» is no remark

    @field_validator("regexes", "ignore")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"regex «{pattern}» does not compile: {exc}") from exc
        return value


class ClassifierSettings(_Section):
    """Overrides of the built-in classification rules; anything left out keeps its default."""

    cur_patterns: tuple[PatternRule, ...] | None = None  # replaces the whole ordered table when given
    appeal_keywords: tuple[str, ...] | None = None
    channel_markers: dict[str, tuple[str, ...]] | None = None  # channel -> regexes
    default_cur_appeal_channel: str = "other"


class Settings(_Section):
    """The whole configuration file."""

    organization: OrganizationSettings
    mailbox: MailboxSettings
    smtp: SmtpSettings
    database: DatabaseSettings = DatabaseSettings()
    cur: CurSettings = CurSettings()
    press: PressSettings = PressSettings()
    staff: tuple[StaffMember, ...] = ()
    state: StateSettings = StateSettings()
    mail: MailSettings = MailSettings()
    intake: IntakeSettings = IntakeSettings()
    calendar: CalendarSettingsModel = CalendarSettingsModel()
    deadlines: DeadlineSettings = DeadlineSettings()
    reminders: ReminderSettings = ReminderSettings()
    security: SecuritySettings = SecuritySettings()
    classifier: ClassifierSettings = ClassifierSettings()
    digest: DigestSettings = DigestSettings()
    acks: AckSettings = AckSettings()
    calendar_invites: CalendarInviteSettings = CalendarInviteSettings()
    workflow: WorkflowSettings = WorkflowSettings()
    metrics: MetricsSettingsModel = MetricsSettingsModel()
    reports: ReportSettings = ReportSettings()
    retention: RetentionSettings = RetentionSettings()
    # Topic taxonomy (п. 10.2): name = keywords matched on lemmas; None keeps the built-in municipal defaults.
    topics: dict[str, tuple[str, ...]] | None = None
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _staff_unique(self) -> Settings:
        seen: set[str] = set()
        for member in self.staff:
            if member.email in seen:
                raise ValueError(f"staff e-mail {member.email} is listed twice")
            seen.add(member.email)
        return self

    def staff_with_role(self, role: str) -> list[StaffMember]:
        return [m for m in self.staff if role in m.roles]

    def staff_by_email(self, email: str) -> StaffMember | None:
        email = email.lower()
        return next((m for m in self.staff if m.email == email), None)

    def is_cur_address(self, email: str) -> bool:
        email = email.lower()
        domain = email.rpartition("@")[2]
        return email in self.cur.addresses or domain in self.cur.domains


def _where(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as the TOML a sysadmin would look for: [mailbox] port."""
    parts = [str(p) for p in loc if not str(p).startswith("function-")]
    if not parts:
        return "(top level)"
    if parts[0] == "staff" and len(parts) > 1 and parts[1].isdigit():
        rest = " ".join(parts[2:])
        return f"[[staff]] #{int(parts[1]) + 1}" + (f" {rest}" if rest else "")
    if len(parts) == 1:
        return f"[{parts[0]}]" if parts[0] in Settings.model_fields else parts[0]
    return f"[{parts[0]}] " + ".".join(parts[1:])


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key (a typo? see config/curmail.example.toml for every key)"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def parse_settings(data: dict[str, Any], source: Path | str = "<config>") -> Settings:
    """Validate a parsed TOML document; raise ConfigError naming file, key and problem."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_where(e['loc'])}: {_describe(e)}" for e in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    return settings.model_copy(update={"source": Path(source)})


def load_settings(path: Path | str | None = None, *, check_secrets: bool = True) -> Settings:
    """Read and validate the configuration from PATH or $CURMAIL_CONFIG.

    `check_secrets=False` is for commands that never log in (cases, db, reports): they then work while
    the service, and with it the systemd credentials, is stopped.
    """
    if path is None:
        path = os.environ.get(ENV_CONFIG)
    if not path:
        raise ConfigError(f"no configuration: pass --config PATH or set {ENV_CONFIG}")
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    settings = parse_settings(data, path)
    if check_secrets:
        # Read the secrets once at load so that a missing credential file stops start-up, not the first poll.
        settings.mailbox.resolve_password()
        settings.smtp.resolve_password()
    return settings


def per_settings(build: Callable[[Settings], T]) -> Callable[[Settings], T]:
    """Cache what is derived from one loaded configuration, keyed by identity (Settings holds dicts).

    A reload creates a new Settings object and so new derived values; the last few are kept.
    """
    cache: dict[int, tuple[Settings, T]] = {}

    def cached(settings: Settings) -> T:
        hit = cache.get(id(settings))
        if hit is None or hit[0] is not settings:
            if len(cache) >= 8:
                cache.clear()
            hit = cache[id(settings)] = (settings, build(settings))
        return hit[1]

    return cached
