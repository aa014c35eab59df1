"""Backup and restore of a hub: database snapshot, data directory files
(recordings, evidence, keys) and configuration, and the scheduled backups.

`branchlive backup` / `branchlive restore` (hub/backup/cli.py) and the
hub's scheduler (hub/backup/schedule.py) share hub/backup/snapshot.py."""
