"""Twisted at the edge: the client protocol and server, four-letter words, configuration, process policy."""
