"""Media transports and codecs: how call audio gets between Asterisk and the bot."""
