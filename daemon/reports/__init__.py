"""Reports and standing obligations: quarterly statistics, problems, repeats, contact notices, retention."""
