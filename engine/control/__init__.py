"""The operator interface: a NATS micro service named `jetflow` answering on `jetflow.ctl.>`.

`nats micro ls / info / stats` find it; every replica joins the same queue group, so a request is
answered once. Queries read state; commands publish the same command durably (same id) and reply
with its outcome (see `commands`).
"""
