"""kfuzz: a stability harness for module code run against a simulated kernel."""

__version__ = "0.1.0"
