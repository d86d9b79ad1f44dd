# The only thing pyproject.toml cannot say: build the cffi C atomics at install time.
from setuptools import setup

setup(cffi_modules=["engine/atomics_build.py:ffibuilder"])
