"""The bottom layer: the config type and every on-disk contract between the steps (artifact
layouts, signature and output names, the blessing, the model registry).

Everything else imports it; it imports nothing of the project's. The serving environment
installs it too (contracts/pyproject.toml), for the registry layout and the signature names.
"""
