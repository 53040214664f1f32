"""Test support: real servers (Dovecot, aiosmtpd, PostgreSQL) and corpus access for the suite."""
