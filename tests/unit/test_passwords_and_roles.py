"""Password hashing, the rules for users' fields and roles, redirect targets, Settings errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from server.auth.sessions import is_local_path
from tasks.data.passwords import hash_password, verify_password
from tasks.data.users import InvalidUser, User, check_email, check_name, check_role
from tasks.settings import INTS, ConfigError, Settings

# -- passwords -------------------------------------------------------------------------------


def test_right_password_verifies() -> None:
    assert verify_password(hash_password("correct horse"), "correct horse")


def test_wrong_password_does_not_verify() -> None:
    assert not verify_password(hash_password("correct horse"), "correct hors")


def test_hash_is_salted_and_never_the_password() -> None:
    first, second = hash_password("same"), hash_password("same")
    assert first != second
    assert "same" not in first
    assert first.startswith("$argon2id$")


def test_empty_password_cannot_be_hashed() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_empty_password_does_not_verify() -> None:
    assert not verify_password(hash_password("secret"), "")


@pytest.mark.parametrize("password", ["", "anything", "jobdeck: no such account"])
def test_missing_hash_never_verifies(password: str) -> None:
    assert not verify_password(None, password)


def test_malformed_hash_does_not_verify_and_does_not_raise() -> None:
    assert not verify_password("not-a-hash", "anything")


# -- users' fields ----------------------------------------------------------------------------


def test_check_email_lowercases_and_strips() -> None:
    assert check_email("  Bob@Example.COM ") == "bob@example.com"


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("bob", "not a valid email"),
        ("bob@example", "not a valid email"),
        ("bob@@example.com", "not a valid email"),
        ("bob smith@example.com", "not a valid email"),
        ("a" * 250 + "@example.com", "longer than 254"),
    ],
)
def test_check_email_refuses_with_reason(email: str, reason: str) -> None:
    with pytest.raises(InvalidUser, match=reason):
        check_email(email)


def test_check_name_collapses_whitespace() -> None:
    assert check_name("  Ada \t  Lovelace ") == "Ada Lovelace"


@pytest.mark.parametrize(("name", "reason"), [("", "empty"), ("  ", "empty"), ("x" * 201, "200")])
def test_check_name_refuses_with_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidUser, match=reason):
        check_name(name)


@pytest.mark.parametrize(
    ("given", "role"),
    [
        ("superadmin", "superadmin"),
        ("power-user", "power_user"),
        ("power_user", "power_user"),
        ("Power User", "power_user"),
        ("user", "user"),
        (" USER ", "user"),
    ],
)
def test_check_role_normalizes(given: str, role: str) -> None:
    assert check_role(given) == role


def test_unknown_role_names_it_and_the_choices() -> None:
    with pytest.raises(InvalidUser) as caught:
        check_role("root")
    assert str(caught.value) == "unknown role 'root': use one of superadmin, power_user, user"


def user(role: str, is_active: bool = True) -> User:
    return User(id=1, email="a@example.com", name="A", role=role, is_active=is_active, created_at=0)


@pytest.mark.parametrize(
    ("role", "may_run_jobs"), [("superadmin", True), ("power_user", True), ("user", False)]
)
def test_may_run_jobs_by_role(role: str, may_run_jobs: bool) -> None:
    assert user(role).may_run_jobs is may_run_jobs


@pytest.mark.parametrize("role", ["superadmin", "power_user", "user"])
def test_inactive_user_may_not_run_jobs(role: str) -> None:
    assert user(role, is_active=False).may_run_jobs is False


def test_only_superadmin_is_superadmin() -> None:
    assert user("superadmin").is_superadmin
    assert not user("power_user").is_superadmin


# -- redirect targets after sign-in -----------------------------------------------------------


@pytest.mark.parametrize("target", ["/admin", "/admin/background-jobs?tab=mine", "/"])
def test_local_paths_are_allowed(target: str) -> None:
    assert is_local_path(target)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "//evil.com/admin",
        "/\\evil",
        "\\\\evil",
        "http://x",
        "https://evil.com/admin",
        "javascript:alert(1)",
        "javascript:",
        "admin",
        "",
        "/admin\r\nSet-Cookie: x=1",
        "/\tevil",
    ],
)
def test_other_targets_are_refused(target: str) -> None:
    assert not is_local_path(target)


# -- Settings from the environment ------------------------------------------------------------


def environ(tmp_path: Path, **overrides: str) -> dict[str, str]:
    base = {
        "REDIS_URL": "redis://127.0.0.1:6399/0",
        "JOBDECK_VAR": str(tmp_path / "var"),
        "JOBDECK_ENV": "test",
        "SECRET_KEY": "a-secret-key-long-enough",
    }
    return {**base, **overrides}


def test_settings_from_a_good_environment(tmp_path: Path) -> None:
    settings = Settings.from_environ(environ(tmp_path, PORT="8123"))
    assert settings.port == 8123
    assert settings.base_url == "http://127.0.0.1:8123"
    assert not settings.is_https
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'jobdeck.sqlite3'}"


def test_port_not_an_integer_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ(environ(tmp_path, PORT="abc"))
    assert str(caught.value) == "PORT='abc' is not an integer"


@pytest.mark.parametrize("port", ["0", "65536"])
def test_port_out_of_range_names_the_variable(tmp_path: Path, port: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ(environ(tmp_path, PORT=port))
    assert str(caught.value).startswith("PORT=")
    assert port in str(caught.value)


def test_production_without_secret_key_is_refused(tmp_path: Path) -> None:
    env = environ(tmp_path, JOBDECK_ENV="production")
    del env["SECRET_KEY"]
    with pytest.raises(ConfigError, match="SECRET_KEY must be set when JOBDECK_ENV=production"):
        Settings.from_environ(env)
    assert not (tmp_path / "var" / "secret_key").exists()


def test_development_without_secret_key_keeps_one_under_var(tmp_path: Path) -> None:
    env = environ(tmp_path, JOBDECK_ENV="development")
    del env["SECRET_KEY"]
    first = Settings.from_environ(env).secret_key
    assert len(first) >= 32
    assert Settings.from_environ(env).secret_key == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is too short"):
        Settings.from_environ(environ(tmp_path, SECRET_KEY="short"))


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "memcached://x"])
def test_bad_redis_url_scheme_names_the_variable(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=f"REDIS_URL={url!r} must start with one of"):
        Settings.from_environ(environ(tmp_path, REDIS_URL=url))


def test_missing_redis_url_is_refused(tmp_path: Path) -> None:
    env = environ(tmp_path)
    del env["REDIS_URL"]
    with pytest.raises(ConfigError, match="REDIS_URL is not set"):
        Settings.from_environ(env)


def test_unknown_environment_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JOBDECK_ENV='prod'"):
        Settings.from_environ(environ(tmp_path, JOBDECK_ENV="prod"))


def test_https_base_url_is_https(tmp_path: Path) -> None:
    settings = Settings.from_environ(environ(tmp_path, BASE_URL="https://jobs.example.com/"))
    assert settings.is_https
    assert settings.base_url == "https://jobs.example.com"


def test_unset_number_settings_take_their_field_defaults(tmp_path: Path) -> None:
    settings = Settings.from_environ(environ(tmp_path))
    for field in dataclasses.fields(Settings):
        if field.name in INTS:
            assert getattr(settings, field.name) == field.default, field.name


@pytest.mark.parametrize("name", sorted(INTS))
def test_each_number_setting_is_read_from_its_variable_and_bounded(
    tmp_path: Path, name: str
) -> None:
    variable, minimum = INTS[name]
    assert getattr(Settings.from_environ(environ(tmp_path, **{variable: "12345"})), name) == 12345
    with pytest.raises(ConfigError, match=f"{variable}='{minimum - 1}' must be at least"):
        Settings.from_environ(environ(tmp_path, **{variable: str(minimum - 1)}))


def test_import_max_rows_is_a_million_unless_set(tmp_path: Path) -> None:
    assert Settings.from_environ(environ(tmp_path)).import_max_rows == 1_000_000
    assert Settings.from_environ(environ(tmp_path, IMPORT_MAX_ROWS="2000")).import_max_rows == 2000
    with pytest.raises(ConfigError, match="IMPORT_MAX_ROWS='0' must be at least 1"):
        Settings.from_environ(environ(tmp_path, IMPORT_MAX_ROWS="0"))
