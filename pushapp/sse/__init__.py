"""The SSE transport (docs/sse.md): a push connection as a ``text/event-stream`` response, for networks
that let no WebSocket through. The same consumer, hub, limits and close codes as a WebSocket; only the
wire differs. :mod:`.tickets` turns a token into a one-time ticket, :mod:`.views` is the ticket endpoint,
:mod:`.app` the ASGI application of the stream and of the client frames POSTed to it."""
