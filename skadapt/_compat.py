"""The one place skadapt imports scikit-learn helpers that may move between releases.

Keep every import of a private (underscore) scikit-learn helper here, so that a
scikit-learn release that moves one breaks a single file.
"""

from sklearn.utils._param_validation import Interval, StrOptions  # noqa: F401
from sklearn.utils.validation import (  # noqa: F401
    _check_sample_weight,
    _num_samples,
    check_is_fitted,
    validate_data,
)
from sklearn.utils._param_validation import HasMethods  # noqa: F401,E402
from sklearn.base import _fit_context  # noqa: F401, E402
from sklearn.utils import _safe_indexing  # noqa: F401, E402
from sklearn.utils.validation import _check_feature_names_in  # noqa: E402, F401
from sklearn.pipeline import _name_estimators  # noqa: E402, F401
