"""ajam: the Asterisk Manager Interface over HTTP (AJAM) and TCP (AMI) behind one API."""

__version__ = "0.1.0"
