"""What the soak measured, from the job's state (soak_job) and the injected faults (soak_faults):
per fault its outcome and times, per class the counts and percentiles, and the totals.

Times, all on this machine's CLOCK_REALTIME (the coordinator's log stamps have ms resolution):
  detection  injection -> the coordinator's verdict on a victim ("epoch E revoked: rank R ...
             pid P failed (REASON)"); for a hung caller from the moment its sleep began
  recovery   that verdict -> the next epoch without the victim installed on every member that
             printed it (its slowest member)
  rejoin     a restarted process's init -> admitted (weft_comm_init_env returned as a joiner)
  back       injection -> the victim's restarted process admitted (the job whole again)"""
import json

from soak_faults import COORD_CLASSES, NET_CLASSES, RANK_CLASSES


def percentiles(v):
    """p50/p90/p99/max (nearest rank) of v, or None when v is empty."""
    if not v:
        return None
    s = sorted(v)

    def p(q):
        return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))]
    return {"n": len(s), "p50": p(0.50), "p90": p(0.90), "p99": p(0.99), "max": s[-1]}


def _recovery_epoch(job, epoch, gone):
    """The first epoch after `epoch` whose members lack every (rank, inc) in gone: (epoch, the
    latest install time its members printed) or None."""
    for e in sorted(k for k in job.members if k > epoch):
        mem = job.members[e]
        if all(mem.get(r, (None,))[0] != inc for r, inc in gone):
            times = [t for _, t in mem.values() if t is not None]
            return (e, max(times)) if times else None
    return None


def analyse_fault(job, f):
    pids = {p: (r, inc) for r, inc, p in f.victims}
    t_stop = f.t_closed if f.t_closed is not None else float("inf")
    if f.cls in COORD_CLASSES:
        hits = [v for v in job.verdicts if f.t0 - 0.05 <= v[0] <= t_stop]
    else:
        hits = [v for v in job.verdicts if v[3] in pids and f.t0 - 0.05 <= v[0] <= t_stop]
    res = {"id": f.fid, "class": f.cls, "t0": round(f.t0, 3), "victims": f.victims, "params": f.params,
           "evicted": [(v[2], v[3], v[4]) for v in hits], "note": f.note}
    evicted = bool(hits)
    if f.expect_evict is True:
        res["outcome"] = "evicted" if evicted else "MISSED"
    elif f.expect_evict is False:
        res["outcome"] = "UNEXPECTED EVICTION" if evicted else "no eviction"
    else:
        res["outcome"] = "evicted" if evicted else "tolerated"
    if f.cls in COORD_CLASSES + NET_CLASSES:  # they run alone: every error in the window is theirs
        res["errors"] = sum(1 for fl in job.fails if f.t0 <= fl[0] <= t_stop)
    if not evicted or f.cls in COORD_CLASSES:
        return res
    t0 = f.t0
    if f.cls == "hang":
        inc = job.incs.get((f.victims[0][0], f.victims[0][1]))
        if inc is not None and inc.t_hang is not None:
            t0 = inc.t_hang
    first = hits[0]
    res["detection"] = first[0] - t0
    gone = [pids[v[3]] for v in hits if v[3] in pids]
    rec = _recovery_epoch(job, first[1], gone)
    if rec is not None:
        res["recovery"] = max(0.0, rec[1] - first[0])
    rejoin, back, exits = [], [], []
    for r, inc in gone:
        old, new = job.incs.get((r, inc)), job.incs.get((r, inc + 1))
        if old is not None:
            exits.append(old.ended)
        if new is not None and new.t_start is not None:
            rejoin.append(new.t_start - new.t_init)
            back.append(new.t_start - f.t0)
    if rejoin:
        res["rejoin"] = max(rejoin)
        res["back"] = max(back)
    res["exits"] = exits
    return res


