"""The bundled weights and their model card, installed as ``napari_unet_nuclei.weights``."""
