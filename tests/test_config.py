"""Settings: text and sequence overrides are parsed as the environment is."""
from __future__ import annotations


def test_settings_parse_text_overrides_like_the_environment() -> None:
    from os import pathsep

    from prov_common.config import Settings

    env = {"TDPROV_STRICT": "yes", "TDPROV_TRUSTED_KEYS": f"a.pub{pathsep}b.pub"}
    assert Settings.from_env(env).strict is True
    assert Settings.from_env(env).trusted_keys == ("a.pub", "b.pub")
    given = Settings.from_env({}, strict="On", trusted_keys=f"x.pub{pathsep}{pathsep}y.pub")
    assert given.strict is True and given.trusted_keys == ("x.pub", "y.pub")
    assert Settings.from_env({}, strict="0", trusted_keys=["k.pub"]).strict is False
    assert Settings.from_env({}, trusted_keys=["k.pub"]).trusted_keys == ("k.pub",)


def test_a_flag_that_is_no_yes_or_no_is_off_and_said(caplog) -> None:
    """TDPROV_STRICT=maybe (a typo) is off, as before, but no longer silently."""
    import logging

    from prov_common.config import WARNED, Settings

    WARNED.clear()
    with caplog.at_level(logging.WARNING):
        assert Settings.from_env({"TDPROV_STRICT": "maybe"}).strict is False
        assert Settings.from_env({"TDPROV_STRICT": "maybe"}).strict is False  # settings are read often: said once
    assert caplog.text.count("TDPROV_STRICT='maybe' is not a yes/no value") == 1, caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert Settings.from_env({"TDPROV_STRICT": "Off"}).strict is False and Settings.from_env({"TDPROV_STRICT": "YES"}).strict
    assert caplog.text == ""


def test_a_flag_that_is_no_yes_or_no_keeps_its_default_and_names_the_setting(caplog) -> None:
    """A typo must not turn on an option that is off by default, nor off one that is on by default."""
    import logging

    from prov_common.config import WARNED, flag

    WARNED.clear()
    with caplog.at_level(logging.WARNING):
        assert flag("flase", "[tdprov] listener_enabled", default=True) is True
        assert flag("ture", "tdprov/raw_samples") is False
        assert flag("ja", "transport option 'strict'", default=None) is None
    assert "[tdprov] listener_enabled='flase' is not a yes/no value" in caplog.text and "taken as on" in caplog.text
    assert "tdprov/raw_samples='ture'" in caplog.text and "taken as off" in caplog.text
    assert "transport option 'strict'='ja'" in caplog.text
    assert flag("", "x", default=True) is False  # nothing is off, as documented


def test_transport_strict_typo_names_the_option(caplog) -> None:
    import logging

    from prov_common.bundle.transport import ProvenanceConfig
    from prov_common.config import WARNED

    WARNED.clear()
    with caplog.at_level(logging.WARNING):
        assert ProvenanceConfig.from_dict({"strict": "ja"}).strict is None  # the configuration's default applies
    assert "transport option 'strict'='ja'" in caplog.text


def test_store_and_transport_timeouts_must_be_finite() -> None:
    import pytest

    from prov_common.bundle.transport import ProvenanceConfig
    from prov_common.errors import BadInputError
    from prov_common.store.s3 import S3Options

    for value in ("nan", "inf", "1e400"):
        with pytest.raises(BadInputError, match="TDPROV_STORE_READ_TIMEOUT"):
            S3Options.from_env({"TDPROV_STORE_READ_TIMEOUT": value})
        with pytest.raises(BadInputError, match="transport option timeout"):
            ProvenanceConfig.from_dict({"timeout": value})
    with pytest.raises(BadInputError, match="transport option timeout"):
        ProvenanceConfig.from_dict({"timeout": -1})
    assert ProvenanceConfig.from_dict({"timeout": "2.5"}).timeout == 2.5


def test_unknown_keys_are_named_with_the_closest_known_one(caplog) -> None:
    import logging

    from prov_common.config import Settings, unknown_keys

    with caplog.at_level(logging.WARNING):
        assert unknown_keys({"stroe": 1, "spool": 2}, ("store", "spool"), "the test options") == ["stroe"]
        Settings.from_env({"TDPROV_STOR": "/x", "TDPROV_STORE": "/y", "TDPROV_HOME": "/h"})
    assert "unknown key 'stroe' in the test options (did you mean 'store'?)" in caplog.text
    assert "unknown key 'TDPROV_STOR' in the environment (did you mean 'TDPROV_STORE'?)" in caplog.text
    assert "TDPROV_HOME" not in caplog.text


