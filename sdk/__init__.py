"""trainyard SDK: the contract between trainers, users and the platform."""

__version__ = "0.1.0"