def analyse(job, injector, cfg, extra):
    faults = [analyse_fault(job, f) for f in injector.faults]
    # Verdicts no fault explains: a healthy process evicted (load, or a bug).
    explained = set()
    for f, a in zip(injector.faults, faults):
        for v in job.verdicts:
            if (v[2], v[3], v[4]) in [tuple(e) for e in a["evicted"]]:
                explained.add(v)
    # When every rank leaves at the end, the coordinator's notice of one LEAVE to a member that
    # is already gone fails, and it logs that member as CRASH before reading its LEAVE: not a
    # fault, counted apart.
    t_stop = extra.get("t_stop") or float("inf")
    at_exit = [v for v in job.verdicts if v not in explained and v[0] >= t_stop]
    collateral = [v for v in job.verdicts if v not in explained and v[0] < t_stop]
    classes = {}
    for cls in RANK_CLASSES + NET_CLASSES + COORD_CLASSES:
        mine = [a for a in faults if a["class"] == cls]
        if not mine and cls not in cfg.weights:
            continue
        row = {"injected": len(mine), "skipped": injector.skipped.get(cls, 0)}
        for outcome in sorted({a["outcome"] for a in mine}):
            row[outcome] = sum(a["outcome"] == outcome for a in mine)
        for key in ("detection", "recovery", "rejoin", "back"):
            row[key] = percentiles([a[key] for a in mine if key in a])
        if cls in COORD_CLASSES + NET_CLASSES:
            row["errors_seen"] = sum(a.get("errors", 0) for a in mine)
        paths = {}
        for a in mine:
            if a["evicted"] and "detection" in a:
                paths.setdefault(a["evicted"][0][2], []).append(a["detection"])
        row["paths"] = {reason: percentiles(v) for reason, v in sorted(paths.items())}
        exits = [e for a in mine for e in a.get("exits", [])]
        if exits:
            row["exits"] = {e: exits.count(e) for e in sorted(set(map(str, exits)))}
        classes[cls] = row
    reasons = {}
    for v in job.verdicts:
        reasons[v[4]] = reasons.get(v[4], 0) + 1
    done = [inc.done for inc in job.current.values() if inc.done]
    totals = {
        "faults": len(faults),
        "steps": max((d["step"] for d in done), default=job.max_step),
        "results_checked": sum(inc.ok for inc in job.incs.values()),
        "wrong_results": len(job.wrong),
        "failed_calls": len(job.fails),
        "epochs": job.latest_epoch,
        "processes": len(job.incs),
        "restarts": sum(1 for (r, inc) in job.incs if inc > 0),
        "verdicts": reasons,
        "collateral_evictions": len(collateral),
        "crash_verdicts_at_exit": len(at_exit),
        "coordinator_deaths": ["%.3f %s" % d for d in job.coord_deaths],
        "missed": sum(a["outcome"] == "MISSED" for a in faults),
        "unexpected_evictions": sum(a["outcome"] == "UNEXPECTED EVICTION" for a in faults),
        "not_recovered": sum(bool(a["note"]) for a in faults),
    }
    totals.update(extra)
    return {"config": vars(cfg) if not isinstance(cfg, dict) else cfg, "totals": totals, "classes": classes,
            "collateral": [{"t": round(v[0], 3), "epoch": v[1], "rank": v[2], "pid": v[3], "reason": v[4],
                            "why": v[5]} for v in collateral],
            "wrong": [{"rank": r, "inc": i, "event": e} for r, i, e in job.wrong],
            "faults": faults}


def _ms(p):
    if p is None:
        return "-"
    return "%.0f/%.0f/%.0f/%.0f" % (1000 * p["p50"], 1000 * p["p90"], 1000 * p["p99"], 1000 * p["max"])


def table(summary):
    """The human table: one row per class, then the totals. "unexpected": a fault that had to
    evict and did not (MISSED), or had to leave its victim alone and evicted it."""
    fmt = "%-17s %8s %7s %7s %10s %7s  %-24s %-24s %-24s"
    out = [fmt % ("class", "injected", "evicted", "not", "unexpected", "skipped",
                  "detection ms p50/90/99/max", "recovery ms p50/90/99/max", "back ms p50/90/99/max")]
    for cls, row in summary["classes"].items():
        bad = row.get("MISSED", 0) + row.get("UNEXPECTED EVICTION", 0)
        ev = row.get("evicted", 0) + row.get("UNEXPECTED EVICTION", 0)
        out.append(fmt % (cls, row["injected"], ev, row["injected"] - ev, bad, row["skipped"],
                          _ms(row["detection"]), _ms(row["recovery"]), _ms(row["back"])))
    out += ["", "detection by the verdict that came first (class, reason: count, ms p50/90/99/max)"]
    for cls, row in summary["classes"].items():
        for reason, p in row.get("paths", {}).items():
            out.append("  %-17s %-16s %5d  %s" % (cls, reason, p["n"], _ms(p)))
    t = summary["totals"]
    out.append("")
    for k in ("faults", "steps", "results_checked", "wrong_results", "hangs", "failed_calls", "epochs",
              "processes", "restarts", "verdicts", "collateral_evictions", "crash_verdicts_at_exit", "coordinator_deaths", "missed", "unexpected_evictions",
              "not_recovered", "leftover_processes", "leftover_shm", "final", "weftrun_exit", "minutes"):
        if k in t:
            out.append("  %-22s %s" % (k, json.dumps(t[k]) if isinstance(t[k], (dict, list)) else t[k]))
    return "\n".join(out)


def markdown(summary):
    """The per-class table as markdown (docs/FAULT_TOLERANCE.md, "Chaos soak")."""
    def ms(p):
        return "—" if p is None else "%s / %s / %s / %s" % tuple(_fmt_s(p[k]) for k in ("p50", "p90", "p99", "max"))
    out = ["| class | injected | evicted | not evicted | unexpected | detection p50 / p90 / p99 / max | "
           "recovery p50 / p90 / p99 / max | back p50 / p90 / p99 / max |",
           "|---|---|---|---|---|---|---|---|"]
    for cls, row in summary["classes"].items():
        bad = row.get("MISSED", 0) + row.get("UNEXPECTED EVICTION", 0)
        ev = row.get("evicted", 0) + row.get("UNEXPECTED EVICTION", 0)
        out.append("| `%s` | %d | %d | %d | %d | %s | %s | %s |" % (
            cls, row["injected"], ev, row["injected"] - ev, bad, ms(row["detection"]), ms(row["recovery"]),
            ms(row["back"])))
    out += ["", "| class | first verdict | count | detection p50 / p90 / p99 / max |", "|---|---|---|---|"]
    for cls, row in summary["classes"].items():
        for reason, p in row.get("paths", {}).items():
            out.append("| `%s` | %s | %d | %s |" % (cls, reason, p["n"], ms(p)))
    return "\n".join(out)


def _fmt_s(x):
    return "%.0f ms" % (1000 * x) if x < 1 else "%.2f s" % x


if __name__ == "__main__":
    import sys
    with open(sys.argv[1]) as f:
        print(markdown(json.load(f)))
