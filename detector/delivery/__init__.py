"""Delivery from the edge box to the case service, exactly once (docs/delivery.md): the outbox,
the sink that queues hit events and packages in it, and the relay that sends them."""
