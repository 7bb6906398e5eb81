"""An example third-party rankkit plugin (installed into the test environment)."""
