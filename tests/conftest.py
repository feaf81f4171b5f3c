"""Test-wide fixtures: the daemon harness for the PBX tests is a plugin, usable anywhere."""

pytest_plugins = ["tests.pbx.daemon_harness"]
