"""SQLModel tables and the queries over them. Knows nothing of email."""
