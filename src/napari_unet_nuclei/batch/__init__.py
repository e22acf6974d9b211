"""Many images, or one too big for memory: folders, reading ahead, cluster tasks, big files.

Every image here still gets its labels from the engine (``NucleusModel.segment``).
"""
