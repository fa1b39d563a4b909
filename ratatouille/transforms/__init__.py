"""Transform kinds: SQL, Python and ingest, as small explicit classes."""

from ._base import BuildContext, Transform
from ._config import ColumnSpec, SqlTestSpec, TransformConfig
from .ingest import IngestTransform
from .python import PythonTransform, transform
from .sql import SQLTransform

__all__ = ["BuildContext", "ColumnSpec", "IngestTransform", "PythonTransform", "SQLTransform", "SqlTestSpec",
           "Transform", "TransformConfig", "transform"]
