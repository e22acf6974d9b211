"""Keep the dock widget narrow: combo boxes that do not grow, a status line that wraps."""

from __future__ import annotations

from magicgui.widgets import ComboBox, Container, Label
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QComboBox, QScrollArea, QSizePolicy

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


def full_width_texts(container: Container) -> None:
    """Give every text line (status lines, section titles) the whole width of the dock.

    The container keeps a column for its controls' names; a text has no name, so its column
    is hidden and the text wraps over the full width instead of a narrow strip.
    """
    for widget in container:
        row = widget._labeled_widget() if isinstance(widget, Label) else None
        if row is not None and not widget.label:
            row._label_widget.visible = False


class ScrollFit(QObject):
    """Keeps a scroll area as narrow as the controls inside it, plus its scroll bar.

    magicgui sets the area's minimum width as each control is added, before the combo boxes
    are narrowed (and Qt updates their size hints only once they are shown): a long layer name
    would widen the dock. The width is set again whenever the controls' layout changes.
    """

    def __init__(self, area: QScrollArea) -> None:
        super().__init__(area)
        self._area = area
        area.widget().installEventFilter(self)
        self.fit()

    def fit(self) -> None:
        """The controls' minimum width and the scroll bar's."""
        bar = self._area.verticalScrollBar().sizeHint().width()
        self._area.setMinimumWidth(self._area.widget().minimumSizeHint().width() + bar)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.LayoutRequest:
            self.fit()
        return False
