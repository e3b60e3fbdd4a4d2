"""Old import path of edgeft/config_files.py (the shared config-file reader), kept while
other components still import it from here; new code imports edgeft.config_files."""

from edgeft.config_files import MAX_CONFIG_BYTES, ConfigError, build, describe, read_file, set_dotted

__all__ = ["MAX_CONFIG_BYTES", "ConfigError", "build", "describe", "read_file", "set_dotted"]
