"""relance: an accounts-receivable bot that chases unpaid invoices by email and reads the replies."""

__version__ = "0.1.0"
