"""The kiosk page on the village hall's own screen, served by the edge agent."""

from devices.kiosk.app import create_kiosk_app

__all__ = ["create_kiosk_app"]
