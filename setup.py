"""Shim for Apache Beam's ``--setup_file``, which stages the project by pointing at a setup.py.

Everything about the package (metadata, dependencies, extras, entry points) is in
pyproject.toml; this file only hands over to setuptools, which reads it from there.
"""

from setuptools import setup

setup()
