"""A synthetic city: deliveries of the six demo sources for any size, seed and peildatum;
and synthetic regions and the country, many municipalities at once (``country``)."""

from udc.sources.synthetic.city import SOURCES, generate_city, generate_frames, write_deliveries

__all__ = ["SOURCES", "generate_city", "generate_frames", "write_deliveries"]
