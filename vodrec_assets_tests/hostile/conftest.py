from ..assets.conftest import tiny_source_db  # noqa: F401 - the session's tiny source, shared
