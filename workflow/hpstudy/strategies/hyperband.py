"""Hyperband (Li et al. 2018, JMLR 18(185), Algorithm 1): successive halving in brackets
s = s_max..0, from many configurations trained briefly (s = s_max) to a few trained fully
(s = 0), `iterations` times over. Brackets are independent: their first rungs run side by
side, and each rung waits only for the rung below it. New configurations are random.
The arithmetic and promotions: strategies._halving.
"""

from __future__ import annotations

from hpstudy.strategies._halving import HalvingStrategy


class Hyperband(HalvingStrategy):
    name = "hyperband"
    label = "Hyperband"
    colour = "teal"
    imports = ("numpy", "hpstudy.strategies.hyperband")


STRATEGY = Hyperband
