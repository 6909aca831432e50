"""Files in and out: embedding loaders, atomic writes (all or none), the one-sweep-a-folder lock, checkpoints."""
