"""Seeds derived from the study seed, so that every random choice traces back to config."""

import hashlib

# hyperopt and numpy's legacy RandomState take seeds below 2**32; stay below 2**31 so that
# the same value is also valid for TensorFlow's and scikit-learn's int32 seeds.
_SEED_MODULUS = 2**31 - 1


def derive_seed(*parts: object) -> int:
    """A stable seed from any parts (study seed, strategy name, trial id, fold, ...).

    Stable across processes and machines (sha256, not Python's salted hash()), so a proposal
    made in a fresh process equals one made earlier.
    """
    text = "\x1f".join(str(part) for part in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % _SEED_MODULUS
