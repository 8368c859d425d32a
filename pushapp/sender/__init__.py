"""How any process pushes: operations, the carriers that take them to the layer, requests to hubs."""
