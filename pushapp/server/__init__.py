"""What runs inside the ASGI server process: the consumer, the hub, the sockets."""
