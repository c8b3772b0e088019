"""One module per backend or wire protocol, all behind the Provider protocol in base.py."""
