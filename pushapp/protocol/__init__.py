"""The words both sides of the pipe share: client frames, internal layer messages, names. No I/O."""
