"""What the PyTorch step benchmarks (global_ref.py, lrc_ref.py) share: the
rate of a step, and the report of the better memory layout."""
import time


def best_rate(step, B, steps, reps):
    """Pairs per second of step(): one warm-up call, then the best of reps
    runs of steps calls, each call B pairs."""
    step()
    best = 0
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = max(best, B * steps / (time.perf_counter() - t0))
    return best


def report_layouts(results):
    """results: (pairs per second, layout name) for each layout tried;
    prints the best and every layout's rate, as bench/*.sh read them."""
    best, layout = max(results)
    print("pairs_per_s %.3f" % best)
    print("layout %s (%s)" % (layout, ", ".join("%s %.3f" % (l, r) for r, l in results)))
