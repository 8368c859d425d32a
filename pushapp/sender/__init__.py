"""How any process pushes: the plans of sends and their ops, the one carrier that takes them to the layer
(and its one retry policy), requests to hubs."""
