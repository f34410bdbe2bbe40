"""Schema families per resource: what a client may send, what is stored, what is returned."""
