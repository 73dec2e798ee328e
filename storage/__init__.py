"""SQLAlchemy models and the query functions the workflow calls. No other layer writes SQL."""
