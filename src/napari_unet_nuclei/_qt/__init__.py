"""Qt pieces of the "Segment nuclei" dock widget (imported only by ``_widget``)."""
