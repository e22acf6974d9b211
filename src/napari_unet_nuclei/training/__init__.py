"""Training and scoring: data folders, augmentation, ``train``, fine-tuning, evaluation, metrics."""
