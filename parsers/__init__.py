"""Pure parsers: raw message bytes in, `parsers.records` out. No database, no I/O."""
