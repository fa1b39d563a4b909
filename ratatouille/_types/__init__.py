"""Types: the type policy, declared types and the casts to what Delta stores, one module per job.

* :mod:`._policy`: how a new batch meets its table's schema (:func:`reconcile`, :func:`wider`;
  the policy's table is in that module's docstring);
* :mod:`._declared`: a declared ``type:`` read as a Polars dtype (:func:`parse_type`);
* :mod:`._cast`: the type each Polars type is stored as in Delta, and the casts to it.
"""

from __future__ import annotations

from ._cast import DType, F, Frame, _inst, _to, normalize, refuse_unstorable, storable, type_nulls
from ._declared import DeclaredType, declared_types, parse_type, polars_type
from ._policy import (DEFAULT_ON_SCHEMA_CHANGE, ON_SCHEMA_CHANGE, Reconciled, _adds_fields_only, _fits_exactly,
                      explain_narrowing, reconcile, rewrite_frame, wider)

__all__ = ["DEFAULT_ON_SCHEMA_CHANGE", "ON_SCHEMA_CHANGE", "DType", "DeclaredType", "F", "Frame", "Reconciled", "_adds_fields_only",
           "_fits_exactly", "_inst", "_to", "declared_types", "explain_narrowing", "normalize", "parse_type",
           "polars_type", "reconcile", "refuse_unstorable", "rewrite_frame", "storable", "type_nulls", "wider"]
