"""docs/configuration.md is generated from the settings models; it must be
regenerated (`python -m branchlive.configdoc`) whenever a setting changes."""

from branchlive.configdoc import OUT, render


def test_configuration_reference_is_current() -> None:
    assert OUT.read_text() == render(), "run: python -m branchlive.configdoc"
