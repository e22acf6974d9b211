"""Stack mode: segment the plane on screen or every plane; what the user is told about it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from magicgui.widgets import CheckBox, ComboBox
from napari.layers import Image
from napari.utils.notifications import show_info

from .._device import device_name
from ._planes import layer_pixels, stack_axes

CURRENT_PLANE, WHOLE_STACK = "Current plane", "Whole stack"


class StackControls:
    """The Stack choice (plane on screen, or every plane) and Link Z, shown where they apply.

    ``chosen()`` gives the image layer they apply to; call ``update`` when it changes.
    """

    def __init__(self, chosen: Callable[[], Image | None]) -> None:
        self.mode = ComboBox(
            label="Stack",
            choices=[CURRENT_PLANE, WHOLE_STACK],
            value=CURRENT_PLANE,
            tooltip="Segment the plane on screen, or every plane.",
        )
        self.link_z = CheckBox(text="Link Z planes (3D nuclei)", value=False)
        self.mode.changed.connect(lambda *_: self.update(chosen()))

    def whole_stack(self, layer: Image | None) -> bool:
        """True when ``layer`` is a stack and the user chose to segment all of its planes."""
        return layer is not None and layer.ndim > 2 and self.mode.value == WHOLE_STACK

    def update(self, layer: Image | None) -> None:
        """Show the Stack choice only for stacks, and Link Z only for Whole stack."""
        self.mode.visible = self.mode.enabled = layer is not None and layer.ndim > 2
        self.link_z.visible = self.link_z.enabled = self.whole_stack(layer)

    def plan(self, layer: Image, settings: dict) -> tuple[object, dict, str]:
        """(pixels, ``NucleusModel.segment`` options, status line) for every plane of ``layer``.

        ``settings`` are the other controls' keyword arguments; a guess of axes is shown.
        """
        axes, status, notice = whole_stack_plan(layer, device_name(settings["device"]))
        if notice:
            show_info(notice)
        return layer_pixels(layer), dict(settings, axes=axes, link_z=self.link_z.value), status


def whole_stack_plan(layer: Image, device: str) -> tuple[str, str, str]:
    """(axes for ``NucleusModel.segment``, status line, a notice or "") for a whole-stack run."""
    axes, note = stack_axes(layer)
    notice = (
        f"'{layer.name}': {note}. If an axis holds channels, split the stack first "
        "(right-click the layer > Split Stack)."
        if note
        else ""
    )
    status = f"Segmenting all planes of '{layer.name}' ({axes}) on {device}…" + (
        f" Note: {note}." if note else ""
    )
    return axes, status, notice


def stack_summary(labels: np.ndarray, seconds: float, device: str) -> str:
    """The status line after a whole-stack run: nuclei, planes, time, device."""
    planes = int(np.prod(labels.shape[:-2]))
    return f"{int(labels.max(initial=0))} nuclei in {planes} planes · {seconds:.1f} s on {device}"
