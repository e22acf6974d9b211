"""Threshold, Split, Min. size and Diameter: the controls that say what a nucleus is."""

from __future__ import annotations

from magicgui.widgets import CheckBox, FloatSlider, FloatSpinBox, SpinBox

from .._postprocess import DEFAULT_MIN_SIZE, DEFAULT_THRESHOLD


class LabelControls:
    """Threshold, split and minimum size (a re-label only) and the nucleus diameter (a new run).

    ``widgets`` lists them in that order, as the dock shows them.
    """

    def __init__(self) -> None:
        self.threshold = FloatSlider(
            label="Threshold", min=0.0, max=1.0, step=0.01, value=DEFAULT_THRESHOLD
        )
        self.split = CheckBox(text="Split touching nuclei", value=True)
        self.min_size = SpinBox(
            label="Min. size (px)",
            min=0,
            max=1_000_000,
            value=DEFAULT_MIN_SIZE,
            tooltip="Smaller objects are dropped. Pixels of the image; for an image enlarged "
            "over 2x for the network (nuclei under 8 px), of that enlarged grid.",
        )
        self.diameter = FloatSpinBox(
            label="Diameter (px)",
            min=0,
            max=1000,
            step=1,
            value=0,
            tooltip=(
                "Typical nucleus diameter in pixels; 'auto' (0) estimates it from the image. "
                "Type it when 'auto' gets it wrong (very sparse images, dense tissue of small "
                "blurred nuclei) or to keep several images on one scale."
            ),
        )
        self.diameter.native.setSpecialValueText("auto")
        self.widgets = [self.threshold, self.split, self.min_size, self.diameter]

    def settings(self) -> tuple[float, bool, int]:
        """(threshold, split, min_size): what ``Prediction.labels`` takes from the controls."""
        return self.threshold.value, self.split.value, self.min_size.value

    def chosen_diameter(self) -> float | str:
        """The nucleus diameter asked for: pixels, or ``"auto"`` (the spin box at 0)."""
        return float(self.diameter.value) if self.diameter.value > 0 else "auto"
