"""Packages: all of ``src/``, plus ``napari_unet_nuclei.weights`` read from ``weights/``.

The rest of the metadata is in ``setup.cfg``; the version comes from git tags (setuptools-scm).
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages("src"), "napari_unet_nuclei.weights"])
