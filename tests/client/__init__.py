"""Tests of supervisor/client/: the Python API an application calls."""
