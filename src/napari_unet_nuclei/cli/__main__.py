"""``python -m napari_unet_nuclei.cli``: the same as the ``napari-unet-nuclei`` command."""

import sys

from .app import main

sys.exit(main())
