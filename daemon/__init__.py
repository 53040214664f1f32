"""curmail daemon: configuration, storage, IMAP intake, case workflow, outbox, scheduler and CLI."""
