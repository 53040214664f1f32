"""Case workflows of the regulation: one explicit state machine per case kind, deadlines and reminders."""
