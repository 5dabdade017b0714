#!/usr/bin/env python3
"""Writes schedules.json: the learning rate of every step of PyTorch's schedulers, for
tests/test_callbacks.cpp to compare tinydl's schedules with. Run with Debian's python3-torch:

    /usr/bin/python3 tests/reference/make_schedules.py > tests/reference/schedules.json
"""
import json

import torch


def rates(make_scheduler, steps, lr):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(optimizer)
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


cases = []
for total, max_lr, pct_start, div, final_div in [(100, 0.01, 0.3, 25.0, 1e4), (37, 0.5, 0.25, 10.0, 100.0)]:
    cases.append({
        "schedule": "one_cycle", "total_steps": total, "max_lr": max_lr, "pct_start": pct_start,
        "div_factor": div, "final_div_factor": final_div,
        "rates": rates(lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=max_lr, total_steps=total, pct_start=pct_start, div_factor=div,
            final_div_factor=final_div, cycle_momentum=False), total, max_lr),
    })
# StepLR steps once per epoch: one entry per epoch
cases.append({
    "schedule": "step_decay", "epochs": 10, "every": 3, "gamma": 0.5, "base_lr": 0.2,
    "rates": rates(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10, 0.2),
})
print(json.dumps({"producer": f"PyTorch {torch.__version__}", "cases": cases}, indent=1))
