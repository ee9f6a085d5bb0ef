"""Search spaces: the distributions and the Space that names them."""

from evotune.space.distributions import Categorical, Distribution, Float, Int, distribution_from_dict
from evotune.space.space import Params, Space

__all__ = ["Categorical", "Distribution", "Float", "Int", "Params", "Space", "distribution_from_dict"]
