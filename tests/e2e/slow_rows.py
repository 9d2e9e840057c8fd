"""A program whose one big list has items slow to show (1 ms per repr), for
the test that a filter over many rows shows progress and stops on Esc."""
import time

import refscope


class Slow:
    def __repr__(self):
        time.sleep(0.001)
        return "<Slow>"


BIG = [Slow() for _ in range(200_000)]
refscope.browse()