def test_unknown_transport_options_are_named(caplog) -> None:
    import logging

    from prov_common.bundle.transport import ProvenanceConfig

    with caplog.at_level(logging.WARNING):
        ProvenanceConfig.from_dict({"type": "tdprov", "stroe": "/s1", "timeout": 3})
    assert "unknown key 'stroe' in the ProvenanceTransport options (did you mean 'store'?)" in caplog.text
    assert "'type'" not in caplog.text and "'timeout'" not in caplog.text


def test_witness_places_are_split_at_commas_only(caplog, tmp_path) -> None:
    """A witness folder with a space is one place, not two (one of them relative to the working directory)."""
    import logging

    from prov_common.config import Settings

    places = f"{tmp_path}/my witness , s3://b/w,"
    assert Settings.from_env({"TDPROV_WITNESS": places}).witnesses == (f"{tmp_path}/my witness", "s3://b/w")
    assert Settings.from_env({}, witnesses=f"{tmp_path}/a b").witnesses == (f"{tmp_path}/a b",)
    caplog.clear()
    with caplog.at_level("WARNING", logger="prov_common"):  # the form earlier versions read: still several, said once
        assert Settings.from_env({"TDPROV_WITNESS": "/srv/w1 s3://audit/w"}).witnesses == ("/srv/w1", "s3://audit/w")
    assert "separated by spaces" in caplog.text and "commas" in caplog.text
    (tmp_path / "w1 w2").mkdir()
    assert Settings.from_env({"TDPROV_WITNESS": f"{tmp_path}/w1 w2"}).witnesses == (f"{tmp_path}/w1 w2",)  # an existing folder
    with caplog.at_level(logging.WARNING):
        assert Settings.from_env({"TDPROV_WITNESS": "relative/place"}).witnesses == ("relative/place",)
    assert "witness place 'relative/place' is relative" in caplog.text


def test_path_settings_are_stripped() -> None:
    """A path read from a secret file keeps its trailing newline; the folder must not be named ``store\\n``."""
    from prov_common.config import Settings

    settings = Settings.from_env({"TDPROV_STORE": "/data/store\n", "TDPROV_SIGNING_KEY": " /k/a.key ",
                                  "TDPROV_SPOOL": "/spool\n", "TDPROV_ISSUER": " Example Org\n", "TDPROV_TRUSTED_KEYS": " /k/a.pub\n"})
    assert (settings.store, settings.signing_key, settings.spool, settings.issuer, settings.trusted_keys) == \
        ("/data/store", "/k/a.key", "/spool", "Example Org", ("/k/a.pub",))
    assert Settings.from_env({"TDPROV_STORE": " \n"}).store == "./.tdprov"
    assert Settings.from_env({}, store="/s\n").store == "/s"


def test_the_exit_bound_is_a_setting_named_when_it_is_no_number(caplog) -> None:
    """TDPROV_EXIT_TIMEOUT bounds how long a process's exit waits for its writes (a module constant before, which only
    code could change); it is a known key, and a value that is no number above 0 is named and the default taken (it is
    read as the process ends, where nothing may fail)."""
    import logging

    from prov_common.config import Settings, exit_timeout

    with caplog.at_level(logging.WARNING):
        Settings.from_env({"TDPROV_EXIT_TIMEOUT": "5"})
        assert exit_timeout({"TDPROV_EXIT_TIMEOUT": "2.5"}) == 2.5 and exit_timeout({}) == 60.0
        assert exit_timeout({"TDPROV_EXIT_TIMEOUT": "-1"}) == exit_timeout({"TDPROV_EXIT_TIMEOUT": "soon"}) == 60.0
    assert "unknown key" not in caplog.text
    assert ("TDPROV_EXIT_TIMEOUT='soon' is not a number of seconds above 0: taken as 60s (its default). Fix: set it to "
            "e.g. 60") in caplog.text and "TDPROV_EXIT_TIMEOUT='-1'" in caplog.text
