"""Transform kinds: SQL, Python and ingest, as small explicit classes."""

from ._base import BrokenTransform, BuildContext, Transform
from ._config import ColumnSpec, SqlTestSpec, TransformConfig
from .ingest import IngestTransform
from .python import PythonTransform, transform
from .sql import SQLTransform

__all__ = ["BrokenTransform", "BuildContext", "ColumnSpec", "IngestTransform", "PythonTransform", "SQLTransform", "SqlTestSpec",
           "Transform", "TransformConfig", "transform"]
