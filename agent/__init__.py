"""tagih: an on-premise voice bot for payment-reminder calls through Asterisk."""

__version__ = "0.1.0"
