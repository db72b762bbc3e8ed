"""Training and prediction (torch): datasets, the training loop as a generator, checkpoints."""
