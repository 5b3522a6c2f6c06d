"""What every room shares: configuration, logs, private files, the state store and the errors."""
