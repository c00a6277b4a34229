"""REDIS_URL read: one server or a list of sentinels, what Celery is given, and what is shown."""

from __future__ import annotations

import pytest

from shiftswitch import redisurl
from shiftswitch.broker import make_celery
from shiftswitch.settings import ConfigError, Settings

SENTINELS = "sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26380;sentinel://10.0.0.3/2"


def test_one_server_is_read_as_it_is() -> None:
    place = redisurl.parse("redis://cache.internal:6380/4")
    assert not place.is_sentinel and place.db == 4 and place.password is None
    assert redisurl.broker_url(place) == "redis://cache.internal:6380/4"
    assert redisurl.transport_options(place) == {}


def test_a_sentinel_list_in_celerys_form() -> None:
    place = redisurl.parse(SENTINELS, "calls", "pw/1", "spw")
    assert place.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379))
    assert (place.master, place.db, place.password, place.sentinel_password) == (
        "calls", 2, "pw/1", "spw",
    )  # fmt: skip
    # kombu reads the primary's password and the database from the first entry
    assert redisurl.broker_url(place) == (
        "sentinel://:pw%2F1@10.0.0.1:26379/2;sentinel://10.0.0.2:26380;sentinel://10.0.0.3:26379"
    )
    options = redisurl.transport_options(place)
    assert options["master_name"] == "calls"
    assert options["sentinel_kwargs"]["password"] == "spw"


def test_the_primarys_name_defaults_to_mymaster_and_a_url_password_is_kept() -> None:
    place = redisurl.parse("sentinel://:inurl@h1:1;sentinel://h2:2", None, "env")
    assert place.master == "mymaster" and place.password == "inurl"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sentinel://127.0.0.1:26392;redis://127.0.0.1:6379", "every entry of a sentinel list"),
        ("redis://a:1;redis://b:2", "only sentinel:// URLs may be listed"),
        ("sentinel://h:port", "port must be a number"),
        ("sentinel://h:99999", "port must be a number"),
        ("sentinel://:26379", "a sentinel without a host"),
        ("http://h:6379", "use redis://HOST:PORT/DB"),
        ("localhost:6379", "use redis://HOST:PORT/DB"),
        ("redis://h:6379/zero", "the database after the last '/' must be a number"),
        ("unix:///run/redis.sock", "a Unix socket cannot carry Celery's broker"),
    ],
)
def test_a_wrong_url_is_one_clear_line(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        Settings.from_env({"REDIS_URL": url})
    assert "\n" not in str(caught.value) and str(caught.value).startswith("REDIS_URL=")


def test_a_master_name_with_spaces_is_refused() -> None:
    with pytest.raises(ConfigError, match="SHIFTSWITCH_REDIS_MASTER"):
        Settings.from_env({"REDIS_URL": SENTINELS, "SHIFTSWITCH_REDIS_MASTER": "my master"})


def test_passwords_are_never_shown() -> None:
    env = {
        "REDIS_URL": "sentinel://:urlsecret@h1:1;sentinel://h2:2",
        "SHIFTSWITCH_REDIS_PASSWORD": "envsecret",
        "SHIFTSWITCH_SENTINEL_PASSWORD": "sentinelsecret",
    }
    settings = Settings.from_env(env)
    place = settings.redis
    for text in (repr(settings), repr(place), redisurl.shown(place)):
        assert "secret" not in text
    assert redisurl.shown(place) == "sentinels h1:1,h2:2 (primary 'mymaster', db 0)"
    assert redisurl.shown_url("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"REDIS_URL": "sentinel://:urlsecret@h1:1;redis://x"})
    assert "urlsecret" not in str(caught.value)


def test_the_broker_is_given_the_sentinels_and_the_primarys_name() -> None:
    settings = Settings.from_env({"REDIS_URL": SENTINELS, "SHIFTSWITCH_REDIS_MASTER": "calls"})
    app = make_celery(settings)
    assert app.conf.broker_url.startswith("sentinel://10.0.0.1:26379/2;")
    options = app.conf.broker_transport_options
    assert options["master_name"] == "calls" and options["visibility_timeout"] == 900.0


def test_ipv6_sentinels_keep_their_brackets_for_celery() -> None:
    place = redisurl.parse("sentinel://[::1]:26379;sentinel://[fd00::2]:26380/1", "m")
    assert place.sentinels == (("::1", 26379), ("fd00::2", 26380))
    assert redisurl.broker_url(place) == "sentinel://[::1]:26379/1;sentinel://[fd00::2]:26380"
    assert redisurl.shown(place) == "sentinels [::1]:26379,[fd00::2]:26380 (primary 'm', db 1)"


def test_a_user_in_the_url_and_the_password_from_the_environment_go_together() -> None:
    place = redisurl.parse("redis://ops@cache:6379/3", password="p@ss/1")
    assert redisurl.broker_url(place) == "redis://ops:p%40ss%2F1@cache:6379/3"
    assert redisurl.broker_url(redisurl.parse("redis://cache:6379/3", password="pw")) == (
        "redis://:pw@cache:6379/3"
    )


@pytest.mark.parametrize(
    "url",
    [
        "redis://:pa/ss@host/0",  # an unencoded '/' in the password
        "redis://:p@ss@host/x",  # an unencoded '@'
        "redis://host:6379/0?password=secret1",
    ],
)
def test_a_refused_url_never_shows_its_password(url: str) -> None:
    shown = redisurl.shown_url(url)
    assert "pa/ss" not in shown and "p@ss" not in shown and "secret1" not in shown
