"""Tempest's compute API tests, unmodified, against a running cellsv2 behind a real Keystone.

``scripts/tempest`` (``python -m tests.tempest``) builds a tempest 47.0.0 virtualenv the way the
service venvs are built (tests/cloud_services/venvs.py: pinned in tempest-requirements.txt, cached
under ~/.cache/cellsv2/venvs), makes sure Keystone's catalog has the compute endpoint, writes a
tempest.conf for a cloud with no image, network or volume service (config.py says why each
setting is what it is), and runs ``tempest.api.compute.servers`` minus the tests listed, each with
its reason, in exclude-compute-servers.txt. Nothing else is excluded: a test that fails is a
difference from Nova to fix.
"""
