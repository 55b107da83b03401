"""jobdeck's configuration: one frozen `Settings`, read once from the environment.

Both processes build it at start-up (`create_app()` in the web process, the broker set-up in
the worker) and pass it down; nothing else reads `os.environ`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

from tasks.csv_input import MAX_ROWS


class ConfigError(Exception):
    """A variable is missing or malformed; the message names it and the value."""


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _url(environ: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    raw = environ.get(name) or default
    if raw and urlsplit(raw).scheme not in schemes:
        raise ConfigError(f"{name}={raw!r} must start with one of {', '.join(schemes)}")
    return raw


def _secret_key(environ: Mapping[str, str], var_dir: Path, production: bool) -> str:
    explicit = environ.get("SECRET_KEY")
    if explicit:
        if len(explicit) < 16:
            raise ConfigError("SECRET_KEY is too short: use at least 16 characters")
        return explicit
    if production:
        raise ConfigError("SECRET_KEY must be set when JOBDECK_ENV=production")
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        fresh = var_dir / f".secret_key.{secrets.token_hex(4)}"
        fresh.touch(mode=0o600)
        fresh.write_text(secrets.token_urlsafe(48))
        fresh.replace(path)  # atomic: no reader ever sees an empty key
    key = path.read_text().strip()
    if len(key) < 16:
        raise ConfigError(f"{path} holds no usable secret key: remove it to make a new one")
    return key


def _metrics_token(environ: Mapping[str, str]) -> str:
    token = environ.get("METRICS_TOKEN", "")
    if token and len(token) < 16:
        raise ConfigError("METRICS_TOKEN is too short: use at least 16 characters")
    return token


# The whole-number settings: field -> (variable, smallest value allowed); each default is the
# field's own, below.
INTS = {
    "retention_days": ("JOBS_RETENTION_DAYS", 1),
    "progress_interval_ms": ("PROGRESS_INTERVAL_MS", 10),
    "heartbeat_interval_s": ("HEARTBEAT_INTERVAL_S", 1),
    "worker_lost_after_s": ("WORKER_LOST_AFTER_S", 5),
    "hub_tick_ms": ("HUB_TICK_MS", 10),
    "login_attempts_per_minute": ("LOGIN_ATTEMPTS_PER_MINUTE", 1),
    "broker_heartbeat_timeout_ms": ("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", 1000),
    "broker_maintenance_chance": ("DRAMATIQ_MAINTENANCE_CHANCE", 0),
    "db_retry_s": ("DB_RETRY_S", 0),
    "import_max_rows": ("IMPORT_MAX_ROWS", 1),
    "password_checks_at_once": ("PASSWORD_CHECKS_AT_ONCE", 1),
    "sockets_per_session": ("SOCKETS_PER_SESSION", 1),
    "jobs_per_person": ("JOBS_PER_PERSON", 1),
    "job_max_errors": ("JOB_MAX_ERRORS", 1),
    "owner_max_kept_errors": ("OWNER_MAX_KEPT_ERRORS", 1),
    "max_active_jobs_per_user": ("MAX_ACTIVE_JOBS_PER_USER", 1),
}


@dataclass(frozen=True)
class Settings:
    redis_url: str
    database_url: str
    secret_key: str
    smtp_url: str
    base_url: str
    host: str
    port: int
    var_dir: Path
    production: bool
    retention_days: int = 30
    progress_interval_ms: int = 200
    heartbeat_interval_s: int = 2
    worker_lost_after_s: int = 120
    hub_tick_ms: int = 100
    login_attempts_per_minute: int = 10
    mail_from: str = "jobdeck <jobdeck@localhost>"
    broker_heartbeat_timeout_ms: int = 60_000
    broker_maintenance_chance: int = 1000
    db_retry_s: int = 30
    metrics_token: str = ""
    import_max_rows: int = MAX_ROWS
    password_checks_at_once: int = 2
    forwarded_allow_ips: str = ""
    sockets_per_session: int = 20
    jobs_per_person: int = 2
    job_max_errors: int = 10_000
    owner_max_kept_errors: int = 100_000
    max_active_jobs_per_user: int = 10

    @property
    def stalled_after_s(self) -> float:
        """A running job with no heartbeat for this long is shown as stalled (half of
        `worker_lost_after_s`, after which it is failed)."""
        return self.worker_lost_after_s / 2

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def uploads_dir(self) -> Path:
        return self.var_dir / "uploads"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        env = environ.get("JOBDECK_ENV", "development")
        if env not in ("development", "production", "test"):
            raise ConfigError(f"JOBDECK_ENV={env!r} must be development, production or test")
        production = env == "production"
        defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        var_dir = Path(environ.get("JOBDECK_VAR", "var")).resolve()
        port = _int(environ, "PORT", 8000, minimum=1)
        if port > 65535:
            raise ConfigError(f"PORT={environ.get('PORT')!r} must be at most 65535")
        host = environ.get("HOST", "127.0.0.1")
        redis_url = environ.get("REDIS_URL", "")
        if not redis_url:
            raise ConfigError("REDIS_URL is not set (make run starts an embedded Redis for you)")
        _url(environ, "REDIS_URL", "", ("redis", "rediss", "unix"))
        default_db = f"sqlite:///{var_dir / 'jobdeck.sqlite3'}"
        database_url = _url(
            environ, "DATABASE_URL", default_db, ("sqlite", "postgresql", "postgresql+psycopg")
        )
        return cls(
            redis_url=redis_url,
            database_url=database_url,
            secret_key=_secret_key(environ, var_dir, production),
            smtp_url=_url(environ, "SMTP_URL", "", ("smtp", "smtps")),
            base_url=_url(environ, "BASE_URL", f"http://{host}:{port}", ("http", "https")).rstrip(
                "/"
            ),
            host=host,
            port=port,
            var_dir=var_dir,
            production=production,
            **{name: _int(environ, var, defaults[name], low) for name, (var, low) in INTS.items()},
            mail_from=environ.get("MAIL_FROM", defaults["mail_from"]),
            metrics_token=_metrics_token(environ),
            forwarded_allow_ips=environ.get(
                "FORWARDED_ALLOW_IPS", defaults["forwarded_allow_ips"]
            ).strip(),
        )
