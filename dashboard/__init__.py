"""The operators' web pages (wall, branch view, playback, supervision).

Static files only; this module exists so the pages install as package data
and the hub finds them with importlib.resources (hub/app.py), wherever the
package is installed."""
