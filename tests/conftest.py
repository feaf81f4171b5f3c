"""Test-wide fixtures: the daemon harness for the PBX tests is a plugin, so any test dir can use it."""

pytest_plugins = ["tests.pbx.daemon_harness"]
