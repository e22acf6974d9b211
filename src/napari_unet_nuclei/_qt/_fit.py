"""Keep the dock widget narrow: combo boxes that do not grow, a status line that wraps."""

from __future__ import annotations

from magicgui.widgets import ComboBox, Label
from qtpy.QtWidgets import QComboBox, QSizePolicy

MAX_WIDTH = 340  # px: the dock widget's minimum width stays within this
COMBO_CHARS = 12  # a long layer or model name is cut in the closed combo box, not the dock


def narrow_combo(combo: ComboBox) -> None:
    """Size ``combo`` for about ``COMBO_CHARS`` characters; its list still shows whole names."""
    native = combo.native
    native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    native.setMinimumContentsLength(COMBO_CHARS)
    native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)


class StatusLine(Label):
    """A status line that wraps instead of widening the dock; its full text is its tooltip."""

    def __init__(self, value: str) -> None:
        super().__init__(value=value)
        self.native.setWordWrap(True)
        self.native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.native.setToolTip(value)

    @property
    def value(self) -> str:
        """The text shown."""
        return super().value

    @value.setter
    def value(self, text: str) -> None:
        Label.value.fset(self, text)
        self.native.setToolTip(str(text))
