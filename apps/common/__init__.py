"""Code shared by every app variant: settings, validation, errors, data store, clients."""
