"""The plain Channels pattern pushapp replaces: one consumer per socket, each in its groups."""
