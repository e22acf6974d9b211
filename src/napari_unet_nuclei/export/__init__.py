"""bioimage.io packages of a model: the package, its rdf.yaml and the files beside it."""

from .package import export_bioimageio

__all__ = ["export_bioimageio"]
