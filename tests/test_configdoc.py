"""docs/configuration.md is generated from the settings models; it must be
regenerated (`python -m branchlive.configdoc`) whenever a setting changes."""

from branchlive.configdoc import OUT, render


def test_configuration_reference_is_current() -> None:
    assert OUT.read_text() == render(), "run: python -m branchlive.configdoc"


def test_an_agent_with_its_defaults_finds_a_hub_with_its_defaults() -> None:
    """A hall PC and a hub set up side by side with nothing configured (a
    county's first try) talk to each other: the agent's default hub URL is
    the hub's default address and port."""
    from urllib.parse import urlsplit

    from devices.config import EdgeSettings
    from hub.config import Settings

    hub = Settings.model_fields
    url = urlsplit(EdgeSettings.model_fields["hub_url"].default)
    assert (url.hostname, url.port) == (hub["host"].default, hub["port"].default)
