"""Node metrics become throttle levels, levels become commands, and every replica obeys them."""
